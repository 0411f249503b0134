package snapshot

import (
	"cmp"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

var t0 = time.Date(2020, 3, 11, 8, 0, 0, 0, publicmask.Seoul)

// fakeSource is an in-memory Source.
type fakeSource struct {
	mu      sync.Mutex
	outlets map[string]publicmask.Outlet
	version int64
}

func newFakeSource(os []publicmask.Outlet) *fakeSource {
	f := &fakeSource{outlets: map[string]publicmask.Outlet{}}
	for _, o := range os {
		f.version++
		o.Version = f.version
		f.outlets[o.Code] = o
	}
	return f
}

// put stores a change with the next version and returns it.
func (f *fakeSource) put(o publicmask.Outlet) publicmask.Outlet {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.version++
	o.Version = f.version
	f.outlets[o.Code] = o
	return o
}

func (f *fakeSource) Outlets(ctx context.Context) ([]publicmask.Outlet, int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []publicmask.Outlet
	for _, o := range f.outlets {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b publicmask.Outlet) int { return cmpStr(a.Code, b.Code) })
	return out, f.version, nil
}

func (f *fakeSource) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []publicmask.Outlet
	for _, o := range f.outlets {
		if o.Version > after {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b publicmask.Outlet) int { return int(a.Version - b.Version) })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func cmpStr(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// synthetic returns n outlets scattered around Seoul with stock.
func synthetic(n int, seed uint64) []publicmask.Outlet {
	rng := rand.New(rand.NewPCG(seed, 1))
	gus := []string{"강북구", "강남구", "용산구", "중구"}
	dongs := []string{"미아동", "논현동", "보광동", "을지로3가"}
	out := make([]publicmask.Outlet, n)
	for i := range out {
		g := i % len(gus)
		out[i] = publicmask.Outlet{
			Code: fmt.Sprintf("%08d", 10000000+i*7),
			Name: fmt.Sprintf("약국%d", i),
			Addr: fmt.Sprintf("서울특별시 %s 어느로 %d (%s)", gus[g], i, dongs[g]),
			Type: publicmask.TypePharmacy,
			Lat:  37.45 + rng.Float64()*0.2,
			Lng:  126.85 + rng.Float64()*0.3,
		}
		if i%10 != 0 {
			out[i].Stock = rng.IntN(200)
			out[i].StockAt = t0.Add(-time.Hour)
			out[i].UpdatedAt = t0
		}
	}
	return out
}

func bruteNear(s *Snapshot, lat, lng, m float64) []string {
	var codes []string
	for i := 0; i < s.Len(); i++ {
		e := s.At(i)
		// Independent formula (spherical law of cosines) to cross-check.
		const rad = math.Pi / 180
		c := math.Sin(lat*rad)*math.Sin(e.Lat*rad) + math.Cos(lat*rad)*math.Cos(e.Lat*rad)*math.Cos((e.Lng-lng)*rad)
		d := earthR * math.Acos(min(c, 1))
		if d <= m-0.01 { // stay clear of the rounding at the boundary
			codes = append(codes, e.Code())
		}
	}
	return codes
}

// TestNearMatchesBruteForce checks radius queries against a brute-force
// scan, with the grid's cells subdivided as for every registry size: the
// answer (and its order) must not depend on the cell size.
func TestNearMatchesBruteForce(t *testing.T) {
	s := build(synthetic(3000, 1), 0, t0)
	coarse := s.reg.geo
	for _, div := range []int{1, 2, 4} {
		g := newGrid(s.At, s.n, div)
		rng := rand.New(rand.NewPCG(2, 2))
		for k := 0; k < 200; k++ {
			lat, lng := 37.4+rng.Float64()*0.3, 126.8+rng.Float64()*0.4
			m := []float64{1, 300, 1000, 2500, 5000}[k%5]
			hits := g.near(lat, lng, m, nil)
			if want := coarse.near(lat, lng, m, nil); !slices.Equal(hits, want) {
				t.Fatalf("div %d, query (%v,%v,%v): %d hits, the national grid %d (or another order)", div, lat, lng, m, len(hits), len(want))
			}
			got := map[string]bool{}
			for j, h := range hits {
				got[s.At(int(h.Pos)).Code()] = true
				if j > 0 && hits[j-1].Dist() > h.Dist() {
					t.Fatalf("not nearest first at %d: %v > %v", j, hits[j-1].Dist(), h.Dist())
				}
				if d := Haversine(lat, lng, s.At(int(h.Pos)).Lat, s.At(int(h.Pos)).Lng); h.Dist() > m+1e-6 || math.Abs(d-h.Dist()) > 1e-6 {
					t.Fatalf("hit at %v m (Haversine %v) beyond radius %v", h.Dist(), d, m)
				}
			}
			for _, c := range bruteNear(s, lat, lng, m) {
				if !got[c] {
					t.Fatalf("div %d, query (%v,%v,%v): brute force finds %s, index does not", div, lat, lng, m, c)
				}
			}
		}
	}
	if gridDiv(540_000) != 4 || gridDiv(26_263) != 1 || s.reg.geo.div != 1 {
		t.Fatal("cells not subdivided by the registry's size")
	}
}

func TestHaversineKnownDistance(t *testing.T) {
	// Seoul City Hall to Busan City Hall is about 325 km.
	d := Haversine(37.5663, 126.9779, 35.1798, 129.0750)
	if d < 320e3 || d > 330e3 {
		t.Fatalf("Seoul–Busan = %v m", d)
	}
	if d := Haversine(37.5, 127, 37.5, 127); d != 0 {
		t.Fatalf("zero distance = %v", d)
	}
}

func TestApplyCopyOnWrite(t *testing.T) {
	os := synthetic(2000, 3)
	src := newFakeSource(os)
	all, v, _ := src.Outlets(context.Background())
	s := build(all, v, t0)
	if s.Version() != v {
		t.Fatalf("version %d, want %d", s.Version(), v)
	}
	nat0, _ := s.Summary()
	if nat0.Total != 2000 {
		t.Fatalf("summary total %d", nat0.Total)
	}
	o := all[1000]
	o.Stock, o.StockAt, o.Suspended = 5, t0, false
	o = src.put(o)
	ns, applied := s.apply([]publicmask.Outlet{o}, t0.Add(time.Second))
	if ns == s || len(applied) != 1 {
		t.Fatalf("change not applied")
	}
	if e, _ := ns.Lookup(o.Code); e.Stat() != publicmask.StatFew || e.Stock != 5 {
		t.Fatalf("new snapshot has %+v", e)
	}
	if e, _ := s.Lookup(o.Code); e.Stock == 5 && all[1000].Stock != 5 {
		t.Fatalf("old snapshot was modified")
	}
	if ns.Version() != o.Version {
		t.Fatalf("version %d, want %d", ns.Version(), o.Version)
	}
	// Unchanged chunks and indexes are shared, the changed chunk is not.
	shared := 0
	for c := range s.nChunks() {
		if s.chunk(c) == ns.chunk(c) {
			shared++
		}
	}
	if shared != s.nChunks()-1 {
		t.Fatalf("%d of %d chunks shared, want all but one", shared, s.nChunks())
	}
	if ns.reg != s.reg {
		t.Fatalf("a stock change rebuilt the registry")
	}
	nat1, _ := ns.Summary()
	if nat1.Total != 2000 || nat1.Few != countStat(ns, publicmask.StatFew) || nat1.Plenty != countStat(ns, publicmask.StatPlenty) {
		t.Fatalf("summary not maintained: %+v", nat1)
	}
	// A stale change (same version) is ignored.
	if ns2, _ := ns.apply([]publicmask.Outlet{o}, t0); ns2 != ns {
		t.Fatalf("stale change produced a new snapshot")
	}
	// A new outlet and a moved outlet rebuild the indexes.
	n := publicmask.Outlet{Code: "99999999", Name: "새약국", Addr: "서울특별시 강북구 솔매로 1 (미아동)", Type: "01", Lat: 37.62, Lng: 127.01}
	n = src.put(n)
	ns3, _ := ns.apply([]publicmask.Outlet{n}, t0)
	if ns3.Len() != 2001 {
		t.Fatalf("len %d", ns3.Len())
	}
	if e, ok := ns3.Lookup("99999999"); !ok || e.Name() != "새약국" {
		t.Fatalf("new outlet missing")
	}
	es, _ := ns3.ByAddress("서울특별시 강북구 미아동")
	if !slices.ContainsFunc(es, func(e *Entry) bool { return e.Code() == "99999999" }) {
		t.Fatalf("new outlet not in address index")
	}
	hits := ns3.Near(37.62, 127.01, 10, nil)
	if len(hits) == 0 || ns3.At(int(hits[0].Pos)).Code() != "99999999" {
		t.Fatalf("new outlet not in geo index")
	}
	for i := 1; i < ns3.Len(); i++ {
		if ns3.At(i-1).Code() >= ns3.At(i).Code() {
			t.Fatalf("not in code order at %d", i)
		}
	}
}

func countStat(s *Snapshot, stat string) int {
	n := 0
	for i := 0; i < s.Len(); i++ {
		if s.At(i).Stat() == stat {
			n++
		}
	}
	return n
}

func TestEncodedFragmentsAreValidJSON(t *testing.T) {
	o := publicmask.Outlet{Code: "1", Name: "\"quote\" <b> \x01 \u2028 \xff", Addr: "서울특별시 강북구", Type: "01",
		Lat: 37.5, Lng: 127, Stock: 120, StockAt: t0, UpdatedAt: t0.Add(time.Minute)}
	e := newEntry(o, ParseAddress(o.Addr))
	var v1 map[string]any
	if err := json.Unmarshal(e.AppendV1(nil), &v1); err != nil {
		t.Fatalf("v1: %v: %s", err, e.AppendV1(nil))
	}
	if v1["name"] != "\"quote\" <b> \x01 \u2028 \ufffd" || v1["stock_at"] != "2020/03/11 08:00:00" ||
		v1["created_at"] != "2020/03/11 08:01:00" || v1["remain_stat"] != "plenty" || v1["lat"] != 37.5 {
		t.Fatalf("v1 = %v", v1)
	}
	var v2 map[string]any
	if err := json.Unmarshal(e.AppendV2(nil, 12.4, true), &v2); err != nil {
		t.Fatalf("v2: %v", err)
	}
	if v2["stock_at"] != "2020-03-11T08:00:00+09:00" || v2["distance_m"] != 12.0 {
		t.Fatalf("v2 = %v", v2)
	}
	// Never stocked: null stock fields (2020 behaviour).
	u := newEntry(publicmask.Outlet{Code: "2", Type: "01", UpdatedAt: t0}, Address{})
	json.Unmarshal(u.AppendV1(nil), &v1)
	for _, k := range []string{"stock_at", "remain_stat", "created_at"} {
		if v, ok := v1[k]; !ok || v != nil {
			t.Fatalf("unstocked %s = %v (present %v)", k, v, ok)
		}
	}
}

func TestRefresherNotifyPollSubscribe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(500, 4))
	reg := prometheus.NewRegistry()
	r := NewRefresher(src, Options{Registerer: reg, Clock: func() time.Time { return t0.Add(50 * time.Millisecond) }})
	if r.Ready() || r.Current() != nil {
		t.Fatal("ready before Start")
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if !r.Ready() {
		t.Fatal("not ready after Start")
	}
	all, _, _ := src.Outlets(ctx)
	target := all[7]
	sub := r.Subscribe(8, func(e *Entry) bool { return e.Code() == target.Code })
	defer sub.Close()
	slow := r.Subscribe(1, nil) // never read: must be dropped, never block

	target.Stock, target.StockAt, target.UpdatedAt = 3, t0, t0
	target = src.put(target)
	r.Notify([]publicmask.Outlet{target})
	select {
	case batch := <-sub.C:
		if len(batch) != 1 || batch[0].Code() != target.Code || batch[0].Stat() != publicmask.StatFew {
			t.Fatalf("batch %+v", batch)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change delivered")
	}
	if e, _ := r.Current().Lookup(target.Code); e.Stock != 3 {
		t.Fatalf("not visible: %+v", e.Outlet())
	}
	// Many more changes: Notify must keep returning although slow never reads.
	for i := 0; i < 200; i++ {
		o := all[i%len(all)]
		o.Stock = i
		o.StockAt = t0
		r.Notify([]publicmask.Outlet{src.put(o)})
	}
	waitFor(t, func() bool { return slow.Dropped() })
	if !closedSoon(slow.C) {
		t.Fatal("dropped subscription channel not closed")
	}
	// Poll picks up a change nobody notified.
	o := all[20]
	o.Suspended, o.StockAt = true, t0
	o = src.put(o)
	if err := r.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { e, _ := r.Current().Lookup(o.Code); return e.Stat() == publicmask.StatBreak })
	waitFor(t, func() bool { return r.Current().Version() == o.Version })
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		m := mf.GetMetric()[0]
		switch mf.GetName() {
		case "publicmask_snapshot_freshness_seconds":
			// The clock reads 50 ms after each commit.
			if h := m.GetHistogram(); h.GetSampleCount() == 0 || math.Abs(h.GetSampleSum()/float64(h.GetSampleCount())-0.05) > 1e-6 {
				t.Fatalf("freshness: %d samples, sum %v", h.GetSampleCount(), h.GetSampleSum())
			}
		case "publicmask_snapshot_version":
			if m.GetGauge().GetValue() != float64(o.Version) {
				t.Fatalf("version gauge %v, want %d", m.GetGauge().GetValue(), o.Version)
			}
		case "publicmask_snapshot_apply_seconds":
			checkApplyBuckets(t, m.GetHistogram())
		}
	}
	for _, n := range []string{"publicmask_snapshot_freshness_seconds", "publicmask_snapshot_version", "publicmask_snapshot_age_seconds", "publicmask_snapshot_apply_seconds"} {
		if !names[n] {
			t.Fatalf("metric %s missing", n)
		}
	}
}

