package rush

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/outletio"
	"github.com/publicmask/publicmask/rrn"
	"github.com/publicmask/publicmask/seed"
)

func TestCheckDigitKnown(t *testing.T) {
	// 830315-1234567's first 12 digits: Σ wᵢdᵢ = 164, 164 mod 11 = 10,
	// (11 − 10) mod 10 = 1.
	if got := CheckDigit("830315123456"); got != 1 {
		t.Fatalf("CheckDigit = %d, want 1", got)
	}
	if !ValidID("8303151234561") || ValidID("8303151234567") {
		t.Fatal("ValidID disagrees with the check digit")
	}
}

func TestRandomIDValid(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		year := 1930 + i%90
		id := RandomID(rng, year)
		if !ValidID(id) {
			t.Fatalf("RandomID(%d) = %s is not valid", year, id)
		}
		// The server's own parser must agree: the rush's buyers are real.
		if _, err := rrn.Parse(id, true); err != nil {
			t.Fatalf("rrn.Parse(%s): %v", id, err)
		}
		if BirthYear(id) != year {
			t.Fatalf("BirthYear(%s) = %d, want %d", id, BirthYear(id), year)
		}
		want := byte('1')
		if year >= 2000 {
			want = '3'
		}
		if id[6] != want && id[6] != want+1 {
			t.Fatalf("%s: century/sex digit %c for %d", id, id[6], year)
		}
	}
}

func TestPopulationWeekday(t *testing.T) {
	p := NewPopulation(7, []int{3, 8}) // a Wednesday
	const n = 20000
	seen := map[string]bool{}
	sumYear := 0
	for range n {
		id, y := p.Eligible()
		if y%10 != 3 && y%10 != 8 {
			t.Fatalf("eligible buyer born %d on a Wednesday", y)
		}
		if BirthYear(id) != y || !ValidID(id) {
			t.Fatalf("bad eligible ID %s (%d)", id, y)
		}
		if seen[id] {
			t.Fatalf("ID %s issued twice", id)
		}
		seen[id] = true
		sumYear += y
		wid, wy, ok := p.WrongDay()
		if !ok || wy%10 == 3 || wy%10 == 8 || !ValidID(wid) {
			t.Fatalf("wrong-day buyer %s born %d", wid, wy)
		}
	}
	// Korea's 2020 age structure: the mean birth year is around 1977; a
	// uniform 1930–2019 draw would give 1975, a child-heavy one 1990+.
	mean := float64(sumYear) / n
	if mean < 1972 || mean > 1984 {
		t.Errorf("mean birth year %.1f, want about 1977", mean)
	}
	// Both of the day's digits appear, in proportion (within 20%).
	var d3, d8 int
	for id := range seen {
		if BirthYear(id)%10 == 3 {
			d3++
		} else {
			d8++
		}
	}
	if r := float64(d3) / float64(d8); r < 0.8 || r > 1.25 {
		t.Errorf("digit 3 : digit 8 = %d : %d", d3, d8)
	}

	if _, _, ok := NewPopulation(1, nil).WrongDay(); ok {
		t.Error("a day without rotation has wrong-day buyers")
	}
}

func TestMistypeIsInvalid(t *testing.T) {
	p := NewPopulation(3, []int{3, 8})
	for range 5000 {
		id, _ := p.Eligible()
		bad := p.Mistype(id)
		if bad == id || ValidID(bad) {
			t.Fatalf("Mistype(%s) = %s is still valid", id, bad)
		}
		if _, err := rrn.Parse(bad, true); publicmask.ErrorCode(err) != publicmask.EInvalidID {
			t.Fatalf("server would accept mistyped %s: %v", bad, err)
		}
	}
}

