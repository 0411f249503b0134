package seed

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
)

func TestBuiltinTable(t *testing.T) {
	areas := BuiltinAreas()
	if len(areas) != 250 {
		t.Errorf("%d built-in 시군구, want the 250 of 2020", len(areas))
	}
	seen := map[string]bool{}
	perSido := map[string]int{}
	for _, a := range areas {
		key := a.Sido + " " + a.Sigungu
		if seen[key] {
			t.Errorf("%s twice", key)
		}
		seen[key] = true
		perSido[a.Sido] += a.Population
		if a.Lat < MinLat || a.Lat > MaxLat || a.Lng < MinLng || a.Lng > MaxLng {
			t.Errorf("%s: centre %g,%g outside Korea", key, a.Lat, a.Lng)
		}
		if a.Population <= 0 || len(a.Dongs) == 0 {
			t.Errorf("%s: population %d, %d dongs", key, a.Population, len(a.Dongs))
		}
		for _, d := range a.Dongs {
			if !strings.HasSuffix(d, "동") && !strings.HasSuffix(d, "가") && !isEupMyeon(d) {
				t.Errorf("%s: %q is not a 동/읍/면", key, d)
			}
		}
		if strings.HasSuffix(a.Sigungu, "군") && countRural(&a) == 0 {
			t.Errorf("%s: a 군 without 읍/면", key)
		}
	}
	if len(perSido) != 17 || len(sidos) != 17 {
		t.Errorf("%d 시도 in areas, %d in the table; want 17", len(perSido), len(sidos))
	}
	for _, s := range sidos {
		got := float64(perSido[s.Name])
		if e := math.Abs(got-float64(s.Population)) / float64(s.Population); e > 0.10 {
			t.Errorf("%s: areas sum to %.0f, table says %d", s.Name, got, s.Population)
		}
	}
	// BuiltinAreas hands out copies.
	areas[0].Dongs[0] = "x"
	if BuiltinAreas()[0].Dongs[0] == "x" {
		t.Error("BuiltinAreas shares its slices with the caller")
	}
}

type tally struct{ n [3]int }

func typeIndex(t string) int { return slices.Index(typeCodes[:], t) }

func bySido(outlets []publicmask.Outlet) map[string]*tally {
	m := map[string]*tally{}
	for _, o := range outlets {
		s, _, _ := strings.Cut(o.Addr, " ")
		if m[s] == nil {
			m[s] = &tally{}
		}
		m[s].n[typeIndex(o.Type)]++
	}
	return m
}

func TestNationalCounts(t *testing.T) {
	outlets := Outlets(Options{Seed: 1})
	var n [3]int
	for _, o := range outlets {
		n[typeIndex(o.Type)]++
	}
	t.Logf("national: %d outlets: %d pharmacies, %d post offices, %d marts", len(outlets), n[0], n[1], n[2])
	check := func(what string, got, lo, hi int) {
		if got < lo || got > hi {
			t.Errorf("%s = %d, want %d…%d", what, got, lo, hi)
		}
	}
	check("total", len(outlets), 25_000, 27_500)
	check("pharmacies", n[0], 22_000, 24_000)
	check("post offices", n[1], 1_300, 1_600)
	check("marts", n[2], 1_650, 1_950)

	m := bySido(outlets)
	natPop := 0
	for _, s := range sidos {
		natPop += s.Population
	}
	for _, s := range sidos {
		c := m[s.Name]
		if c == nil {
			t.Fatalf("no outlets in %s", s.Name)
		}
		share := float64(c.n[0]) / float64(n[0])
		popShare := float64(s.Population) / float64(natPop)
		t.Logf("%-8s pharmacies %5d (%4.1f%%, population %4.1f%%)  posts %4d  marts %4d",
			s.Short, c.n[0], 100*share, 100*popShare, c.n[1], c.n[2])
		// Pharmacies follow population (within rounding and the gap
		// between the 시군구 sums and the 시도 figure).
		if math.Abs(share-popShare) > 0.1*popShare+0.001 {
			t.Errorf("%s: %.2f%% of pharmacies vs %.2f%% of population", s.Name, 100*share, 100*popShare)
		}
		// Rounding is national (largest remainder), so 시도 totals may
		// drift by a few.
		if d := c.n[1] - s.Posts; math.Abs(float64(d)) > 3+0.05*float64(s.Posts) {
			t.Errorf("%s: %d post offices, table says %d", s.Name, c.n[1], s.Posts)
		}
		if d := c.n[2] - s.Marts; math.Abs(float64(d)) > 3+0.05*float64(s.Marts) {
			t.Errorf("%s: %d marts, table says %d", s.Name, c.n[2], s.Marts)
		}
	}
	seoul := float64(m["서울특별시"].n[0]) / float64(n[0])
	if seoul < 0.17 || seoul > 0.21 {
		t.Errorf("Seoul has %.1f%% of pharmacies, want ≈ 19%%", 100*seoul)
	}
	for _, s := range []string{"서울특별시", "경기도"} {
		if c := m[s]; c.n[1] != 0 || c.n[2] != 0 {
			t.Errorf("%s: %d post offices, %d marts; want none (2020 policy)", s, c.n[1], c.n[2])
		}
	}
	if m["대구광역시"].n[1] < 50 {
		t.Errorf("Daegu has %d post offices; in 2020 they all sold", m["대구광역시"].n[1])
	}
	// Outside Daegu, post offices are in 읍·면.
	rural, posts := 0, 0
	for _, o := range outlets {
		if o.Type == publicmask.TypePost && !strings.HasPrefix(o.Addr, "대구") {
			posts++
			if inlineEupMyeon.MatchString(o.Addr) {
				rural++
			}
		}
	}
	if float64(rural) < 0.75*float64(posts) {
		t.Errorf("only %d of %d post offices outside Daegu are in a 읍/면", rural, posts)
	}
}