// checkApplyBuckets: the apply histogram must resolve sub-millisecond
// applies. bench-scale.sh judges the p99 ratio between 26,263 and 540,000
// outlets on it, and a p99 interpolated inside a ×4 bucket swung by 2.7×
// between identical runs.
func checkApplyBuckets(t *testing.T, h *dto.Histogram) {
	t.Helper()
	if h.GetSampleCount() == 0 {
		t.Fatal("apply: no apply observed")
	}
	bs := h.GetBucket()
	if first := bs[0].GetUpperBound(); first > 50e-6 {
		t.Errorf("apply: first bucket %g s: sub-50 µs applies are not told apart", first)
	}
	if last := bs[len(bs)-1].GetUpperBound(); last < 0.5 {
		t.Errorf("apply: last bucket %g s: a slow apply is not placed", last)
	}
	for i := 1; i < len(bs); i++ {
		if ratio := bs[i].GetUpperBound() / bs[i-1].GetUpperBound(); ratio > 2.0001 {
			t.Errorf("apply: bucket %g → %g s (×%.1f): a p99 inside it is guesswork", bs[i-1].GetUpperBound(), bs[i].GetUpperBound(), ratio)
		}
	}
}

// closedSoon reports whether c is closed within a deadline (buffered
// batches are drained first).
func closedSoon(c <-chan []*Entry) bool {
	deadline := time.After(5 * time.Second)
	for {
		select {
		case _, ok := <-c:
			if !ok {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached before deadline")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPollWithLateCommit(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := newFakeSource(synthetic(50, 5))
	r := NewRefresher(src, Options{LateCommitWindow: time.Hour})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	all, _, _ := src.Outlets(ctx)
	// Version v+1 is reserved but commits after v+2 (PostgreSQL sequences).
	a, b := all[1], all[2]
	a.Stock, b.Stock = 1, 2
	a = src.put(a)
	b = src.put(b)
	src.mu.Lock()
	late := src.outlets[a.Code]
	delete(src.outlets, a.Code) // not yet visible
	src.mu.Unlock()
	if err := r.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return r.Current().Version() == b.Version })
	src.mu.Lock()
	src.outlets[a.Code] = late
	src.mu.Unlock()
	if err := r.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { e, _ := r.Current().Lookup(a.Code); return e.Stock == 1 })
}