func TestHistBuckets(t *testing.T) {
	for _, v := range []uint64{0, 1, 63, 64, 65, 127, 128, 1000, 12345, 1 << 20, 1<<35 + 12345} {
		lo, hi := bucketRange(bucketOf(v))
		if v < lo || v >= hi {
			t.Errorf("value %d in bucket [%d,%d)", v, lo, hi)
		}
	}
	prev := uint64(0)
	for i := range histBuckets - 1 {
		lo, hi := bucketRange(i)
		if lo != prev || hi <= lo {
			t.Fatalf("bucket %d = [%d,%d), previous ended at %d", i, lo, hi, prev)
		}
		prev = hi
	}
}

func TestHistQuantiles(t *testing.T) {
	var h Hist
	if h.Quantile(0.99) != 0 {
		t.Fatal("empty histogram has a p99")
	}
	for i := 1; i <= 10000; i++ {
		h.Record(time.Duration(i) * time.Microsecond)
	}
	for _, c := range []struct {
		q    float64
		want float64
	}{{0.5, 5000}, {0.9, 9000}, {0.99, 9900}, {1, 10000}} {
		got := float64(h.Quantile(c.q).Microseconds())
		if math.Abs(got-c.want)/c.want > 0.03 {
			t.Errorf("q%.2f = %.0fµs, want %.0f ±3%%", c.q, got, c.want)
		}
	}
	if h.Max() != 10*time.Millisecond || h.Count() != 10000 {
		t.Errorf("max %v count %d", h.Max(), h.Count())
	}
	if m := h.Mean(); m < 4990*time.Microsecond || m > 5010*time.Microsecond {
		t.Errorf("mean %v", m)
	}
	var sum Hist
	sum.Merge(&h)
	sum.Merge(&h)
	if sum.Count() != 20000 || sum.Quantile(0.5) != h.Quantile(0.5) {
		t.Errorf("merge: count %d p50 %v", sum.Count(), sum.Quantile(0.5))
	}
	// A single slow outlier is the maximum, not lost in a bucket.
	h.Record(3 * time.Second)
	if h.Quantile(1) != 3*time.Second {
		t.Errorf("p100 = %v", h.Quantile(1))
	}
}

func TestSurge(t *testing.T) {
	sum := 0.0
	const n = 100000
	for i := range n {
		sum += Surge((float64(i) + 0.5) / n)
	}
	if mean := sum / n; math.Abs(mean-0.8825) > 0.005 {
		t.Errorf("mean of the surge %.4f, want 0.88", mean)
	}
	if Surge(0) != 0.25 || Surge(0.5) != 1 || math.Abs(Surge(1)-0.7) > 1e-9 {
		t.Errorf("surge at 0, 0.5, 1: %v %v %v", Surge(0), Surge(0.5), Surge(1))
	}
}

func TestOutletGhost(t *testing.T) {
	t0 := time.Now()
	o := &outletState{opening: 101, minStock: 101}
	o.reachedAt[bandPlenty] = t0
	if o.ack(100, 1, t0.Add(time.Millisecond)) {
		t.Fatal("100 is still plenty")
	}
	if !o.ack(98, 2, t0.Add(2*time.Millisecond)) {
		t.Fatal("98 is some: band change not reported")
	}
	if o.ack(99, 1, t0.Add(3*time.Millisecond)) {
		t.Fatal("an acknowledgement arriving out of order raised the band")
	}
	// A read sent before the band change may still show plenty.
	if g, _ := o.ghost(bandPlenty, t0.Add(time.Millisecond)); g {
		t.Error("read sent before the acknowledgement counted as ghost")
	}
	g, age := o.ghost(bandPlenty, t0.Add(12*time.Millisecond))
	if !g || age != 10*time.Millisecond {
		t.Errorf("ghost %v age %v, want true 10ms", g, age)
	}
	if g, _ := o.ghost(bandSome, t0.Add(time.Second)); g {
		t.Error("showing the acknowledged band is not ghost")
	}
	if g, _ := o.ghost(bandEmpty, t0.Add(time.Second)); g {
		t.Error("showing less is not ghost")
	}
	if o.sold != 4 {
		t.Errorf("sold %d", o.sold)
	}
}

