package snapshot

import (
	"encoding/csv"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testdata"
	"github.com/publicmask/publicmask/seed"
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
		p := e.Place()
		si, _, _ := strings.Cut(p.Sigungu, " ")
		if p.Sido == "" || !(isSigunguToken(si) || (p.Sido == "세종특별자치시" && p.Sigungu == "")) {
			unplaced++
			t.Logf("not placed: %s %+v", e.Addr(), e.Place())
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
		if !ok || e.Place() != want {
			t.Errorf("%s: %+v, want %+v", code, e.Place(), want)
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

// TestPlacesFollowRegistry: the place index is rebuilt with the registry: an
// imported outlet in a new 동 is found by search and by address at once, and
// an outlet that moves leaves its old place.
func TestPlacesFollowRegistry(t *testing.T) {
	outs := []publicmask.Outlet{
		{Code: "1", Addr: "서울특별시 강북구 솔매로 38 (미아동)", Lat: 37.62, Lng: 127.01, Version: 1},
		{Code: "2", Addr: "서울특별시 강북구 도봉로 1 (미아동)", Lat: 37.63, Lng: 127.02, Version: 2},
	}
	s := build(outs, 2, t0)
	if ps := s.Places("새로운", 5, nil); len(ps) != 0 {
		t.Fatalf("before: %+v", ps)
	}
	added := publicmask.Outlet{Code: "3", Addr: "서울특별시 강북구 새로운길 5 (번동)", Lat: 37.64, Lng: 127.03, Version: 3}
	s2, _ := s.apply([]publicmask.Outlet{added}, t0)
	ps := s2.Places("새로운", 5, nil)
	if len(ps) != 1 || ps[0].Label != "서울특별시 강북구 새로운길" || ps[0].Kind != KindRoad || ps[0].Outlets != 1 {
		t.Fatalf("after import: %+v", ps)
	}
	if es, err := s2.ByAddress("강북구 번동"); err != nil || len(es) != 1 || es[0].Code() != "3" {
		t.Fatalf("강북구 번동: %v %v", es, err)
	}
	moved := outs[1]
	moved.Addr, moved.Version = "서울특별시 강북구 한천로 2 (번동)", 4
	s3, _ := s2.apply([]publicmask.Outlet{moved}, t0)
	if es, _ := s3.ByAddress("강북구 미아동"); len(es) != 1 || es[0].Code() != "1" {
		t.Fatalf("미아동 after the move: %v", es)
	}
	if es, _ := s3.ByAddress("번동"); len(es) != 2 {
		t.Fatalf("번동 after the move: %v", es)
	}
	if ps := s3.Places("도봉로", 5, nil); len(ps) != 0 {
		t.Fatalf("the old road is still suggested: %+v", ps)
	}
	// A stock change keeps the index (no rebuild per sale).
	sold := added
	sold.Stock, sold.Version = 10, 5
	if s4, _ := s3.apply([]publicmask.Outlet{sold}, t0); s4.reg.places != s3.reg.places {
		t.Fatal("a stock change rebuilt the place index")
	}
}

// TestSortKeysInHalves: sortKeys of a long list (two halves sorted on two
// goroutines and merged) puts the search keys in the order byKey gives,
// key for key, with places whose keys share their text ("중앙동" of many
// areas) and the keys of every kind; so does a short list.
func TestSortKeysInHalves(t *testing.T) {
	outlets := seed.Outlets(seed.Options{Seed: 19, Count: 5000})
	s := build(outlets, 1, t0)
	ix := s.reg.places
	for _, n := range []int{len(ix.keys), 4097, 101, 2} {
		keys := ix.newKeys(0)
		rand.New(rand.NewPCG(uint64(n), 2)).Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		keys = keys[:min(n, len(keys))]
		want := slices.Clone(keys)
		slices.SortFunc(want, ix.byKey)
		defer func(p int) { parallelSort = p }(parallelSort)
		parallelSort = 16
		ix.sortKeys(keys)
		if !slices.Equal(keys, want) {
			t.Fatalf("%d keys: sortKeys's order differs from byKey's", len(keys))
		}
	}
	if len(ix.keys) < 4096 {
		t.Fatalf("only %d keys: the test wants a long list", len(ix.keys))
	}
}
