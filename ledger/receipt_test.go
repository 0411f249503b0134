package ledger

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// TestReceiptEncodingIsJSONMarshal: the hand-written encoder writes what
// json.Marshal writes for every receipt, tricky strings and times included,
// since a replay must return the first answer byte for byte.
func TestReceiptEncodingIsJSONMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2020))
	strs := []string{"", "s0123456789abcdef", "adult", "proxy_child", "few", "plenty", "break", "weekday_rule", "a\"b", `a\b`, "<&>", "a<b", "é약국", "\x00\x1f", "\u2028", "\x7f", "\xff"}
	str := func() string { return strs[rng.IntN(len(strs))] }
	zones := []*time.Location{publicmask.Seoul, time.UTC, time.FixedZone("odd", 5*3600+30*60+17), time.FixedZone("west", -9*3600)}
	times := []time.Time{
		time.Date(2020, 3, 11, 8, 0, 0, 0, time.UTC),
		time.Date(2020, 3, 11, 8, 0, 1, 123456000, time.UTC),
		time.Date(2020, 3, 11, 8, 0, 1, 100000000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		{},
	}
	for i := range 5000 {
		r := &Receipt{
			SaleID: str(), SoldAt: times[rng.IntN(len(times))].In(zones[rng.IntN(len(zones))]),
			Outlet: StockView{Stock: rng.IntN(2000) - 5, RemainStat: str()},
			Late:   rng.IntN(2) == 0, Conflict: str(),
		}
		if n := rng.IntN(4); n > 0 {
			r.Items = []ReceiptItem{}
			for range n - 1 {
				it := ReceiptItem{Role: str(), Quantity: rng.IntN(7) - 1}
				if rng.IntN(3) > 0 {
					rem := rng.IntN(5) - 1
					it.RemainingThisWeek = &rem
				}
				r.Items = append(r.Items, it)
			}
		}
		for range rng.IntN(3) {
			r.ConflictReasons = append(r.ConflictReasons, str())
		}
		if i%7 == 0 {
			r.ConflictReasons = []string{}
		}
		type plain Receipt
		want, wantErr := json.Marshal((*plain)(r))
		got, err := r.encode()
		if (err != nil) != (wantErr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("receipt %+v:\n got %s (%v)\nwant %s (%v)", r, got, err, want, wantErr)
		}
	}
}