// loadOutlets reads the April 2020 national list, or makes 26,000
// synthetic outlets when it is absent (the benchmark only needs the size).
func loadOutlets(tb testing.TB) []publicmask.Outlet {
	f, err := os.Open("../../shared/data/outlets-2020/stores-2020-04.csv")
	if err != nil {
		return synthetic(26000, 9)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatal(err)
	}
	var out []publicmask.Outlet
	for i, r := range rows[1:] {
		lat, _ := strconv.ParseFloat(r[4], 64)
		lng, _ := strconv.ParseFloat(r[5], 64)
		out = append(out, publicmask.Outlet{Code: r[0], Name: r[1], Addr: r[2], Type: r[3], Lat: lat, Lng: lng,
			Stock: i % 150, StockAt: t0, UpdatedAt: t0, Version: int64(i + 1)})
	}
	return out
}

// BenchmarkApplyChange is the cost of one snapshot swap (one outlet's stock
// changed) with the national outlet list.
func BenchmarkApplyChange(b *testing.B) {
	all := loadOutlets(b)
	s := build(all, int64(len(all)), t0)
	v := int64(len(all))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		o := s.At(i % s.Len()).Outlet()
		v++
		o.Version, o.Stock = v, i%200
		s, _ = s.apply([]publicmask.Outlet{o}, t0)
	}
	b.ReportMetric(float64(s.Len()), "outlets")
}

