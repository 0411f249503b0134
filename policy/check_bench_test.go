package policy

import "testing"

// BenchmarkCheck judges a sale on its day and a refused one (not its day:
// NextDate looks ahead), alternately, as a capacity rush's counters send
// them (about one in six refused).
func BenchmarkCheck(b *testing.B) {
	p := Standard()
	at := kst(b, "2020-03-11 09:00:00") // a Wednesday: birth years ending 3 or 8
	ok, refused := []Person{buyer(1983, 2)}, []Person{buyer(1981, 2)}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ps := ok
		if i%2 == 1 {
			ps = refused
		}
		if d := p.Check(at, pharmacy, ps); d.OK != (i%2 == 0) {
			b.Fatal(d)
		}
	}
}
