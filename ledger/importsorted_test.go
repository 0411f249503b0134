package ledger_test

import (
	"context"
	"fmt"
	"slices"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
)

// An import body in code order is written as it is, without a sorted copy:
// the body is left as the caller gave it, and the store ends with the same
// outlets as from the same body in another order (a code twice included:
// the later row's fields win in both).
func TestImportSortedBodyAsGiven(t *testing.T) {
	ctx := context.Background()
	body := func(name string) []publicmask.Outlet {
		var os []publicmask.Outlet
		for i := range 5000 { // three chunks
			os = append(os, publicmask.Outlet{Code: fmt.Sprintf("6%07d", i), Name: name, Addr: "서울특별시 중구", Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127})
		}
		dup := os[2500]
		dup.Name = name + " 둘째"
		return slices.Insert(os, 2501, dup)
	}
	stored := func(e *testenv.Env) []publicmask.Outlet {
		os, _, err := e.Store.Outlets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.SortFunc(os, func(a, b publicmask.Outlet) int { return cmpCode(a.Code, b.Code) })
		return os
	}
	sorted := body("가")
	given := slices.Clone(sorted)
	a := testenv.New(t)
	if n, err := a.Ledger.ImportOutlets(ctx, sorted); err != nil || n != 5001 { // the code twice: both rows written
		t.Fatalf("import: %d, %v", n, err)
	}
	if !slices.Equal(sorted, given) {
		t.Fatal("the body was changed by its import")
	}
	shuffled := body("가")
	slices.Reverse(shuffled[:2500])
	b := testenv.New(t)
	if n, err := b.Ledger.ImportOutlets(ctx, shuffled); err != nil || n != 5001 { // the code twice: both rows written
		t.Fatalf("import: %d, %v", n, err)
	}
	x, y := stored(a), stored(b)
	if len(x) != 5000 || len(y) != 5000 {
		t.Fatalf("%d and %d outlets stored", len(x), len(y))
	}
	for i := range x {
		if x[i].Code != y[i].Code || x[i].Name != y[i].Name || x[i].Addr != y[i].Addr {
			t.Fatalf("%+v stored from the sorted body, %+v from the other", x[i], y[i])
		}
	}
	if x[2500].Name != "가 둘째" {
		t.Fatalf("%s: %q, want the later row's name", x[2500].Code, x[2500].Name)
	}
}

func cmpCode(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
