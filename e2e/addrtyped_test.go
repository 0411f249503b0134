package e2e

import (
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/publicmask/publicmask/internal/testdata"
)

// TestStoresByAddrTyped2020 imports the April 2020 outlet list into a fresh
// node and asks storesByAddr what people type for places where the audit of
// session 41 found it wrong: each answer must hold exactly the outlets the
// list has there (found by reading the list's addresses here).
func TestStoresByAddrTyped2020(t *testing.T) {
	skipShort(t, "runs a real server with the April 2020 list")
	csvBody, err := os.ReadFile(testdata.Path(t, "outlets-2020/stores-2020-04.csv"))
	if err != nil {
		t.Fatal(err)
	}
	rows := april2020Rows(t)
	s := start(t, "--db", t.TempDir()+"/pm.db", "--seed", "none", "--tiles", "none")
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, string(csvBody), nil, 200)

	// where lists the codes of the outlets with coordinates whose address
	// matches.
	where := func(match func(addr string) bool) []string {
		var out []string
		for _, r := range rows[1:] {
			if r[4] != "" && match(r[2]) {
				out = append(out, r[0])
			}
		}
		slices.Sort(out)
		return out
	}
	has := func(parts ...string) func(string) bool {
		return func(a string) bool {
			for _, p := range parts {
				if !strings.Contains(a, p) {
					return false
				}
			}
			return true
		}
	}
	ask := func(q string) (int, []string, map[string]any) {
		var body map[string]any
		code, err := s.call("GET", "/corona19-masks/v1/storesByAddr/json?address="+url.QueryEscape(q), "", nil, &body)
		if err != nil {
			t.Fatal(err)
		}
		var codes []string
		stores, _ := body["stores"].([]any)
		for _, st := range stores {
			codes = append(codes, st.(map[string]any)["code"].(string))
		}
		slices.Sort(codes)
		return code, codes, body
	}
	nonhyeon := where(has("서울특별시 강남구 ", "(논현동"))
	for _, c := range []struct {
		q    string
		want []string
	}{
		{"부산진구", where(has("부산진구 "))},
		{"부산진구 부전동", where(has("부산진구 ", "(부전동"))},
		{"청주시 흥덕구 1순환로", where(has("흥덕구 1순환로 "))},
		{"3·15대로 778", where(has("3·15대로 778 "))},
		{"화성시 3.1만세로", where(has("화성시 ", " 3.1만세로 "))},
		{"경상북도 포항시 남구 동해면 일월로 137 103호 (동해그린상가)", where(has("포항시 남구 동해면 "))},
		{"서울특별시, 강남구, 논현동", nonhyeon},
		{"강남구 논현동,", nonhyeon},
		{"강남구 역삼", where(has("서울특별시 강남구 ", "역삼동"))}, // a 동 typed without its suffix
		{"제주시 영화빌딩", nil},                           // a word that names no place there
		// addr42: the MOIS lists' forms, "광주" for 경기도 광주시, a 번길
		// typed apart from its number (each failed on main).
		{"세종특별자치시 세종특별자치시", where(has("세종특별자치시 "))},
		{"수원시권선구", where(has("수원시 권선구 "))},
		{"광주 오포읍", where(has("경기도 광주시 오포읍 "))},
		{"논산시 계백로 167 번길", where(has("논산시 ", "계백로 167번길 "))},
	} {
		if len(c.want) == 0 && c.q != "제주시 영화빌딩" {
			t.Fatalf("%q: the list has no such outlets", c.q)
		}
		code, got, _ := ask(c.q)
		if code != 200 || !slices.Equal(got, c.want) {
			t.Errorf("%q: %d, %d outlets; want 200, %d outlets (%v)", c.q, code, len(got), len(c.want), diff(got, c.want))
		}
	}
	code, _, body := ask("광주시 송정동")
	e, _ := body["error"].(map[string]any)
	cands, _ := body["candidates"].([]any)
	if code != 400 || e["code"] != "ambiguous_address" || len(cands) != 2 {
		t.Errorf("광주시 송정동: %d %v; want 400 ambiguous_address with 광주광역시's and 경기도 광주시's", code, body)
	}
}

// diff lists what a has and b lacks, then what b has and a lacks.
func diff(a, b []string) [2][]string {
	var d [2][]string
	for _, x := range a {
		if !slices.Contains(b, x) {
			d[0] = append(d[0], x)
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			d[1] = append(d[1], x)
		}
	}
	return d
}
