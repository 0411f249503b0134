package rush

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// BenchmarkReadPath: the generator's own work on a public answer, each
// beside what it replaced (BENCHMARKS.md, branch mix28): the ghost scan of
// a 500-record storesByGeo body over 26,263 outlets (by8: outletFor's
// 8-byte keys; string: the map of codes alone), a 500-record list page's
// count (scan: pageCount; decode: json.Unmarshal), and an unkept
// 150,000-byte body skipped (discard: bufio's Discard; copy: io.CopyN to
// io.Discard).
func BenchmarkReadPath(b *testing.B) {
	e := &engine{byCode: map[string]*outletState{}, secs: []*second{{}}, start: time.Now()}
	rng := rand.New(rand.NewPCG(1, 1))
	var codes []string
	for len(e.byCode) < 26263 {
		c := fmt.Sprintf("%08d", 10000000+rng.IntN(89999999))
		if e.byCode[c] != nil {
			continue
		}
		o := &outletState{code: c, minStock: 200}
		o.reachedAt[bandPlenty] = time.Now().Add(-time.Hour)
		e.addCode(o)
		codes = append(codes, c)
	}
	var geo strings.Builder
	geo.WriteString(`{"count":500,"stores":[`)
	for i := range 500 {
		if i > 0 {
			geo.WriteByte(',')
		}
		fmt.Fprintf(&geo, `{"addr":"서울특별시 강북구 솔매로 38 (미아동)","code":"%s","created_at":"2020/03/11 08:00:00","lat":37.5,"lng":127.0,"name":"약국","remain_stat":"plenty","stock_at":"2020/03/11 07:00:00","type":"01"}`, codes[rng.IntN(len(codes))])
	}
	geo.WriteString(`]}`)
	body := []byte(geo.String())
	page := []byte(`{"count":500,"page":"1","storeInfos":` + strings.TrimSuffix(strings.TrimPrefix(geo.String(), `{"count":500,"stores":`), "}") + `,"totalCount":26263,"totalPages":53}` + "\n")

	b.Run("ghost/by8", func(b *testing.B) {
		for b.Loop() {
			e.checkGhosts(body, time.Now())
		}
	})
	b.Run("ghost/string", func(b *testing.B) {
		e := &engine{byCode: e.byCode, secs: e.secs, start: e.start} // no byCode8
		for b.Loop() {
			e.checkGhosts(body, time.Now())
		}
	})
	b.Run("count/scan", func(b *testing.B) {
		for b.Loop() {
			if n, ok := pageCount(page); n != 500 || !ok {
				b.Fatal(n, ok)
			}
		}
	})
	b.Run("count/decode", func(b *testing.B) {
		for b.Loop() {
			var p struct {
				Count int `json:"count"`
			}
			if json.Unmarshal(page, &p) != nil || p.Count != 500 {
				b.Fatal(p.Count)
			}
		}
	})
	big := bytes.Repeat([]byte("x"), 150000)
	rd := bytes.NewReader(big)
	br := bufio.NewReaderSize(rd, 32<<10)
	b.Run("skip/discard", func(b *testing.B) {
		for b.Loop() {
			rd.Reset(big)
			br.Reset(rd)
			if _, err := br.Discard(len(big)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("skip/copy", func(b *testing.B) {
		for b.Loop() {
			rd.Reset(big)
			br.Reset(rd)
			if _, err := io.CopyN(io.Discard, br, int64(len(big))); err != nil {
				b.Fatal(err)
			}
		}
	})
}
