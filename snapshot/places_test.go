package snapshot

import (
	"encoding/csv"
	"os"
	"strconv"
	"strings"
	"testing"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testdata"
)

func nationalList(tb testing.TB) []publicmask.Outlet {
	tb.Helper()
	f, err := os.Open(testdata.Path(tb, "outlets-2020/stores-2020-04.csv"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	var outs []publicmask.Outlet
	for _, r := range rows[1:] {
		lat, _ := strconv.ParseFloat(r[4], 64)
		lng, _ := strconv.ParseFloat(r[5], 64)
		outs = append(outs, publicmask.Outlet{Code: r[0], Name: r[1], Addr: r[2], Type: r[3], Lat: lat, Lng: lng, Version: 1})
	}
	return outs
}

// TestPlacesNational: over the April 2020 list, every place of the index
// (each one a search suggestion) is named by its label as a v1 address, for
// exactly its outlets; every outlet but two with unreadable addresses is
// placed in a 시도 and 시군구, the 시도-less ones where §6.10 says.
func TestPlacesNational(t *testing.T) {
	s := build(nationalList(t), 1, t0)
	ix := s.reg.places
	for id, p := range ix.places {
		if p.kind == KindSido || p.name() == "" {
			continue
		}
		es, err := s.ByAddress(p.label)
		if err != nil || len(es) != int(p.count) || len(p.pos) != int(p.count) {
			t.Errorf("place %d %q (%s, %d outlets): ByAddress gives %d, %v", id, p.label, p.kind, p.count, len(es), err)
			continue
		}
		for j, e := range es {
			if e != s.At(int(p.pos[j])) {
				t.Errorf("%q: outlet %d differs", p.label, j)
				break
			}
		}
	}
	unplaced := 0
	for i := 0; i < s.Len(); i++ {
		e := s.At(i)
		p := e.Place
		si, _, _ := strings.Cut(p.Sigungu, " ")
		if p.Sido == "" || !(isSigunguToken(si) || (p.Sido == "세종특별자치시" && p.Sigungu == "")) {
			unplaced++
			t.Logf("not placed: %s %+v", e.Addr, e.Place)
		}
	}
	if unplaced > 2 {
		t.Errorf("%d outlets not placed", unplaced)
	}
	for code, want := range map[string]Address{
		"2278302528": {Sido: "강원도", Sigungu: "고성군", Dong: "거진읍", Road: "거탄진로", Bldg: "102"},
		"2238303369": {Sido: "강원도", Sigungu: "홍천군", Dong: "홍천읍", Road: "연봉중앙로", Bldg: "54"},
		"2238302676": {Sido: "강원도", Sigungu: "홍천군", Dong: "동면", Road: "공작산로", Bldg: "510"},
		"1358301763": {Sido: "경기도", Sigungu: "용인시 처인구", Dong: "모현읍", Road: "백옥대로", Bldg: "2366"},
		"6098304276": {Sido: "경상남도", Sigungu: "창원시 의창구", Dong: "대산면", Road: "주남로", Bldg: "574-4"},
	} {
		e, ok := s.Lookup(code)
		if !ok || e.Place != want {
			t.Errorf("%s: %+v, want %+v", code, e.Place, want)
		}
	}
	nat, bySido := s.Summary()
	sum := 0
	for _, c := range bySido {
		sum += c.Total
	}
	if nat.Total != s.Len() || sum < s.Len()-2 {
		t.Errorf("summary: national %d, 시도 total %d of %d", nat.Total, sum, s.Len())
	}
}

// BenchmarkPlaces is /api/v2/places's search alone, over the April 2020
// list, for a mix of what people type as they type it.
func BenchmarkPlaces(b *testing.B) {
	s := build(nationalList(b), 1, t0)
	qs := []string{"서", "서울", "논", "논현", "강남구 논", "솔매로", "중구", "명동", "ㄱ", "경기 수원시 장"}
	buf := make([]Place, 0, 10)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		buf = s.Places(qs[i%len(qs)], 10, buf[:0])
		i++
	}
}

// BenchmarkBuildPlaces is the place index's share of a registry rebuild.
func BenchmarkBuildPlaces(b *testing.B) {
	s := build(nationalList(b), 1, t0)
	b.ReportAllocs()
	for b.Loop() {
		buildPlaces(s.At, s.n)
	}
}