var (
	inlineEupMyeon = regexp.MustCompile(`^\S+ (?:\S+ ){0,2}\S+[읍면] \S+[로길] \d+(?:-\d+)?$`)
	parenDong      = regexp.MustCompile(`^\S+ (?:\S+ ){0,2}\S+[로길] \d+(?:-\d+)? \(\S+[동가](?:, [^()]+)?\)$`)
	eightDigits    = regexp.MustCompile(`^[1-9]\d{7}$`)
)

func TestOutletsWellFormed(t *testing.T) {
	outlets, idx := generate(Options{Seed: 7})
	areas := builtin()
	codes := make(map[string]bool, len(outlets))
	for i, o := range outlets {
		a := prepare(&areas[idx[i]])
		if !eightDigits.MatchString(o.Code) || codes[o.Code] {
			t.Fatalf("code %q not a fresh 8-digit code", o.Code)
		}
		codes[o.Code] = true
		if !publicmask.ValidOutletType(o.Type) || o.Name == "" {
			t.Fatalf("bad outlet %+v", o)
		}
		if o.Stock != 0 || o.Stocked() || o.Suspended {
			t.Fatalf("outlet %s comes stocked or suspended", o.Code)
		}
		prefix := a.Sido + " " + a.Sigungu + " "
		if a.Sigungu == a.Sido {
			prefix = a.Sido + " "
		}
		if !strings.HasPrefix(o.Addr, prefix) {
			t.Fatalf("%q does not start with %q", o.Addr, prefix)
		}
		rest := strings.TrimPrefix(o.Addr, prefix)
		if !parenDong.MatchString(o.Addr) && !inlineEupMyeon.MatchString(o.Addr) {
			t.Fatalf("%q: neither (동) at the end nor an inline 읍/면", o.Addr)
		}
		if first, _, _ := strings.Cut(rest, " "); isEupMyeon(first) && !slices.Contains(a.Dongs, first) {
			t.Fatalf("%q: 읍/면 %s is not one of the area's", o.Addr, first)
		}
		if o.Lat < MinLat || o.Lat > MaxLat || o.Lng < MinLng || o.Lng > MaxLng {
			t.Fatalf("%s at %g,%g is outside Korea", o.Code, o.Lat, o.Lng)
		}
		if d := distKm(o.Lat, o.Lng, a.Lat, a.Lng); d > a.Radius*1.01+0.01 {
			t.Fatalf("%s (%s) is %.2f km from its centre, radius %.1f", o.Code, o.Addr, d, a.Radius)
		}
		switch o.Type {
		case publicmask.TypePharmacy:
			if !strings.HasSuffix(o.Name, "약국") {
				t.Fatalf("pharmacy named %q", o.Name)
			}
		case publicmask.TypePost:
			if !strings.HasSuffix(o.Name, "우체국") {
				t.Fatalf("post office named %q", o.Name)
			}
		case publicmask.TypeNonghyup:
			if !strings.Contains(o.Name, "농협하나로마트") {
				t.Fatalf("mart named %q", o.Name)
			}
		}
	}
	for _, i := range []int{0, len(outlets) / 3, len(outlets) / 2, len(outlets) - 1} {
		t.Logf("e.g. %s %s %s (%s) %g,%g", outlets[i].Code, outlets[i].Name, outlets[i].Addr, outlets[i].Type, outlets[i].Lat, outlets[i].Lng)
	}
}

