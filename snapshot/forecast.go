package snapshot

import (
	"math"
	"strconv"
	"time"
)

// The sell-out forecast (DESIGN.md §4.2, §6.7) is derived from the change
// feed alone: every outlet row carries its cumulative `sold` count, so each
// change tells how many masks went since the previous one, on any node. The
// rate is an exponentially weighted average over about RateWindow, updated
// when a change is applied (never per request), and the forecast is encoded
// into the outlet's v2 fragment with the rest.

// RateWindow is the time constant of the selling rate's exponential weights.
const RateWindow = 15 * time.Minute

// minSellingRate is the rate (masks per hour) below which an outlet counts
// as not selling: its forecast has a rate but no sell-out time.
const minSellingRate = 1.0

// rate is the state of one outlet's weighted selling rate. The weighted sum
// of sales decays with e^(−age/RateWindow); dividing it by the weight of the
// time observed (RateWindow·(1 − e^(−observed/RateWindow))) makes the rate
// exact for a constant rate from the first change on, instead of starting
// low for the first quarter of an hour.
type rate struct {
	sum   float64 // masks, weighted, as of at
	since int64   // start of observation (unix ns)
	at    int64   // time of the last update (unix ns)
}

// next returns the rate state after a change at t that sold delta masks (a
// cancel gives a negative delta). prevAt is the time of the outlet's
// previous change, used as the start of observation when the rate has none.
func (r rate) next(t time.Time, delta int, prevAt time.Time) rate {
	tn := t.UnixNano()
	if r.at == 0 {
		if delta == 0 {
			return r // nothing sold yet: keep no state
		}
		since := tn
		if !prevAt.IsZero() && prevAt.UnixNano() < tn {
			since = prevAt.UnixNano()
		}
		r = rate{since: since, at: tn}
	}
	if tn > r.at {
		r.sum *= math.Exp(-float64(tn-r.at) / float64(RateWindow))
		r.at = tn
	}
	r.sum = max(r.sum+float64(delta), 0)
	return r
}

// perHour is the selling rate in masks per hour as of the last update.
func (r rate) perHour() float64 {
	if r.at == 0 || r.sum == 0 {
		return 0
	}
	obs := float64(r.at - r.since)
	// At least a minute observed: one sale seen a millisecond after the
	// previous change is not a rate of thousands per hour.
	obs = max(obs, float64(time.Minute))
	w := float64(RateWindow) * -math.Expm1(-obs/float64(RateWindow))
	return r.sum / w * float64(time.Hour)
}

// Forecast is an outlet's selling rate and, while it sells and has stock,
// when it runs out at that rate.
type Forecast struct {
	SalesPerHour float64
	SelloutAt    time.Time // zero: not selling, suspended or empty
}

// Forecast of the entry, as of its last change.
func (e *Entry) Forecast() Forecast {
	f := Forecast{SalesPerHour: math.Round(e.rate.perHour()*10) / 10}
	if e.Suspended || e.Stock <= 0 || e.rate.at == 0 || f.SalesPerHour < minSellingRate {
		return f
	}
	hours := float64(e.Stock) / e.rate.perHour()
	f.SelloutAt = time.Unix(0, e.rate.at).Add(time.Duration(hours * float64(time.Hour))).Truncate(time.Second)
	return f
}

func (e *Entry) appendForecast(b []byte) []byte {
	f := e.Forecast()
	b = append(b, `,"forecast":{"sales_per_hour":`...)
	b = strconv.AppendFloat(b, f.SalesPerHour, 'f', -1, 64)
	b = append(b, `,"sellout_at":`...)
	b = AppendRFC3339(b, f.SelloutAt)
	return append(b, '}')
}

// salesDay counts masks sold per 10 minutes of one Korean day, from the
// changes this node applied (the /overview chart). Immutable once published:
// apply clones it before adding.
type salesDay struct {
	day  int32 // days since the epoch in Korea time; 0 = nothing counted yet
	bins [144]int32
}

func kstDay(t time.Time) (day int32, bin int) {
	sec := t.Unix() + 9*3600
	d := sec / 86400
	if sec < 0 && sec%86400 != 0 {
		d--
	}
	return int32(d), int((sec - d*86400) / 600)
}

func (d *salesDay) clone() *salesDay { c := *d; return &c }

func (d *salesDay) add(t time.Time, n int) {
	if t.IsZero() {
		return
	}
	day, bin := kstDay(t)
	switch {
	case day > d.day:
		*d = salesDay{day: day}
	case day < d.day:
		return // yesterday's late news
	}
	d.bins[bin] += int32(n)
}

// SalesPer10Min returns the masks sold in each 10 minutes of the Korean day
// of now, from midnight to the bin of now, as seen in the changes this node
// applied since it started (a node started at noon has zeros before noon).
func (s *Snapshot) SalesPer10Min(now time.Time) []int {
	day, bin := kstDay(now)
	out := make([]int, bin+1)
	if s.sales != nil && s.sales.day == day {
		for i := range out {
			out[i] = int(s.sales.bins[i])
		}
	}
	return out
}
