package ledger

import "time"

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
	// SoldAt is set for late sales from an offline outbox: the rules apply
	// at that instant. Zero for a live sale (the ledger's clock decides).
	SoldAt time.Time
	// BodyHash identifies the request body for idempotency; the HTTP layer
	// hashes the canonical body. Empty: the ledger hashes the fields.
	BodyHash string
}

// Receipt is the answer to an accepted sale; it is stored with the txn_id
// and returned again, byte for byte, on a retry.
type Receipt struct {
	SaleID   string        `json:"sale_id"`
	SoldAt   time.Time     `json:"sold_at"`
	Items    []ReceiptItem `json:"items"`
	Outlet   StockView     `json:"outlet"`
	Conflict string        `json:"conflict,omitempty"`
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

// CheckResult answers a purchase check.
type CheckResult struct {
	Eligible bool          `json:"eligible"`
	Persons  []CheckPerson `json:"persons"`
}

// CheckPerson is one person's verdict.
type CheckPerson struct {
	Role              string  `json:"role"`
	Eligible          bool    `json:"eligible"`
	Reason            *string `json:"reason"`
	RemainingThisWeek *int    `json:"remaining_this_week"`
	NextDate          *string `json:"next_date"`
}

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
	Checked    struct {
		Outlets     int `json:"outlets"`
		Sales       int `json:"sales"`
		PersonWeeks int `json:"person_weeks"`
		Conflicts   int `json:"conflicts"`
	} `json:"checked"`
}