func TestCheckGhostsScan(t *testing.T) {
	e := &engine{byCode: map[string]*outletState{}, secs: []*second{{}}, start: time.Now()}
	t0 := time.Now().Add(-time.Second)
	for _, c := range []string{"11111111", "22222222"} {
		o := &outletState{code: c, minStock: 200}
		o.reachedAt[bandPlenty] = t0
		e.addCode(o)
	}
	e.byCode["11111111"].ack(20, 180, t0) // now few
	body := `{"count":3,"stores":[{"code":"11111111","name":"a \"code\":\"x","addr":"b","type":"01","lat":37.5,"lng":127,"stock_at":"2020/03/11 08:00:00","remain_stat":"plenty","created_at":null},` +
		`{"code":"22222222","name":"c","remain_stat":"plenty"},{"code":"33333333","remain_stat":null}]}`
	e.checkGhosts([]byte(body), time.Now())
	if e.ghostChecked.Load() != 2 || e.ghosts.Load() != 1 {
		t.Errorf("checked %d ghosts %d, want 2 and 1", e.ghostChecked.Load(), e.ghosts.Load())
	}
}

func TestAddrQueries(t *testing.T) {
	outs := []publicmask.Outlet{
		{Addr: "서울특별시 강북구 솔매로 38 (미아동)"},
		{Addr: "경기도 수원시 장안구 정조로 1 (영화동, 2층)"},
		{Addr: "경기도 파주시 파주읍 시장로 3"},
		{Addr: "세종특별자치시 한누리대로 1 (보람동)"},
	}
	rng := rand.New(rand.NewPCG(1, 1))
	for range 20 {
		for _, q := range addrQueries(outs, rng) {
			switch q {
			case "서울특별시 강북구", "서울특별시 강북구 미아동", "서울특별시 강북구 솔매로", "경기도 수원시 장안구",
				"경기도 수원시 장안구 영화동", "경기도 수원시 장안구 정조로", "경기도 파주시", "경기도 파주시 파주읍", "경기도 파주시 시장로":
			default:
				t.Fatalf("unexpected query %q", q)
			}
		}
	}
}

func TestChartSVG(t *testing.T) {
	nan := math.NaN()
	c := Chart{Title: "Latency <p99> & co", YLabel: "ms", X: []float64{0.5, 1.5, 2.5, 3.5},
		Lines: []Line{
			{Name: "p50", Color: "#2ca02c", Y: []float64{1, 2, nan, 3}},
			{Name: "p99", Color: "#d62728", Y: []float64{5, 50, 12, nan}, Dashed: true},
			{Name: "lone", Color: "#000", Y: []float64{nan, 7, nan, nan}},
		}}
	svg := c.SVG()
	assertXML(t, svg)
	s := string(svg)
	// p50 is a line then, after its gap, a lone point; p99 is one line;
	// "lone" is a point.
	if strings.Count(s, "<polyline") != 2 || strings.Count(s, "<circle") != 2 {
		t.Errorf("%d polylines and %d circles, want 2 and 2", strings.Count(s, "<polyline"), strings.Count(s, "<circle"))
	}
	if !strings.Contains(s, "Latency &lt;p99&gt; &amp; co") || strings.Contains(s, "NaN") {
		t.Error("lone point, escaping or NaN handling wrong")
	}
	// An empty chart still renders.
	assertXML(t, Chart{Title: "empty"}.SVG())
}

func assertXML(t *testing.T, b []byte) {
	t.Helper()
	d := xml.NewDecoder(bytes.NewReader(b))
	root := ""
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("invalid SVG: %v\n%s", err, b)
		}
		if se, ok := tok.(xml.StartElement); ok && root == "" {
			root = se.Name.Local
			if se.Name.Space != "http://www.w3.org/2000/svg" {
				t.Fatalf("root namespace %q", se.Name.Space)
			}
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q", root)
	}
}

