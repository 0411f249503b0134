package httpapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/publicmask/publicmask/ledger"
)

// The hand-written answer of a delivery list is byte for byte what
// json.Marshal gives for {"results": out}: recorded lines, refusals, lines
// whose text needs escaping, a receipt with an odd time.
func TestDeliveryResultsMatchReflection(t *testing.T) {
	seoul := time.FixedZone("KST", 9*3600)
	rng := rand.New(rand.NewPCG(19, 5))
	texts := []string{"10000001", "open-10000001", "", "a<b", "약국", "q\"uote", "x&y"}
	var out []deliveryLineOut
	for i := range 3000 {
		l := deliveryLineOut{Outlet: texts[rng.IntN(len(texts))], TxnID: texts[rng.IntN(len(texts))]}
		switch rng.IntN(5) {
		case 0:
			l.Error = &errorDetail{Code: "not_found", Message: `outlet "x<y" not found`}
		case 1:
			l.OK = true
			l.Receipt = &ledger.StockReceipt{ID: "d<odd>", Outlet: l.Outlet, At: time.Unix(int64(i), 0).In(time.FixedZone("odd", 9*3600+30)), Stock: i}
		default:
			l.OK = true
			l.Receipt = &ledger.StockReceipt{ID: "d01JABC", Outlet: l.Outlet, At: time.Unix(int64(i)*7919, int64(i)).In(seoul),
				Stock: 500 + i, Status: "plenty", StockAt: time.Unix(int64(i)*7919, 0).In(seoul)}
		}
		out = append(out, l)
		want, werr := json.Marshal(map[string]any{"results": out})
		got, gerr := deliveryResults(out)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("after line %d %+v:\n got  %.300s (%v)\n want %.300s (%v)", i, l, got, gerr, want, werr)
		}
		if werr != nil {
			t.Fatal(werr)
		}
		if len(out) > 40 {
			out = out[:0] // keep the comparison cheap: short lists, many of them
		}
	}
}
