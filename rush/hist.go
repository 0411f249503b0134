package rush

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Hist is a lock-free latency histogram with log-linear buckets (32
// sub-buckets per power of two, so every percentile is within ~3% of the
// true value) over microseconds. Recording is one atomic add, cheap enough
// to do for every request on the same two cores as the server.
type Hist struct {
	counts [histBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // µs
	max    atomic.Uint64 // µs
}

const (
	subBits     = 5
	subCount    = 1 << subBits // 32
	histMaxExp  = 36           // values are clamped below 2^(36+5) µs: weeks
	histBuckets = 2*subCount + histMaxExp*subCount
)

// bucketOf maps a value in µs to its bucket: values below 64 have a bucket
// each; above, [2^(e+5), 2^(e+6)) is split into 32 equal buckets.
func bucketOf(v uint64) int {
	if v < 2*subCount {
		return int(v)
	}
	e := bits.Len64(v) - (subBits + 1)
	if e > histMaxExp {
		return histBuckets - 1
	}
	return 2*subCount + (e-1)*subCount + int(v>>uint(e)) - subCount
}

// bucketRange is the [lo, hi) of values in bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 2*subCount {
		return uint64(i), uint64(i) + 1
	}
	e := (i-2*subCount)/subCount + 1
	m := uint64((i-2*subCount)%subCount + subCount)
	return m << uint(e), (m + 1) << uint(e)
}

// Record adds one observation.
func (h *Hist) Record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	h.sum.Add(us)
	for {
		m := h.max.Load()
		if us <= m || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// Count is the number of observations.
func (h *Hist) Count() uint64 { return h.n.Load() }

// Max is the largest observation.
func (h *Hist) Max() time.Duration { return time.Duration(h.max.Load()) * time.Microsecond }

// Mean is the average observation.
func (h *Hist) Mean() time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	return time.Duration(h.sum.Load()/n) * time.Microsecond
}

// Quantile returns the q-quantile (0 < q ≤ 1): the midpoint of the bucket
// holding the ⌈q·n⌉-th smallest value, capped at the exact maximum. 0 when
// empty.
func (h *Hist) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	if rank == n {
		return h.Max()
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			lo, hi := bucketRange(i)
			mid := (lo + hi - 1) / 2
			if hi-lo == 1 {
				mid = lo
			}
			return time.Duration(min(mid, h.max.Load())) * time.Microsecond
		}
	}
	return h.Max()
}

// Merge adds o's observations into h (o must not be recorded into
// concurrently).
func (h *Hist) Merge(o *Hist) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
	h.n.Add(o.n.Load())
	h.sum.Add(o.sum.Load())
	for {
		m, om := h.max.Load(), o.max.Load()
		if om <= m || h.max.CompareAndSwap(m, om) {
			break
		}
	}
}

// ms converts a duration to float milliseconds, rounded to µs, for reports.
func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())) / 1000 }
