// Package publicmask holds the domain types of the national public-mask
// system: outlets, sales, deliveries, tokens and the store contract. It does
// no I/O; adapters (sqlite, postgres, http) live in sub-packages.
package publicmask

import "time"

// Bounds of one purchase (DESIGN.md §6.3): nobody ever had more than a few
// masks a week, so a quantity above MaxQuantityPerPerson is a typo. The
// counter page is served these values, so that it refuses what the server
// would refuse.
const (
	MaxQuantityPerPerson = 10
	MaxProxiesPerSale    = 10
)

// MaxLateWindow is the longest late window a policy may set: a late sale
// older than the window is refused, so no recorded sale was sold longer
// than this before it was recorded.
const MaxLateWindow = 7 * 24 * time.Hour

// Outlet types as in the 2020 open API.
const (
	TypePharmacy = "01"
	TypePost     = "02"
	TypeNonghyup = "03"
)

// ValidOutletType reports whether t is one of the three 2020 outlet types.
func ValidOutletType(t string) bool {
	return t == TypePharmacy || t == TypePost || t == TypeNonghyup
}

// Remain-stat bands of the 2020 API.
const (
	StatPlenty = "plenty" // ≥ 100
	StatSome   = "some"   // 30–99
	StatFew    = "few"    // 2–29
	StatEmpty  = "empty"  // 0–1
	StatBreak  = "break"  // sales suspended
)

// RemainStat maps a stock level to the public band. An outlet that has never
// been stocked has no band (""), which the v1 API shows as null.
func RemainStat(stock int, suspended, stocked bool) string {
	switch {
	case suspended:
		return StatBreak
	case !stocked:
		return ""
	case stock >= 100:
		return StatPlenty
	case stock >= 30:
		return StatSome
	case stock >= 2:
		return StatFew
	default:
		return StatEmpty
	}
}

// Outlet is a registered seller and its live public state.
type Outlet struct {
	Code string
	Name string
	Addr string
	Type string
	Lat  float64
	Lng  float64

	Stock     int
	Suspended bool
	// Sold is the cumulative count of masks sold here (a cancel takes its
	// masks back), so that a node reading only the change feed can derive
	// the selling rate (DESIGN.md §6.7).
	Sold int
	// StockAt is the time of the last delivery; zero if never stocked.
	StockAt time.Time
	// UpdatedAt is the time of the outlet's last change (the v1 created_at).
	UpdatedAt time.Time
	// Version is the global change version of the outlet's last change; the
	// public snapshot follows the store by it.
	Version int64
}

// Stocked reports whether the outlet has ever received stock.
func (o *Outlet) Stocked() bool { return !o.StockAt.IsZero() }

// RemainStat is the outlet's public band.
func (o *Outlet) RemainStat() string { return RemainStat(o.Stock, o.Suspended, o.Stocked()) }