func TestNiceScale(t *testing.T) {
	for _, c := range []struct{ max, step, top float64 }{
		{0, 1, 1}, {7, 2, 8}, {2000, 500, 2000}, {2100, 500, 2500}, {0.4, 0.1, 0.4}, {48000, 10000, 50000},
	} {
		step, top := niceScale(c.max)
		if math.Abs(step-c.step) > 1e-9 || math.Abs(top-c.top) > 1e-9 {
			t.Errorf("niceScale(%v) = %v, %v; want %v, %v", c.max, step, top, c.step, c.top)
		}
	}
}

// TestReportShape checks report.json has the contract fields of DESIGN.md
// §3 with the right JSON types, and that the charts and page are written.
func TestReportShape(t *testing.T) {
	p99 := 12.5
	r := &Report{DurationS: 3, Sales: SalesReport{OK: 10, Rejected: 2, PerSec: 3.3, P50: 1, P99: 9},
		Series: []Point{{T: 0, SalesOK: 5, SalesP99: &p99}, {T: 1, SalesOK: 5}}}
	dir := t.TempDir()
	if err := r.Write(dir); err != nil {
		t.Fatal(err)
	}
	checkReportDir(t, dir)
}

// A run in which no outlet sold out measured no forecast error: the page
// says so rather than showing an error of 0%.
func TestReportForecastUnmeasured(t *testing.T) {
	for _, c := range []struct {
		f    ForecastReport
		want string
	}{
		{ForecastReport{Aim: 0.25}, "not measured"},
		{ForecastReport{Outlets: 12, MedianAbsError: 0.1, P90AbsError: 0.3, Aim: 0.25, MedianRemainingS: 40}, "the median absolute error was 10.0%"},
	} {
		html := string((&Report{Forecast: c.f}).HTML(nil))
		if !strings.Contains(html, "Sell-out forecast") || !strings.Contains(html, c.want) {
			t.Errorf("forecast %+v: the page does not say %q", c.f, c.want)
		}
	}
}

func checkReportDir(t *testing.T, dir string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"sales":     {"ok", "rejected", "errors", "per_sec", "p50_ms", "p99_ms"},
		"reads":     {"ok", "errors", "shed", "per_sec", "p50_ms", "p99_ms"},
		"freshness": {"samples", "p50_ms", "p99_ms", "max_ms"},
		"ghost":     {"reads", "share", "max_age_ms"},
		"forecast":  {"outlets", "no_forecast", "median_abs_error", "p90_abs_error", "aim"},
	}
	if _, ok := m["duration_s"].(float64); !ok {
		t.Errorf("duration_s missing or not a number: %v", m["duration_s"])
	}
	if _, ok := m["violations"].([]any); !ok {
		t.Errorf("violations must be an array, got %v", m["violations"])
	}
	if _, ok := m["series"].([]any); !ok {
		t.Errorf("series must be an array")
	}
	for obj, fields := range want {
		o, ok := m[obj].(map[string]any)
		if !ok {
			t.Errorf("%s missing", obj)
			continue
		}
		for _, f := range fields {
			if _, ok := o[f].(float64); !ok {
				t.Errorf("%s.%s missing or not a number: %v", obj, f, o[f])
			}
		}
	}
	for _, f := range []string{"report.html", "throughput.svg", "latency-sales.svg", "latency-reads.svg", "freshness.svg", "outcomes.svg"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if strings.HasSuffix(f, ".svg") {
			assertXML(t, b)
		}
	}
}

func TestFlags(t *testing.T) {
	if err := Main([]string{"--target", "http://127.0.0.1:1"}); err == nil || !strings.Contains(err.Error(), "admin-token") {
		t.Errorf("--target without --admin-token: %v", err)
	}
	if err := Main([]string{"--duration", "0s"}); err == nil {
		t.Error("--duration 0 accepted")
	}
	if err := Main([]string{"extra"}); err == nil {
		t.Error("stray argument accepted")
	}
}

