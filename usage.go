package publicmask

// Usage is a person's purchases so far in one week: what the rules judge a
// new purchase against, and what a person-week row stores.
type Usage struct {
	Quantity         int `json:"quantity"`
	Purchases        int `json:"purchases"`
	WeekdayPurchases int `json:"weekday_purchases"`
	WeekendPurchases int `json:"weekend_purchases"`
}

// Add counts one purchase of qty masks, made on a weekend day or not.
func (u *Usage) Add(qty int, weekend bool) {
	u.Quantity += qty
	u.Purchases++
	if weekend {
		u.WeekendPurchases++
	} else {
		u.WeekdayPurchases++
	}
}

// Remove takes back a purchase that Add counted (a cancelled sale), never
// going below zero: rows may have been rebuilt or purged meanwhile.
func (u *Usage) Remove(qty int, weekend bool) {
	u.Quantity = max(u.Quantity-qty, 0)
	u.Purchases = max(u.Purchases-1, 0)
	if weekend {
		u.WeekendPurchases = max(u.WeekendPurchases-1, 0)
	} else {
		u.WeekdayPurchases = max(u.WeekdayPurchases-1, 0)
	}
}