// BenchmarkApplyBatch64 applies batches of 64 changes (a busy group commit).
func BenchmarkApplyBatch64(b *testing.B) {
	all := loadOutlets(b)
	s := build(all, int64(len(all)), t0)
	v := int64(len(all))
	batch := make([]publicmask.Outlet, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			o := s.At((i*64 + j*397) % s.Len()).Outlet()
			v++
			o.Version, o.Stock = v, (i+j)%200
			batch[j] = o
		}
		s, _ = s.apply(batch, t0)
	}
}

func BenchmarkBuild(b *testing.B) {
	all := loadOutlets(b)
	b.ReportAllocs()
	for b.Loop() {
		build(all, 1, t0)
	}
}

// The snapshot holds an entry per outlet: 224 bytes is its size class (it
// was 320 with a publicmask.Outlet inside).
func TestEntrySize(t *testing.T) {
	if n := unsafe.Sizeof(Entry{}); n > 224 {
		t.Errorf("an Entry takes %d bytes, over its 224-byte size class", n)
	}
}

// The entries of a registry load lie in blocks of chunkSize, one
// allocation each, in the order of their text (rehome): the collector then
// marks one object per block instead of one per entry (a forced
// collection over 540,000 outlets 3.5× faster, BENCHMARKS.md "Public reads
// (3rd pass)"). And the place index's labels are one string.
func TestRehomeAllocatesBlocks(t *testing.T) {
	outlets := seed.Outlets(seed.Options{Seed: 2020, Count: 3000})
	s := build(outlets, 1, t0)
	// Entries whose text is adjacent in one block are adjacent in memory.
	type ent struct {
		text, addr uintptr
		n          int
	}
	var es []ent
	for i := range s.Len() {
		e := s.At(i)
		es = append(es, ent{uintptr(unsafe.Pointer(unsafe.StringData(e.reg))), uintptr(unsafe.Pointer(e)), len(e.reg)})
	}
	slices.SortFunc(es, func(a, b ent) int { return cmp.Compare(a.text, b.text) })
	adjacent, together := 0, 0
	for k := 1; k < len(es); k++ {
		if es[k].text == es[k-1].text+uintptr(es[k-1].n) { // next in the same text block
			adjacent++
			if es[k].addr == es[k-1].addr+unsafe.Sizeof(Entry{}) {
				together++
			}
		}
	}
	if adjacent < len(es)/2 || together != adjacent {
		t.Fatalf("%d entries, %d next to the previous one's text, %d of them next to its entry", len(es), adjacent, together)
	}
	// The labels of the place index are one string.
	ix := s.reg.places
	lo, hi := ^uintptr(0), uintptr(0)
	size := uintptr(0)
	for _, p := range ix.places {
		a := uintptr(unsafe.Pointer(unsafe.StringData(p.label)))
		lo, hi = min(lo, a), max(hi, a+uintptr(len(p.label)))
		size += uintptr(len(p.label))
	}
	if hi-lo != size {
		t.Fatalf("%d places' labels span %d bytes for %d bytes of labels", len(ix.places), hi-lo, size)
	}
}
