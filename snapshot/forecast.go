package snapshot

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
)

// The sell-out forecast (DESIGN.md §4.2, §6.7) is derived from the change
// feed alone: every outlet row carries its cumulative `sold` count, so each
// change tells how many masks went since the previous one, on any node. The
// rate is an exponentially weighted average over about RateWindow, updated
// when a change is applied (never per request), and the forecast is encoded
// into the outlet's v2 fragment with the rest.

// RateWindow is the time constant of the selling rate's exponential
// weights once the outlet has been watched for twice as long; before that
// the window is half the time watched (at least minWindow), so that the
// rate follows a morning that is still ramping up instead of averaging it
// with the quiet before.
const RateWindow = 15 * time.Minute

const minWindow = 5 * time.Second

// minSellingRate is the rate (masks per hour) below which an outlet counts
// as not selling: its forecast has a rate but no sell-out time.
const minSellingRate = 1.0

// An outlet gets a sell-out time once it has been seen selling in at least
// minSalesForSellout changes or for at least minWatchForSellout: one sale
// right after a delivery reads as thousands of masks an hour, and a citizen
// told "gone in 6 minutes" on that evidence would stop trusting the
// forecast. (Sales committed together reach the read model as one change,
// hence the time too.)
const (
	minSalesForSellout = 3
	minWatchForSellout = time.Minute
)

// IdleAfter is how long without a sale makes an outlet "not selling": its
// sellout_at turns null, at its next change or, for an outlet that does
// not change, when the refresher next confirms the snapshot (Expire).
const IdleAfter = 10 * time.Minute

// rate is the state of one outlet's weighted selling rate: the weighted sum
// of the masks sold and the weighted length of the time watched, both
// decayed with e^(−age/window). Their ratio is a weighted average rate that
// is exact for a constant rate from the first change on, instead of
// starting low while the weights fill up.
type rate struct {
	sum    float64 // masks, weighted, as of at
	weight float64 // nanoseconds watched, weighted, as of at
	since  int64   // start of observation (unix ns)
	at     int64   // time of the last update (unix ns)
	last   int64   // time of the last sale (unix ns)
	sales  int32   // sale changes seen (a cancel does not take one back)
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
		r = rate{since: since, at: since}
	}
	d := float64(delta)
	if dt := float64(tn - r.at); dt > 0 {
		w := min(max(float64(tn-r.since)/2, float64(minWindow)), float64(RateWindow))
		grow := w * -math.Expm1(-dt/w) // weight of the interval just ended
		r.sum = r.sum*math.Exp(-dt/w) + max(d, 0)*grow/dt
		r.weight = r.weight*math.Exp(-dt/w) + grow
		r.at = tn
		if d > 0 {
			d = 0
		}
	}
	// The masks sold are spread over the interval they were sold in (so a
	// rate measured right after a sale is not high by that sale); a cancel,
	// or sales at the same instant, count whole.
	r.sum = max(r.sum+d, 0)
	if delta > 0 {
		r.last = max(r.last, tn)
		r.sales++
	}
	return r
}

// seenEnough tells whether the rate rests on enough selling to forecast.
func (r rate) seenEnough() bool {
	return r.sales >= minSalesForSellout || r.at-r.since >= int64(minWatchForSellout)
}

