package ledger

import (
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testdata"
)

func TestActivitySpans(t *testing.T) {
	var a activity
	t0 := time.Date(2020, 3, 11, 9, 0, 0, 0, time.UTC)
	minute := func(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }
	// Requests at 0, 0.5, 0.9 (one stretch), then 5 and 30.
	for _, m := range []float64{0, 0.5, 0.9, 5, 30} {
		a.note(1, minute(m), 7*24*time.Hour)
	}
	for _, c := range []struct {
		after, until float64
		want         bool
	}{
		{-1, 0, true}, {0, 0.2, true}, {0.9, 4.9, false}, {1, 5, true}, {5, 29, false}, {29, 31, true}, {31, 60, false},
	} {
		if got := a.seen(1, minute(c.after), minute(c.until)); got != c.want {
			t.Errorf("seen((%v, %v]) = %v, want %v", c.after, c.until, got, c.want)
		}
	}
	// A request noted late (concurrent requests) extends a stretch
	// instead of wiping the history.
	a.note(1, minute(29.5), 7*24*time.Hour)
	if !a.seen(1, minute(0), minute(0.2)) || !a.seen(1, minute(29.4), minute(29.6)) {
		t.Error("an out-of-order request lost the history or was not kept")
	}
	if a.seen(2, minute(-1), minute(60)) {
		t.Error("an outlet never seen was seen")
	}
	// Stretches older than the window are forgotten.
	a.note(1, t0.Add(8*24*time.Hour), 7*24*time.Hour)
	if a.seen(1, minute(-1), minute(60)) {
		t.Error("a stretch older than the window is still remembered")
	}
}

// refActivity is the activity record as it was before the 31st session (a
// sync.Map by code of time.Time spans): the semantics the dense table must
// keep, and the old side of the benchmarks.
type refActivity struct {
	outlets sync.Map // code → *refOutlet
}

type refOutlet struct {
	mu    sync.Mutex
	spans []refSpan
}

type refSpan struct{ from, to time.Time }

func (a *refActivity) note(outlet string, at time.Time, keep time.Duration) {
	v, ok := a.outlets.Load(outlet)
	if !ok {
		v, _ = a.outlets.LoadOrStore(outlet, &refOutlet{})
	}
	oa := v.(*refOutlet)
	oa.mu.Lock()
	defer oa.mu.Unlock()
	if n := len(oa.spans); n > 0 {
		last := &oa.spans[n-1]
		switch {
		case at.Before(last.from.Add(-activityGap)):
			oa.spans = oa.spans[:0]
		case at.Before(last.from):
			last.from = at
			return
		case !at.After(last.to):
			return
		case at.Sub(last.to) < activityGap:
			last.to = at
			return
		}
	}
	oa.spans = append(oa.spans, refSpan{at, at})
	drop := 0
	for drop < len(oa.spans)-1 && (oa.spans[drop].to.Before(at.Add(-keep)) || len(oa.spans)-drop > maxSpans) {
		drop++
	}
	if drop > 0 {
		oa.spans = append(oa.spans[:0], oa.spans[drop:]...)
	}
}

func (a *refActivity) seen(outlet string, after, until time.Time) bool {
	v, ok := a.outlets.Load(outlet)
	if !ok {
		return false
	}
	oa := v.(*refOutlet)
	oa.mu.Lock()
	defer oa.mu.Unlock()
	for _, s := range oa.spans {
		if s.to.After(after) && !s.from.After(until) {
			return true
		}
	}
	return false
}

func (a *refActivity) spans(outlet string) []span {
	v, ok := a.outlets.Load(outlet)
	if !ok {
		return nil
	}
	var out []span
	for _, s := range v.(*refOutlet).spans {
		out = append(out, span{s.from.UnixNano(), s.to.UnixNano()})
	}
	return out
}

// spans are all of ref's stretches in time order.
func (a *activity) spans(ref OutletRef) []span {
	r := a.record(ref, false)
	if r == nil || !r.live {
		return nil
	}
	var out []span
	if r.older != nil {
		out = append(out, *r.older...)
	}
	return append(out, r.cur)
}

