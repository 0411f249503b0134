package publicmask

import (
	"errors"
	"fmt"
)

// Error codes of the external contract (DESIGN.md §4). The HTTP adapter maps
// each to its status; the domain only speaks in codes.
const (
	EBadRequest       = "bad_request"
	EAmbiguousAddress = "ambiguous_address" // 400: the address names several places (candidates listed)
	EInvalidID        = "invalid_id"
	EUnauthorized     = "unauthorized"
	EForbidden        = "forbidden"
	ENotFound         = "not_found"
	ETxnConflict      = "txn_conflict"
	EBodyTooLarge     = "body_too_large"
	ENotEligibleToday = "not_eligible_today"
	EQuotaExceeded    = "quota_exceeded"
	EOutOfStock       = "out_of_stock"
	ESalesSuspended   = "sales_suspended"
	ESalesClosed      = "sales_closed"
	EOutletClosed     = "outlet_closed"
	EProxyNotAllowed  = "proxy_not_allowed"
	ELateSaleTooOld   = "late_sale_too_old"
	ERateLimited      = "rate_limited"
	EOverloaded       = "overloaded"
	EStoreUnavailable = "store_unavailable"
	EInternal         = "internal"
)

// Error is an error the user is meant to see: a contract code and a message
// that is safe to show (it never contains a raw buyer ID).
type Error struct {
	Code    string
	Message string
	// Persons, on a refused purchase, is the verdict on each person of it
	// (buyer first), so that a refusal names who was refused, why and when
	// they may buy next.
	Persons []PersonVerdict
}

// PersonVerdict is the judgement on one person of a purchase, as the check
// and a refused sale report it (DESIGN.md §4.3).
type PersonVerdict struct {
	Role     string  `json:"role"` // "buyer" or "proxy"
	Eligible bool    `json:"eligible"`
	Reason   *string `json:"reason"`
	// RemainingThisWeek is the masks the person may still buy this week
	// under both the quantity and the purchase-count rules; null = no limit.
	RemainingThisWeek *int    `json:"remaining_this_week"`
	NextDate          *string `json:"next_date"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the contract code of err, or EInternal for errors that
// were not meant for users.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	}
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-facing message of err; internal errors get a
// generic message so that no internal detail leaks.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