// TestRushInProcess runs the whole rush, as `publicmask rush` does,
// against its own in-process server.
func TestRushInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: starts a server and drives it for seconds")
	}
	t.Setenv("PUBLICMASK_ADMIN_TOKEN", "")
	dir := t.TempDir()
	if err := Main([]string{"--duration", "3s", "--sales-rate", "300", "--read-rate", "600", "--outlets", "300", "--report", dir, "--quiet"}); err != nil {
		t.Fatalf("Main: %v", err)
	}
	checkReportDir(t, dir)
	var r Report
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Sales.OK == 0 || r.Sales.Rejected == 0 {
		t.Errorf("sales ok %d rejected %d: want both > 0", r.Sales.OK, r.Sales.Rejected)
	}
	if r.Sales.RejectedBy["quota_exceeded"] == 0 || r.Sales.RejectedBy["not_eligible_today"] == 0 || r.Sales.RejectedBy["invalid_id"] == 0 {
		t.Errorf("rejections by code %v: want duplicates, wrong days and mistyped IDs", r.Sales.RejectedBy)
	}
	if r.Reads.OK == 0 || len(r.Violations) != 0 || !r.Verify.OK {
		t.Errorf("reads ok %d, violations %v, verify %v", r.Reads.OK, r.Violations, r.Verify.OK)
	}
	if r.Replay.Sampled == 0 || r.Replay.Failed != 0 {
		t.Errorf("replay %+v", r.Replay)
	}
	if r.Freshness.Samples == 0 || r.Ghost.Reads == 0 {
		t.Errorf("freshness samples %d, ghost reads %d", r.Freshness.Samples, r.Ghost.Reads)
	}
	if len(r.Series) < 3 {
		t.Errorf("%d seconds in the series", len(r.Series))
	}
	if html, _ := os.ReadFile(filepath.Join(dir, "report.html")); !strings.Contains(string(html), "Sell-out forecast") {
		t.Errorf("report.html has no forecast line")
	}
}

// TestRushOnAWeekend: on a Saturday post offices do not sell (the standard
// rules close them at weekends), so their refusals are the rules' answer,
// counted as rejected, not as errors: a rush against a server whose date is
// a weekend must not report a failure the server did not make.
func TestRushOnAWeekend(t *testing.T) {
	if testing.Short() {
		t.Skip("integration: starts a server and drives it for seconds")
	}
	t.Setenv("PUBLICMASK_ADMIN_TOKEN", "")
	dir := t.TempDir()
	// 250 pharmacies and 50 post offices of the national demo.
	var some []publicmask.Outlet
	kinds := map[string]int{"01": 250, "02": 50}
	for _, o := range seed.Outlets(seed.Options{Seed: 2020}) {
		if kinds[o.Type] > 0 {
			kinds[o.Type]--
			some = append(some, o)
		}
	}
	var csv bytes.Buffer
	if err := outletio.WriteCSV(&csv, some); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "outlets.csv")
	if err := os.WriteFile(file, csv.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Main([]string{"--clock", "2020-03-14T08:00:00+09:00", "--duration", "2s", "--sales-rate", "300", "--read-rate", "100",
		"--outlets-file", file, "--report", dir, "--quiet"}); err != nil {
		t.Fatalf("Main: %v", err)
	}
	var r Report
	b, _ := os.ReadFile(filepath.Join(dir, "report.json"))
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.Sales.Errors != 0 || r.Sales.RejectedBy["outlet_closed"] == 0 {
		t.Errorf("errors %d %v, rejected %v: want the closed post offices' answers among the rejected", r.Sales.Errors, r.Sales.ErrorsBy, r.Sales.RejectedBy)
	}
}