// TestActivityMatchesReference: on random sequences of notes — mostly
// forward, some out of order (concurrent requests), some with the clock
// set backwards or jumping past the window — the dense table keeps the
// same stretches as the old record and answers every seen alike.
func TestActivityMatchesReference(t *testing.T) {
	codes := []string{"a", "b", "c"}
	for seed := range uint64(300) {
		rng := rand.New(rand.NewPCG(seed, 31))
		var a activity
		var ref refActivity
		keep := []time.Duration{publicmask.MaxLateWindow, 10 * time.Minute, 3 * time.Minute}[seed%3]
		now := time.Date(2020, 3, 11, 9, 0, 0, 0, publicmask.Seoul)
		// dur is a random duration below d: on a grid of 15 s for half the
		// seeds, so that instants meet the gap's and the window's edges.
		dur := func(d time.Duration) time.Duration {
			if seed%2 == 0 {
				return time.Duration(rng.Int64N(int64(d/(15*time.Second)))) * 15 * time.Second
			}
			return time.Duration(rng.Int64N(int64(d)))
		}
		for step := range 400 {
			switch x := rng.IntN(100); {
			case x < 60: // the next request, often within a stretch
				now = now.Add(dur(90 * time.Second))
			case x < 75: // noted out of order
				now = now.Add(-dur(2 * time.Minute))
			case x < 80: // the clock set backwards
				now = now.Add(-dur(48 * time.Hour))
			case x < 85: // a jump ahead, past the window at times
				now = now.Add(dur(9 * 24 * time.Hour))
			case x < 90: // the same instant again
			default:
				now = now.Add(dur(20 * time.Minute))
			}
			i := rng.IntN(len(codes))
			a.note(OutletRef(i+1), now, keep)
			ref.note(codes[i], now, keep)
			for j, c := range codes {
				if got, want := a.spans(OutletRef(j+1)), ref.spans(c); !equalSpans(got, want) {
					t.Fatalf("seed %d step %d outlet %s: spans %v, want %v", seed, step, c, got, want)
				}
			}
			for range 4 {
				j := rng.IntN(len(codes))
				after := now.Add(-dur(72 * time.Hour))
				if rng.IntN(4) == 0 {
					after = now.Add(-dur(3 * time.Minute))
				}
				until := after.Add(dur(72 * time.Hour))
				if got, want := a.seen(OutletRef(j+1), after, until), ref.seen(codes[j], after, until); got != want {
					t.Fatalf("seed %d step %d: seen(%s, %v, %v) = %v, want %v", seed, step, codes[j], after, until, got, want)
				}
			}
		}
	}
}

func equalSpans(a, b []span) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestActivityMaxSpans: an outlet that polls just over the gap all week
// keeps maxSpans stretches, the latest, as before.
func TestActivityMaxSpans(t *testing.T) {
	var a activity
	var ref refActivity
	now := time.Date(2020, 3, 11, 9, 0, 0, 0, time.UTC)
	for range maxSpans + 300 {
		now = now.Add(activityGap + time.Second)
		a.note(7, now, publicmask.MaxLateWindow)
		ref.note("x", now, publicmask.MaxLateWindow)
	}
	got := a.spans(7)
	if len(got) != maxSpans || got[len(got)-1].to != now.UnixNano() || !equalSpans(got, ref.spans("x")) {
		t.Fatalf("%d stretches, last %v; want %d as the old record's, last at %v", len(got), got[len(got)-1], maxSpans, now)
	}
}

