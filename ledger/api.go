package ledger

import (
	"encoding/json"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn"
)

// PersonInput is one person a buyer buys for, as the outlet sent it. ID is
// the raw registration number: it is parsed and keyed at once and goes no
// further.
type PersonInput struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	Quantity int    `json:"quantity"`
}

// SaleRequest is one purchase at an outlet.
type SaleRequest struct {
	Outlet     string
	TxnID      string
	Buyer      string
	Quantity   int
	OnBehalfOf []PersonInput
	// SoldAt is when the masks were handed over; zero: now. A sale whose
	// SoldAt is more than a minute old, or that is Offline, is a late sale
	// (DESIGN.md §4.3): judged at SoldAt, recorded even if it breaks a
	// rule, and flagged.
	SoldAt time.Time
	// Offline: the counter queued the sale in its outbox while it could
	// not reach the server, and handed the masks over.
	Offline bool
}

// Receipt is the answer to an accepted sale; it is stored with the txn_id
// and returned again, byte for byte, on a retry.
type Receipt struct {
	SaleID string        `json:"sale_id"`
	SoldAt time.Time     `json:"sold_at"`
	Items  []ReceiptItem `json:"items"`
	Outlet StockView     `json:"outlet"`
	Late   bool          `json:"late,omitempty"`
	// Conflict is the first reason a late sale is flagged with, and
	// ConflictReasons all of them.
	Conflict        string   `json:"conflict,omitempty"`
	ConflictReasons []string `json:"conflict_reasons,omitempty"`

	raw []byte // the stored first answer, byte for byte
}

// JSON returns the receipt's JSON as recorded (what MarshalJSON returns),
// or nil for a receipt that was not recorded.
func (r *Receipt) JSON() []byte { return r.raw }

// MarshalJSON returns the receipt exactly as first stored (DESIGN.md §6.6).
func (r *Receipt) MarshalJSON() ([]byte, error) {
	if r.raw != nil {
		return r.raw, nil
	}
	type plain Receipt
	return json.Marshal((*plain)(r))
}

// ReceiptItem is one person's share of a sale.
type ReceiptItem struct {
	Role              string `json:"role"`
	Quantity          int    `json:"quantity"`
	RemainingThisWeek *int   `json:"remaining_this_week"` // null: no limit
}

// StockView is an outlet's stock after an operation.
type StockView struct {
	Stock      int    `json:"stock"`
	RemainStat string `json:"remain_stat"`
}

// CheckResult answers a purchase check: the verdict the same sale would
// get. Reason is the code a sale would be refused with (for a late sale: the
// first reason it would be flagged with), null when eligible.
type CheckResult struct {
	Eligible        bool          `json:"eligible"`
	Reason          *string       `json:"reason"`
	Persons         []CheckPerson `json:"persons"`
	Late            bool          `json:"late,omitempty"`
	ConflictReasons []string      `json:"conflict_reasons,omitempty"`
}

// CheckPerson is one person's verdict.
type CheckPerson = publicmask.PersonVerdict

// StockReceipt answers a delivery or a count correction.
type StockReceipt struct {
	ID      string    `json:"id"`
	Outlet  string    `json:"outlet"`
	At      time.Time `json:"at"`
	Stock   int       `json:"stock"`
	Status  string    `json:"remain_stat"`
	StockAt time.Time `json:"stock_at"`
}

// CancelReceipt answers a cancellation.
type CancelReceipt struct {
	SaleID      string    `json:"sale_id"`
	CancelledAt time.Time `json:"cancelled_at"`
	Outlet      StockView `json:"outlet"`
}

// OutletView is what an outlet sees of itself.
type OutletView struct {
	Code       string     `json:"code"`
	Name       string     `json:"name"`
	Addr       string     `json:"addr"`
	Type       string     `json:"type"`
	Lat        float64    `json:"lat"`
	Lng        float64    `json:"lng"`
	Stock      int        `json:"stock"`
	RemainStat *string    `json:"remain_stat"`
	Suspended  bool       `json:"suspended"`
	SoldToday  int        `json:"sold_today"`
	StockAt    *time.Time `json:"stock_at"`
	UpdatedAt  *time.Time `json:"updated_at"`

	// What the counter page needs to refuse locally what the server would
	// refuse (DESIGN.md §6.3).
	Limits          Limits                 `json:"limits"`
	ProxyCategories []policy.ProxyCategory `json:"proxy_categories"` // allowed today, with birth-year bounds
	IDCheck         rrn.Rules              `json:"id_check"`
}

// Limits are the bounds of one sale.
type Limits struct {
	MaxQuantityPerPerson int `json:"max_quantity_per_person"`
	MaxProxies           int `json:"max_proxies"`
	// LateWindowSeconds: an outbox sale older than this is refused
	// (late_sale_too_old), so the counter may drop it.
	LateWindowSeconds int `json:"late_window_seconds"`
	// The largest delivery and stock count the ledger takes.
	MaxDelivery int `json:"max_delivery"`
	MaxCount    int `json:"max_count"`
}

// DeliveryRequest is one line of a distributor's delivery list.
type DeliveryRequest struct {
	Outlet   string `json:"outlet"`
	Quantity int    `json:"quantity"`
	TxnID    string `json:"txn_id"`
}

// Violation is one broken invariant found by Verify.
type Violation struct {
	Kind    string `json:"kind"`
	Outlet  string `json:"outlet,omitempty"`
	Sale    string `json:"sale,omitempty"`
	Person  string `json:"person,omitempty"` // person key prefix, never a raw ID
	Week    string `json:"week,omitempty"`
	Message string `json:"message"`
}

// VerifyReport is the result of GET /api/v2/admin/verify.
type VerifyReport struct {
	OK         bool        `json:"ok"`
	Violations []Violation `json:"violations"`
	// Conflicts counts the flagged late sales (not cancelled) inside the
	// retention window: listed by the conflicts review, not violations.
	Conflicts int `json:"conflicts"`
	Checked   struct {
		Outlets     int `json:"outlets"`
		Sales       int `json:"sales"`
		PersonWeeks int `json:"person_weeks"`
		Conflicts   int `json:"conflicts"`
	} `json:"checked"`
}
