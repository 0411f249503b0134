package publicmask

import "testing"

func TestUsageAddRemove(t *testing.T) {
	tests := []struct {
		name    string
		start   Usage
		qty     int
		weekend bool
		added   Usage
	}{
		{"weekday from nothing", Usage{}, 2, false, Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1}},
		{"weekend after a weekday", Usage{Quantity: 2, Purchases: 1, WeekdayPurchases: 1}, 1, true, Usage{Quantity: 3, Purchases: 2, WeekdayPurchases: 1, WeekendPurchases: 1}},
		{"for others only", Usage{Quantity: 1, Purchases: 1, WeekendPurchases: 1}, 0, true, Usage{Quantity: 1, Purchases: 2, WeekendPurchases: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := tt.start
			u.Add(tt.qty, tt.weekend)
			if u != tt.added {
				t.Fatalf("Add(%d, %v) = %+v, want %+v", tt.qty, tt.weekend, u, tt.added)
			}
			u.Remove(tt.qty, tt.weekend)
			if u != tt.start {
				t.Fatalf("Remove after Add = %+v, want %+v", u, tt.start)
			}
		})
	}
	t.Run("never below zero", func(t *testing.T) {
		u := Usage{Quantity: 1, Purchases: 1, WeekdayPurchases: 1}
		u.Remove(3, true)
		if u != (Usage{WeekdayPurchases: 1}) {
			t.Fatalf("got %+v", u)
		}
	})
}