// TestActivityConcurrent: notes of many outlets (several chunks, made
// while others note) from several goroutines at once are all kept (run
// with -race).
func TestActivityConcurrent(t *testing.T) {
	var a activity
	t0 := time.Date(2020, 3, 11, 9, 0, 0, 0, time.UTC)
	const outlets = 3*actChunk + 17
	// Each outlet: one stretch from t0 on and one an hour later, each
	// noted by four goroutines at once, a second apart.
	for _, base := range []time.Time{t0, t0.Add(time.Hour)} {
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range outlets {
					if ref := OutletRef((i*7 + g*311) % outlets); ref != 0 {
						a.note(ref, base.Add(time.Duration(g)*time.Second), 24*time.Hour)
					}
				}
			})
		}
		wg.Wait()
	}
	for ref := OutletRef(1); ref < outlets; ref++ {
		if !a.seen(ref, t0.Add(-time.Second), t0) || !a.seen(ref, t0.Add(2*time.Second), t0.Add(3*time.Second)) ||
			!a.seen(ref, t0.Add(time.Hour-time.Second), t0.Add(time.Hour)) || a.seen(ref, t0.Add(10*time.Second), t0.Add(time.Hour-time.Second)) ||
			len(a.spans(ref)) != 2 {
			t.Fatalf("outlet %d: spans %v", ref, a.spans(ref))
		}
	}
	if a.seen(outlets+actChunk*5, t0.Add(-time.Hour), t0.Add(time.Hour)) {
		t.Fatal("an outlet never noted was seen")
	}
}

// nationalCodes are the April 2020 outlet list's codes (26,289), in a
// random order, as a rush's requests come.
func nationalCodes(tb testing.TB) []string {
	rows := testdata.CSV(tb, testdata.Path(tb, "outlets-2020/stores-2020-04.csv"))
	codes := make([]string, 0, len(rows))
	for _, r := range rows[1:] {
		codes = append(codes, r[0])
	}
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(codes), func(i, j int) { codes[i], codes[j] = codes[j], codes[i] })
	return codes
}

// BenchmarkNoteActivity is the cost every authenticated outlet request
// pays, at the national outlet count: each request another outlet's (as in
// the rush), its clock a little later, so nearly every note extends the
// outlet's current stretch. old is the sync.Map by code; ref the dense
// table by the token cache's index, as the lean path notes; code the dense
// table by code (NoteActivity: the intern table's look-up first).
func BenchmarkNoteActivity(b *testing.B) {
	codes := nationalCodes(b)
	t0 := time.Date(2020, 3, 11, 9, 0, 0, 0, time.UTC)
	keep := publicmask.MaxLateWindow
	b.Run("old", func(b *testing.B) {
		var a refActivity
		for _, c := range codes {
			a.note(c, t0, keep)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			a.note(codes[i%len(codes)], t0.Add(time.Duration(i)*time.Microsecond), keep)
		}
	})
	b.Run("ref", func(b *testing.B) {
		var l Ledger
		refs := make([]OutletRef, len(codes))
		for i, c := range codes {
			refs[i] = OutletRef(l.tokens.strs.id(c))
			l.activity.note(refs[i], t0, keep)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			l.activity.note(refs[i%len(refs)], t0.Add(time.Duration(i)*time.Microsecond), keep)
		}
	})
	b.Run("code", func(b *testing.B) {
		var l Ledger
		for _, c := range codes {
			l.activity.note(OutletRef(l.tokens.strs.id(c)), t0, keep)
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			c := codes[i%len(codes)]
			l.activity.note(OutletRef(l.tokens.strs.id(c)), t0.Add(time.Duration(i)*time.Microsecond), keep)
		}
	})
}

