package ledger

import (
	"strings"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/rrn"
)

// The bounds of every input the ledger takes, each named once. The HTTP
// layer checks only the shape of a body; these decide what is valid, and
// the counter page is served the ones it needs (OutletView.Limits). The
// quantity and proxy bounds are publicmask.MaxQuantityPerPerson and
// publicmask.MaxProxiesPerSale (DESIGN.md §6.3).
const (
	// maxFutureSkew: a sold_at further ahead of the service clock is refused.
	maxFutureSkew = 5 * time.Minute
	// lateAfter: a sale whose sold_at is less old than this, and that the
	// counter did not send from its offline outbox, is judged live (refused
	// if it breaks a rule); otherwise any client could skip every check by
	// sending sold_at one second in the past.
	lateAfter = time.Minute
	// A delivery is a truck, not a warehouse; a count is what a shelf holds.
	maxDelivery = 100_000
	maxCount    = 100_000
	maxTxnIDLen = 64
)

// Bounds of the lists the ledger returns.
const (
	MaxRecentSales = 200    // an outlet's latest sales
	MaxConflicts   = 10_000 // flagged late sales
)

const txnIDRule = "1–64 characters of A–Z a–z 0–9 . _ : -, and no registration number"

// CheckTxnID validates a client's txn_id (or any client-chosen identifier
// the ledger stores): it must not carry a registration number.
func CheckTxnID(field, id string) error {
	if !validTxnID(id) {
		return publicmask.Errorf(publicmask.EBadRequest, "%s: required, %s", field, txnIDRule)
	}
	return nil
}

func validTxnID(s string) bool {
	if len(s) == 0 || len(s) > maxTxnIDLen {
		return false
	}
	return strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._:-", r))
	}) < 0 && !rrn.Contains(s)
}

// CheckDelivery validates the quantity of a delivery.
func CheckDelivery(qty int) error {
	if qty < 1 || qty > maxDelivery {
		return publicmask.Errorf(publicmask.EBadRequest, "quantity: required, 1–%d", maxDelivery)
	}
	return nil
}

// CheckCount validates a physical count of an outlet's stock.
func CheckCount(count int) error {
	if count < 0 || count > maxCount {
		return publicmask.Errorf(publicmask.EBadRequest, "count: required, 0–%d", maxCount)
	}
	return nil
}