func TestDeterministic(t *testing.T) {
	a := Outlets(Options{Seed: 42, Count: 3000})
	b := Outlets(Options{Seed: 42, Count: 3000})
	c := Outlets(Options{Seed: 43, Count: 3000})
	if !slices.Equal(a, b) {
		t.Error("same seed, different lists")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same list")
	}
}

func TestCountScales(t *testing.T) {
	for _, n := range []int{1, 17, 1000, 26_000, 60_000} {
		out := Outlets(Options{Count: n, Seed: 3})
		if len(out) != n {
			t.Errorf("Count %d gave %d outlets", n, len(out))
		}
	}
	// At 26,000 the mix and the spread stay those of the national default.
	out := Outlets(Options{Count: 26_000})
	m := bySido(out)
	var n [3]int
	for _, o := range out {
		n[typeIndex(o.Type)]++
	}
	if s := float64(m["서울특별시"].n[0]) / float64(n[0]); s < 0.17 || s > 0.21 {
		t.Errorf("Seoul has %.1f%% of pharmacies at Count 26000", 100*s)
	}
	if n[1] < 1300 || n[2] < 1600 {
		t.Errorf("Count 26000 mix %v", n)
	}
}

func TestCustomAreas(t *testing.T) {
	// Areas without names get synthetic 동/읍/면; explicit counts are kept.
	areas := []Area{
		{Sido: "경기도", Sigungu: "가상시", Lat: 37.5, Lng: 127.0, Population: 100_000},
		{Sido: "강원도", Sigungu: "가상군", Lat: 37.7, Lng: 128.5, Population: 20_000},
		{Sido: "충청남도", Sigungu: "공주시", Lat: 36.45, Lng: 127.12, Pharmacies: 5, Posts: 0, Marts: 2},
	}
	out, idx := generate(Options{Areas: areas, Seed: 1})
	var per [3][3]int
	for i, o := range out {
		per[idx[i]][typeIndex(o.Type)]++
		if !strings.HasPrefix(o.Addr, areas[idx[i]].Sido+" "+areas[idx[i]].Sigungu+" ") {
			t.Errorf("%q", o.Addr)
		}
	}
	if per[2] != [3]int{5, 0, 2} {
		t.Errorf("explicit counts not kept: %v", per[2])
	}
	if per[0][0] == 0 || per[0][2] != 0 || per[1][1] == 0 {
		t.Errorf("derived counts: %v", per)
	}
}

func TestStems(t *testing.T) {
	for in, want := range map[string]string{
		"역삼동": "역삼", "성수동1가": "성수", "대저1동": "대저", "화북일동": "화북", "중동": "중동",
		"명동": "명동", "파주읍": "파주", "국토정중앙면": "국토정중앙", "이동": "이동", "덕이동": "덕이",
	} {
		if got := stem(in); got != want {
			t.Errorf("stem(%s) = %s, want %s", in, got, want)
		}
	}
	for in, want := range map[[2]string]string{
		{"서울특별시", "강남구"}: "강남", {"부산광역시", "중구"}: "부산중구", {"경기도", "수원시 장안구"}: "수원",
		{"세종특별자치시", "세종특별자치시"}: "세종", {"경기도", "양평군"}: "양평",
	} {
		if got := sggStem(in[0], in[1]); got != want {
			t.Errorf("sggStem(%v) = %s, want %s", in, got, want)
		}
	}
}