// TestActivityHeapNational: the records of every national outlet noted
// once (a rush's state) take far less heap than the sync.Map's did, and
// the notes that follow allocate nothing.
func TestActivityHeapNational(t *testing.T) {
	codes := nationalCodes(t)
	t0 := time.Date(2020, 3, 11, 9, 0, 0, 0, time.UTC)
	keep := publicmask.MaxLateWindow
	var l Ledger
	refs := make([]OutletRef, len(codes))
	for i, c := range codes {
		refs[i] = OutletRef(l.tokens.strs.id(c)) // the token cache's, made before
	}
	heap := func() uint64 {
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	h0 := heap()
	old := &refActivity{}
	for _, c := range codes {
		old.note(c, t0, keep)
	}
	h1 := heap()
	for _, r := range refs {
		l.activity.note(r, t0, keep)
	}
	h2 := heap()
	runtime.KeepAlive(old)
	oldB, newB := int64(h1)-int64(h0), int64(h2)-int64(h1)
	t.Logf("%d outlets: old %d B (%.0f an outlet), new %d B (%.0f an outlet)", len(codes), oldB, float64(oldB)/float64(len(codes)), newB, float64(newB)/float64(len(codes)))
	if newB > oldB/3 || newB > int64(len(codes))*64 {
		t.Errorf("new records %d B, old %d B", newB, oldB)
	}
	i := 0
	if n := testing.AllocsPerRun(1000, func() {
		i++
		l.activity.note(refs[i%len(refs)], t0.Add(time.Duration(i)*time.Millisecond), keep) // within the stretch
	}); n != 0 {
		t.Errorf("%v allocations a note", n)
	}
}

// TestNoteActivityRefIsTheOutletsOwn: the OutletRef the token cache gives
// with an outlet's token notes that outlet, and only it; NoteActivity by
// code and by ref fill one record.
func TestNoteActivityRefIsTheOutletsOwn(t *testing.T) {
	var l Ledger
	t0 := time.Date(2020, 3, 11, 9, 0, 0, 0, time.UTC)
	var sums [3][32]byte
	for i, code := range []string{"10000001", "10000002", ""} {
		sums[i][0] = byte(i + 1)
		role := publicmask.RoleOutlet
		if code == "" {
			role = publicmask.RoleAdmin
		}
		l.tokens.put(sums[i], publicmask.Token{Role: role, Outlet: code}, time.Now().Add(time.Hour))
	}
	_, r1, ok1, err1 := l.cachedToken(sums[0])
	_, r2, ok2, err2 := l.cachedToken(sums[1])
	_, r3, _, _ := l.cachedToken(sums[2])
	if !ok1 || !ok2 || err1 != nil || err2 != nil || r1 == 0 || r2 == 0 || r1 == r2 || r3 != 0 {
		t.Fatalf("refs %d %d %d", r1, r2, r3)
	}
	l.activity.note(r2, t0, time.Hour)
	seen := func(code string, after, until time.Time) bool {
		o, ok := l.tokens.strs.lookup(code)
		return ok && l.activity.seen(OutletRef(o), after, until)
	}
	if !seen("10000002", t0.Add(-time.Second), t0) || seen("10000001", t0.Add(-time.Second), t0) {
		t.Fatal("the ref noted another outlet")
	}
	l.activity.note(OutletRef(l.tokens.strs.id("10000001")), t0.Add(time.Minute), time.Hour)
	l.activity.note(r1, t0.Add(90*time.Second), time.Hour)
	if got := l.activity.spans(r1); len(got) != 1 || got[0] != (span{t0.Add(time.Minute).UnixNano(), t0.Add(90 * time.Second).UnixNano()}) {
		t.Fatalf("by code then by ref: %v, want one stretch", got)
	}
	if seen("10000003", t0.Add(-time.Hour), t0.Add(time.Hour)) {
		t.Fatal("an outlet never noted was seen")
	}
}

// TestNoteActivityRefIgnoresUnknownRefs: a ref the intern table never gave
// notes nothing and grows no table (a bogus ref of ~4e9 would otherwise
// make a 4 M-entry chunk table).
func TestNoteActivityRefIgnoresUnknownRefs(t *testing.T) {
	var l Ledger // no clock: a ref that got past the check would panic in Now
	l.tokens.strs.id("10000001")
	for _, o := range []OutletRef{2, 1 << 20, 1<<32 - 1} {
		l.NoteActivityRef(o)
	}
	if p := l.activity.chunks.Load(); p != nil && len(*p) != 0 {
		t.Fatalf("unknown refs made %d activity chunks", len(*p))
	}
}