// perHour is the selling rate in masks per hour as of the last update.
func (r rate) perHour() float64 {
	if r.at == 0 || r.sum == 0 {
		return 0
	}
	// At least minWindow watched: one sale seen a millisecond after the
	// previous change is not a rate of thousands per hour.
	return r.sum / max(r.weight, float64(minWindow)) * float64(time.Hour)
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
	// Empty is the remain_stat band, 0–1 masks (DESIGN.md §1.3): one mask
	// left read "empty" beside a sellout_at.
	if e.Suspended || publicmask.RemainStat(e.Stock, false, true) == publicmask.StatEmpty || e.rate.at == 0 || f.SalesPerHour < minSellingRate || e.rate.idle(e.rate.at) ||
		!e.rate.seenEnough() {
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
// changes this node applied (the /overview chart): the growth of each
// outlet's cumulative sold count, so a cancel takes its masks off in the
// bin of the cancel (a bin may read below zero when the sale was counted
// in an earlier one). Immutable once published: apply clones it before
// adding.
type salesDay struct {
	since time.Time // when this node started counting (its first snapshot)
	day   int32     // days since the epoch in Korea time; 0 = nothing counted yet
	bins  [144]int32
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
		*d = salesDay{since: d.since, day: day}
	case day < d.day:
		return // yesterday's late news
	}
	d.bins[bin] += int32(n)
}

// CountingSince is when this node started counting sales (SalesPer10Min).
func (s *Snapshot) CountingSince() time.Time { return s.sales.since }

// SalesPer10Min returns the masks sold in each 10 minutes of the Korean day
// of now, from midnight to the bin of now, as seen in the changes this node
// applied since it started (a node started at noon has zeros before noon).
func (s *Snapshot) SalesPer10Min(now time.Time) []int {
	day, bin := kstDay(now)
	out := make([]int, bin+1)
	if s.sales.day == day {
		for i := range out {
			out[i] = int(s.sales.bins[i])
		}
	}
	return out
}

// SigunguCounts is one 시군구's outlets by band, with the mean position of
// its outlets (for circles on a map).
type SigunguCounts struct {
	Sido    string  `json:"sido"`
	Sigungu string  `json:"sigungu"`
	Lat     float64 `json:"lat"`
	Lng     float64 `json:"lng"`
	StatCounts
}

// BySigungu counts outlets per (시도, 시군구), ordered by 시도 then 시군구;
// outlets whose 시도 or 시군구 is unknown are left out. The counts follow
// the changes (see Snapshot.sgg): this costs in proportion to the 시군구,
// not to the outlets.
func (s *Snapshot) BySigungu() []SigunguCounts {
	out := make([]SigunguCounts, 0, len(s.reg.sgg))
	for k, p := range s.reg.sgg {
		out = append(out, SigunguCounts{Sido: p.sido, Sigungu: p.sigungu, Lat: p.lat, Lng: p.lng, StatCounts: countsOf(s.sgg[k])})
	}
	return out
}

// buildSigungu lists the 시군구 of the outlets (known 시도 and 시군구) in
// summary order, with the mean position of their outlets (and the sums it
// is made of), and the index of each outlet's 시군구 in that list (-1 for
// none).
func buildSigungu(at func(int) *Entry, n int) ([]sggPlace, []coordSum, []int32) {
	// One parse of each outlet's address (Place), keyed by its two names
	// alone, and of holds the order of first sight until the list is
	// sorted: at 540,000 outlets this walk runs after every import body
	// that cannot be merged (merge.go).
	of := make([]int32, n)
	t := sggTally{seen: map[area]int32{}}
	for i := 0; i < n; i++ {
		of[i] = t.add(at(i))
	}
	list, sorted, id := sortSigungu(t.areas, t.sums)
	for i, x := range of {
		if x >= 0 {
			of[i] = id[x]
		}
	}
	return list, sorted, of
}

// sggTally numbers 시군구 in the order of first sight, with the sums of
// their outlets' positions (a rebuild's and a merge's walk alike).
type sggTally struct {
	areas []area
	sums  []coordSum
	seen  map[area]int32
}

// add counts e in its 시군구 and returns the area's number, -1 without one.
func (t *sggTally) add(e *Entry) int32 {
	k, ok := sggArea(e)
	if !ok {
		return -1
	}
	j, ok := t.seen[k]
	if !ok {
		j = int32(len(t.areas))
		t.seen[k] = j
		t.areas = append(t.areas, k)
		t.sums = append(t.sums, coordSum{})
	}
	t.sums[j].add(e.Lat, e.Lng)
	return j
}

// sggArea is the 시군구 an entry counts in, if its 시도 and 시군구 are known.
func sggArea(e *Entry) (area, bool) {
	if e.sido >= nSido {
		return area{}, false
	}
	p := e.Place()
	if p.Sigungu == "" {
		return area{}, false
	}
	return area{p.Sido, p.Sigungu}, true
}

// sortSigungu puts areas (with their sums) in summary order: the list, its
// sums, and for each area its place in the list.
func sortSigungu(areas []area, sums []coordSum) ([]sggPlace, []coordSum, []int32) {
	order := make([]int32, len(areas))
	for j := range order {
		order[j] = int32(j)
	}
	slices.SortFunc(order, func(x, y int32) int {
		a, b := &areas[x], &areas[y]
		if c := cmp.Compare(sidoIndex(a.sido), sidoIndex(b.sido)); c != 0 {
			return c
		}
		return strings.Compare(a.sigungu, b.sigungu)
	})
	list := make([]sggPlace, len(areas))
	sorted := make([]coordSum, len(areas))
	id := make([]int32, len(areas)) // order of first sight → place in list
	for j, x := range order {
		a, c := &areas[x], sums[x]
		// The mean of every outlet's coordinates, as summed before the sums
		// were exact (outlets without coordinates count as 0, 0).
		lat, lng := float64(c.lat)/coordScale/float64(c.n), float64(c.lng)/coordScale/float64(c.n)
		list[j] = sggPlace{sido: a.sido, sigungu: a.sigungu, lat: math.Round(lat*1e5) / 1e5, lng: math.Round(lng*1e5) / 1e5}
		sorted[j] = c
		id[x] = int32(j)
	}
	return list, sorted, id
}

func (r rate) idle(at int64) bool { return at-r.last > int64(IdleAfter) }

// Expire returns the snapshot with the forecasts of outlets that have sold
// nothing for IdleAfter as of now brought up to now (their sellout_at turns
// null), and the entries it changed; s itself when there are none (or, when
// only the marks of chunks without a sell-out time change, a copy with no
// entry changed). Same version: only the derived forecast changes, as the
// as_of of a confirmed snapshot does. It reads only the chunks marked as
// selling: its cost follows the outlets that sell, not the registry.
func (s *Snapshot) Expire(now time.Time) (*Snapshot, []*Entry) {
	tn := now.UnixNano()
	var changed []*Entry
	var ns *Snapshot
	clone := func() {
		if ns == nil {
			ns = &Snapshot{version: s.version, asOf: s.asOf, n: s.n, dir: s.dir, selling: slices.Clone(s.selling),
				reg: s.reg, summary: s.summary, sgg: s.sgg, sales: s.sales}
		}
	}
	for c, marked := range s.selling {
		if !marked {
			continue
		}
		left := false // an entry of the chunk keeps a sell-out time
		for k, e := range s.chunk(c) {
			if e == nil || !e.hasSellout() {
				continue
			}
			if e.rate.at == 0 || !e.rate.idle(tn) {
				left = true
				continue
			}
			clone()
			ne := nextEntry(e.Outlet(), e.Place(), e, e.rate.next(now, 0, time.Time{}))
			ns.set(s, c<<chunkBits+k, ne)
			changed = append(changed, ne)
			left = left || ne.hasSellout()
		}
		if !left {
			clone()
			ns.selling[c] = false
		}
	}
	if ns == nil {
		return s, nil
	}
	return ns.finish(), changed
}

// hasSellout reports whether the entry's forecast has a sell-out time.
func (e *Entry) hasSellout() bool { return !e.Forecast().SelloutAt.IsZero() }
