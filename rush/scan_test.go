package rush

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestOutletForAsByCode: outletFor finds what byCode[string(code)] finds,
// for codes of every length around 8 bytes, present or not.
func TestOutletForAsByCode(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	code := func() string {
		b := make([]byte, 1+rng.IntN(12))
		for i := range b {
			b[i] = "0123456789AZaz-\x00"[rng.IntN(16)]
		}
		return string(b)
	}
	e := &engine{byCode: map[string]*outletState{}}
	for range 3000 {
		c := code()
		e.addCode(&outletState{code: c})
	}
	for range 20000 {
		c := code()
		if rng.IntN(2) == 0 {
			for k := range e.byCode { // one that is there
				c = k
				break
			}
		}
		if got, want := e.outletFor([]byte(c)), e.byCode[c]; got != want {
			t.Fatalf("outletFor(%q) = %p, byCode %p", c, got, want)
		}
	}
}

// TestPageCountAsDecode: pageCount gives what decoding a page's "count"
// gives, for pages as the server writes them and for other valid JSON
// (the key elsewhere, absent, nested, spaced, negative, fractional,
// leading zeros, too large, not a number), and fails where decoding does.
func TestPageCountAsDecode(t *testing.T) {
	decode := func(b []byte) (int, bool) {
		var p struct {
			Count int `json:"count"`
		}
		if json.Unmarshal(b, &p) != nil {
			return 0, false
		}
		return p.Count, true
	}
	recs := `[{"code":"11111111","count":7,"name":"a \"count\":9"}]`
	var pages []string
	for _, n := range []string{"0", "1", "499", "500", "501", "12345", "999999999", "1000000000", "99999999999999999999", "-1", "5.0", "05", "1e3", `"500"`, "null", "true", "[]"} {
		pages = append(pages,
			`{"count":`+n+`,"page":"1","storeInfos":`+recs+`,"totalCount":26263,"totalPages":53}`+"\n",
			`{"count":`+n+`}`,
			`{"count": `+n+`,"page":"1"}`,
			`{"page":"1","count":`+n+`,"storeInfos":[]}`,
			` {"count":`+n+`,"storeInfos":[]}`,
			`{"storeInfos":[{"count":`+n+`}]}`,
		)
	}
	pages = append(pages, `{}`, `[]`, `null`, `{"count":`, `{"count":5`, "", `{"Count":600,"x":1}`)
	for _, p := range pages {
		gn, gok := pageCount([]byte(p))
		wn, wok := decode([]byte(p))
		if gn != wn || gok != wok {
			t.Errorf("pageCount(%q) = %d, %v; decoding gives %d, %v", p, gn, gok, wn, wok)
		}
	}
	// A page as the server writes it is read from its start.
	if n, ok := pageCount([]byte(fmt.Sprintf(`{"count":%d,"page":"2","sales":[]}`, 500))); n != 500 || !ok {
		t.Errorf("got %d, %v", n, ok)
	}
}
