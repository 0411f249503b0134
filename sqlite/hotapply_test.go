package sqlite

import (
	"fmt"
	"testing"

	"github.com/publicmask/publicmask"
)

// BenchmarkApplyInsertedChunk: the writer's apply after the commit of an
// import chunk of 2,000 new outlets (codes the filter did not know), the
// copy holding 440,000 (an import's fifth body). Each op applies a fresh
// chunk; the fill it starts runs with the timer stopped.
func BenchmarkApplyInsertedChunk(b *testing.B) {
	h := newHot()
	h.codes = newWeekFilter(0)
	for i := range 440_000 {
		h.hold(&publicmask.Outlet{Code: fmt.Sprintf("1%07d", i), Name: "약국", Addr: "서울특별시 중구 세종대로 110", Type: "01", Version: int64(i + 1)})
	}
	const chunk = 2000
	sts := make([]*staged, b.N)
	for n := range sts {
		st := &staged{outlets: make(map[string]publicmask.Outlet, chunk)}
		for i := range chunk {
			o := &publicmask.Outlet{Code: fmt.Sprintf("2%07d", n*chunk+i), Name: "약국", Addr: "서울특별시 중구 세종대로 110", Type: "01", Version: int64(1_000_000 + n*chunk + i)}
			st.outlets[o.Code] = *o
			st.inserted = append(st.inserted, o.Code)
			st.unknown++
		}
		sts[n] = st
	}
	b.ResetTimer()
	for n := range b.N {
		h.apply(sts[n])
		b.StopTimer()
		h.fills.Wait()
		b.StartTimer()
	}
}

// apply skips the look-ups of a transaction's rows only when every row is
// an insert of a code the filter did not know: a transaction that also
// wrote a held row updates that row in the copy, and the inserted rows join
// the copy through their fill either way.
func TestApplyInsertedUnknown(t *testing.T) {
	h := newHot()
	h.codes = newWeekFilter(0)
	held := &publicmask.Outlet{Code: "10000001", Name: "약국", Type: "01", Version: 1}
	h.hold(held)
	for _, mixed := range []bool{false, true} {
		st := &staged{outlets: map[string]publicmask.Outlet{}}
		for i := range 3 {
			o := publicmask.Outlet{Code: fmt.Sprintf("2000000%d-%v", i, mixed), Name: "새 약국", Type: "01", Version: int64(10 + i)}
			st.outlets[o.Code] = o
			st.inserted = append(st.inserted, o.Code)
			st.unknown++
		}
		if mixed {
			o := *held
			o.Version, o.Stock = 20, 7
			st.outlets[o.Code] = o
		}
		h.apply(st)
		h.fills.Wait()
		for code, want := range st.outlets {
			got, ok := h.outlets.get(code)
			if !ok || got.version != want.Version || got.stock != int64(want.Stock) {
				t.Fatalf("mixed %v: %s held %v (%+v), want version %d stock %d", mixed, code, ok, got, want.Version, want.Stock)
			}
		}
	}
}
