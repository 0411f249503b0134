package ledger

import (
	"encoding/hex"
	"math"

	"github.com/publicmask/publicmask"
)

// usageTable is what Verify holds of the retention window's person-weeks:
// each as its sales add it up, and whether a row was found for it. The
// sales of a national morning make hundreds of thousands of them; held as
// a map of two strings to a pointer they took about 150 bytes each, three
// heap objects that the collector scans (49 MB for 270,000 after bench.sh's
// rushes: BENCHMARKS.md "RSS after a rush, 2nd pass"). A key of the form the
// ledger writes (32 lowercase hex digits of an HMAC, see rrn.Keyer) is held
// instead as its 16 bytes in a map per week, its counts inline: 28 bytes a
// slot, no pointer, nothing to scan. Any other key, and any count beyond
// what the packed form holds, is held exactly as before in wide, so the
// check stays exact for whatever a store holds.
type usageTable struct {
	packed map[string]map[[16]byte]packedTally // by week
	wide   map[pwKey]*tally
}

// pwKey names a person-week.
type pwKey struct{ person, week string }

// tally is a person-week as the sales add it up.
type tally struct {
	publicmask.Usage
	recorded bool // a person-week row exists for it
}

// packedTally is a Usage whose Purchases are its weekday and weekend
// purchases added up, as Usage.Add keeps them.
type packedTally struct {
	quantity         int32
	weekday, weekend uint16
	recorded         bool
}

func (p packedTally) usage() publicmask.Usage {
	return publicmask.Usage{Quantity: int(p.quantity), Purchases: int(p.weekday) + int(p.weekend),
		WeekdayPurchases: int(p.weekday), WeekendPurchases: int(p.weekend)}
}

// packUsage is u inline, false if it does not fit.
func packUsage(u publicmask.Usage, recorded bool) (packedTally, bool) {
	if u.Quantity < math.MinInt32 || u.Quantity > math.MaxInt32 ||
		u.WeekdayPurchases < 0 || u.WeekdayPurchases > math.MaxUint16 ||
		u.WeekendPurchases < 0 || u.WeekendPurchases > math.MaxUint16 ||
		u.Purchases != u.WeekdayPurchases+u.WeekendPurchases {
		return packedTally{}, false
	}
	return packedTally{int32(u.Quantity), uint16(u.WeekdayPurchases), uint16(u.WeekendPurchases), recorded}, true
}

func newUsageTable() *usageTable {
	return &usageTable{packed: make(map[string]map[[16]byte]packedTally), wide: make(map[pwKey]*tally)}
}

// pack is the packed key of a person; false for a key that is not 32
// lowercase hex digits (hex.Decode would take upper case too, and two
// spellings of one key must stay two keys).
func pack(person string) ([16]byte, bool) {
	var k [16]byte
	if len(person) != 2*len(k) {
		return k, false
	}
	for i := range len(person) {
		if c := person[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return k, false
		}
	}
	_, err := hex.Decode(k[:], []byte(person))
	return k, err == nil
}

// get is a person-week's usage so far (zero if none).
func (t *usageTable) get(person, week string) publicmask.Usage {
	if w := t.wide[pwKey{person, week}]; w != nil {
		return w.Usage
	}
	if k, ok := pack(person); ok {
		return t.packed[week][k].usage()
	}
	return publicmask.Usage{}
}

// add counts one purchase of qty masks for a person-week.
func (t *usageTable) add(person, week string, qty int, weekend bool) {
	if w := t.wide[pwKey{person, week}]; w != nil {
		w.Add(qty, weekend)
		return
	}
	k, ok := pack(person)
	if !ok {
		w := &tally{}
		w.Add(qty, weekend)
		t.wide[pwKey{person, week}] = w
		return
	}
	m := t.packed[week]
	if m == nil {
		m = make(map[[16]byte]packedTally)
		t.packed[week] = m
	}
	p := m[k]
	u := p.usage()
	u.Add(qty, weekend)
	if np, ok := packUsage(u, p.recorded); ok {
		m[k] = np
		return
	}
	delete(m, k)
	t.wide[pwKey{person, week}] = &tally{Usage: u, recorded: p.recorded}
}

// record marks that a person-week has a row and returns what its sales add
// up to (zero if none).
func (t *usageTable) record(person, week string) publicmask.Usage {
	if w := t.wide[pwKey{person, week}]; w != nil {
		w.recorded = true
		return w.Usage
	}
	k, ok := pack(person)
	if !ok {
		return publicmask.Usage{}
	}
	m := t.packed[week]
	p, ok := m[k]
	if !ok {
		return publicmask.Usage{}
	}
	p.recorded = true
	m[k] = p
	return p.usage()
}

// unrecorded calls fn for each person-week with masks sold and no row, the
// person shortened as in a report.
func (t *usageTable) unrecorded(fn func(person, week string, u publicmask.Usage)) {
	for week, m := range t.packed {
		for k, p := range m {
			if !p.recorded && p.quantity > 0 {
				fn(hex.EncodeToString(k[:4]), week, p.usage())
			}
		}
	}
	for k, w := range t.wide {
		if !w.recorded && w.Quantity > 0 {
			fn(short(k.person), k.week, w.Usage)
		}
	}
}
