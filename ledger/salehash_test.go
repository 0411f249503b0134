package ledger

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// fmtSaleHash is saleHash as it was first written: stored records hold
// hashes made this way, so a retry must still hash to the same string.
func fmtSaleHash(req SaleRequest, ps []person) string {
	h := sha256.New()
	fmt.Fprintf(h, "sale\x00%s\x00%s", req.Outlet, req.TxnID)
	for _, p := range ps {
		fmt.Fprintf(h, "\x00%s|%s|%s|%d", p.role, p.key, p.category, p.quantity)
	}
	return hex.EncodeToString(h.Sum(nil))
}

func TestSaleHashUnchanged(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func(max int) string {
		var b strings.Builder
		for range r.IntN(max + 1) {
			b.WriteByte(byte(r.IntN(256)))
		}
		return b.String()
	}
	for i := range 2000 {
		req := SaleRequest{Outlet: str(12), TxnID: str(80)}
		var ps []person
		for range r.IntN(6) {
			ps = append(ps, person{role: str(8), key: str(70), category: str(10), quantity: r.IntN(2000) - 1000})
		}
		if i%7 == 0 { // longer than saleHash's buffer
			req.TxnID = strings.Repeat("x", 600)
		}
		if got, want := saleHash(req, ps), fmtSaleHash(req, ps); got != want {
			t.Fatalf("saleHash(%+v, %+v) = %s, want %s", req, ps, got, want)
		}
	}
}
