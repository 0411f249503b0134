package ledger

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The hand-written encoding of a receipt is byte for byte what
// encoding/json's reflection gives, for ordinary receipts and for the odd
// ones that fall back to it.
func TestStockReceiptJSONMatchesReflection(t *testing.T) {
	type reflective StockReceipt
	seoul := time.FixedZone("KST", 9*3600)
	texts := []string{"", "10000001", "d01HXYZ", "plenty", "약국", "a\"b", `a\b`, "<", ">", "&", "tab\t", "\x7f", "\xff"}
	zones := []*time.Location{time.UTC, seoul, time.FixedZone("odd", 9*3600+30), time.FixedZone("minus", -(3*3600 + 30*60)), time.FixedZone("day", 24*3600)}
	rng := rand.New(rand.NewPCG(19, 2020))
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	for i := range 5000 {
		tm := func() time.Time {
			switch rng.IntN(6) {
			case 0:
				return time.Time{}
			case 1:
				return time.Date(10000+rng.IntN(5), 1, 1, 0, 0, 0, 0, time.UTC)
			}
			return time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)*int64(rng.IntN(2))).In(zones[rng.IntN(len(zones))])
		}
		r := StockReceipt{ID: pick(texts), Outlet: pick(texts), At: tm(), Stock: rng.IntN(2e6) - 1e6, Status: pick(texts), StockAt: tm()}
		if i%2 == 0 { // the common case: plain text and Seoul times
			r.ID, r.Outlet, r.Status = "d01HXYZ", "10000001", "plenty"
			r.At, r.StockAt = time.Unix(rng.Int64N(4e9), rng.Int64N(1e9)).In(seoul), time.Unix(rng.Int64N(4e9), 0).In(seoul)
		}
		want, werr := json.Marshal(reflective(r))
		got, gerr := json.Marshal(r)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("receipt %+v:\n got  %s (%v)\n want %s (%v)", r, got, gerr, want, werr)
		}
		if direct, err := r.MarshalJSON(); werr == nil && (err != nil || !bytes.Equal(direct, want)) {
			t.Fatalf("MarshalJSON itself: %s (%v)", direct, err)
		}
		gotPtr, _ := json.Marshal(&r)
		if !bytes.Equal(gotPtr, want) {
			t.Fatalf("through a pointer: %s", gotPtr)
		}
	}
}

// opHash is written without fmt; the stored hashes of earlier answers must
// not change (a replay compares them).
func TestOpHashUnchanged(t *testing.T) {
	for _, c := range []struct {
		kind, outlet, txn string
		n                 int
		want              string
	}{
		{"delivery", "10000001", "open-10000001", 500, fmt.Sprintf("%x", sha256.Sum256([]byte("delivery\x0010000001\x00open-10000001\x00500")))},
		{"correction", "약국", "", -3, fmt.Sprintf("%x", sha256.Sum256([]byte("correction\x00약국\x00\x00-3")))},
		{"delivery", strings.Repeat("x", 200), "t", 0, fmt.Sprintf("%x", sha256.Sum256([]byte("delivery\x00"+strings.Repeat("x", 200)+"\x00t\x000")))},
	} {
		if got := opHash(c.kind, c.outlet, c.txn, c.n); got != c.want {
			t.Errorf("opHash(%q, %q, %q, %d) = %s, want %s", c.kind, c.outlet, c.txn, c.n, got, c.want)
		}
	}
}
