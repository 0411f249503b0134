package app

import "testing"

func TestMemoryLimitFor(t *testing.T) {
	const base = 192 << 20
	for _, c := range []struct {
		outlets int
		want    int64
	}{
		{0, base},
		{nationalOutlets, base},
		{nationalOutlets + 1, base + perOutletAllowance},
		{540_000, base + (540_000-nationalOutlets)*perOutletAllowance},
	} {
		if got := memoryLimitFor(base, c.outlets); got != c.want {
			t.Errorf("%d outlets: %d, want %d", c.outlets, got, c.want)
		}
	}
}