// The progress has a line for every second of the run, the last one too,
// even when the run's requests are all answered before its tick.
func TestProgressLinesEverySecond(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the run is over before the loop's first tick
	for _, c := range []struct {
		elapsed time.Duration
		lines   int
	}{{3100 * time.Millisecond, 3}, {1500 * time.Millisecond, 1}} { // ended; interrupted
		var out bytes.Buffer
		e := &engine{cfg: &Config{Duration: 3 * time.Second, Progress: &out}, start: time.Now().Add(-c.elapsed)}
		e.secs = []*second{{}, {}, {}, {}, {}}
		e.secs[c.lines-1].salesOK.Add(7)
		e.progressLoop(ctx)
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		if len(lines) != c.lines || !strings.HasPrefix(lines[c.lines-1], fmt.Sprintf("[%3ds] sales     7/s", c.lines)) {
			t.Errorf("progress %v into a 3 s run:\n%s", c.elapsed, out.String())
		}
	}
}

func TestForecastReport(t *testing.T) {
	t0 := time.Date(2020, 3, 11, 8, 0, 0, 0, time.UTC)
	mk := func(opening int, half, out, forecast time.Duration, read bool) *outletState {
		o := &outletState{opening: opening, halfRead: read, halfAt: t0.Add(half)}
		if out > 0 {
			o.soldOutAt = t0.Add(out)
		}
		if forecast > 0 {
			o.halfForecast = t0.Add(forecast)
		}
		return o
	}
	e := &engine{outlets: []*outletState{
		mk(100, 10*time.Second, 20*time.Second, 21*time.Second, true),  // 10%
		mk(100, 10*time.Second, 30*time.Second, 25*time.Second, true),  // 25%
		mk(100, 10*time.Second, 20*time.Second, 0, true),               // no forecast: 100%
		mk(100, 10*time.Second, 0, 15*time.Second, true),               // never sold out: left out
		mk(100, 10*time.Second, 20*time.Second, 20*time.Second, false), // forecast never read: left out
	}}
	r := e.forecastReport()
	if r.Outlets != 3 || r.NoForecast != 1 || r.MedianAbsError != 0.25 || r.P90AbsError != 1 || r.MedianRemainingS != 10 {
		t.Fatalf("%+v", r)
	}
	// The marks: half at the first stock ≤ opening/2, sold out at ≤ 1,
	// nothing for outlets opened with too few masks.
	o := &outletState{opening: 100}
	if o.forecastMark(60, t0) || !o.forecastMark(50, t0.Add(time.Second)) || o.forecastMark(40, t0.Add(2*time.Second)) {
		t.Fatal("half mark not taken exactly once at 50")
	}
	o.forecastMark(1, t0.Add(9*time.Second))
	o.forecastMark(0, t0.Add(8*time.Second)) // a receipt arriving out of order
	if !o.halfAt.Equal(t0.Add(time.Second)) || !o.soldOutAt.Equal(t0.Add(8*time.Second)) {
		t.Fatalf("marks %v %v", o.halfAt, o.soldOutAt)
	}
	if (&outletState{opening: 20}).forecastMark(5, t0) {
		t.Fatal("an outlet opened with 20 masks was measured")
	}
}

// TestScheduleDrawsOnlyWhatItSends: an arrival that finds the queue full
// is counted dropped without being drawn; every arrival is either queued
// or dropped.
func TestScheduleDrawsOnlyWhatItSends(t *testing.T) {
	now := time.Now()
	e := &engine{start: now, end: now.Add(200 * time.Millisecond)}
	q := make(chan int, 3) // nobody takes from it
	drawn, dropped := 0, 0
	schedule(context.Background(), e, 20000, q, func(time.Time) int { drawn++; return drawn }, func(time.Time) { dropped++ })
	if drawn != cap(q) || len(q) != cap(q) {
		t.Fatalf("drew %d arrivals for a queue of %d (%d queued)", drawn, cap(q), len(q))
	}
	if dropped < 100 {
		t.Fatalf("%d arrivals dropped in 200 ms at 20,000/s", dropped)
	}
}