func TestReadGeoErrors(t *testing.T) {
	head := "sido_nm,sgg_nm,mdis_lat,mdis_lng,pop_2020_census,mask_pharmacy_01,mask_post_02,mask_nh_03\n"
	good := "서울특별시,종로구,37.59,126.97,150000,170,0,0\n"
	for _, c := range []struct{ in, want string }{
		{"", "empty"},
		{"sido_nm,sgg_nm,mdis_lat\n" + good, `line 1: missing column "mdis_lng"`},
		{head + good + "서울특별시,중구,north,126.99,120000,160,0,0\n", "line 3: mdis_lat: not a number"},
		{head + good + "서울특별시,중구,37.5,126.99,many,160,0,0\n", "line 3: pop_2020_census"},
		{head + good + good, "line 3: 서울특별시 종로구 repeats line 2"},
		{head + good + "서울특별시,중구,37.5,126.99\n", "line 3: 4 fields"},
		{head + "서울특별시,중구,45.5,126.99,1,1,0,0\n", "line 2: point"},
		{head + "서울특별시,중구,37.5,126.99,1,-1,0,0\n", "line 2: mask_pharmacy_01"},
		{head, "no areas"},
	} {
		_, err := ReadGeo(strings.NewReader(c.in))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ReadGeo(%q) error %v, want it to mention %q", c.in, err, c.want)
		}
	}
	// Header-driven: any column order, mask columns optional, BOM tolerated.
	areas, err := ReadGeo(strings.NewReader("\ufeffpop_2020_census,mdis_lng,mdis_lat,sgg_nm,sido_nm\n150000,127.49,36.63,청주시상당구,충청북도\n"))
	if err != nil || len(areas) != 1 {
		t.Fatal(areas, err)
	}
	if a := areas[0]; a.Sigungu != "청주시 상당구" || a.Lat != 36.63 || a.Population != 150000 || a.Pharmacies != 0 {
		t.Errorf("%+v", a)
	}
}

func TestReadGeoReference(t *testing.T) {
	areas, err := ReadGeo(openRef(t, "geo/sgg_2020.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(areas) != 250 {
		t.Fatalf("%d areas, want 250", len(areas))
	}
	want := 0
	for _, a := range areas {
		want += a.Pharmacies + a.Posts + a.Marts
		if _, ok := builtinByName(a.Sido, a.Sigungu); !ok {
			t.Errorf("%s %s has no built-in twin (its addresses get synthetic 동)", a.Sido, a.Sigungu)
		}
	}
	out, idx := generate(Options{Areas: areas, Seed: 5})
	if len(out) != want {
		t.Errorf("%d outlets, the file counts %d", len(out), want)
	}
	per := make([][3]int, len(areas))
	for i, o := range out {
		a := prepare(&areas[idx[i]])
		per[idx[i]][typeIndex(o.Type)]++
		if d := distKm(o.Lat, o.Lng, a.Lat, a.Lng); d > a.Radius*1.01+0.01 {
			t.Fatalf("%s in %s is %.1f km from the area's point", o.Code, a.Sigungu, d)
		}
		if !strings.HasPrefix(o.Addr, a.Sido+" ") || (a.Sigungu != a.Sido && !strings.HasPrefix(o.Addr, a.Sido+" "+a.Sigungu+" ")) {
			t.Fatalf("%q not in %s %s", o.Addr, a.Sido, a.Sigungu)
		}
	}
	for i, a := range areas {
		if per[i] != [3]int{a.Pharmacies, a.Posts, a.Marts} {
			t.Errorf("%s %s: %v, file says %d/%d/%d", a.Sido, a.Sigungu, per[i], a.Pharmacies, a.Posts, a.Marts)
		}
	}
	// Count rescales the real distribution.
	if n := len(Outlets(Options{Areas: areas, Count: 5000})); n != 5000 {
		t.Errorf("Count 5000 over the reference areas gave %d", n)
	}
}

func BenchmarkOutletsNational(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if n := len(Outlets(Options{Seed: 1})); n < 25_000 {
			b.Fatal(n)
		}
	}
}

func ExampleOutlets() {
	out := Outlets(Options{Count: 3, Seed: 1})
	fmt.Println(len(out), len(out[0].Code))
	// Output: 3 8
}
