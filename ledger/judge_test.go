package ledger

import "testing"

func TestOnlyInStockReadsRight(t *testing.T) {
	for _, c := range []struct {
		stock int
		want  string
	}{
		{-3, "only 0 masks in stock"},
		{0, "only 0 masks in stock"},
		{1, "only 1 mask in stock"},
		{2, "only 2 masks in stock"},
	} {
		if got := onlyInStock(c.stock); got != c.want {
			t.Errorf("onlyInStock(%d) = %q, want %q", c.stock, got, c.want)
		}
	}
}
