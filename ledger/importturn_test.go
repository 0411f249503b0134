package ledger_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
)

// Import bodies sent at once with the same codes (a client with several
// bodies in flight) are written one after another, each whole: every
// outlet ends with the fields of one import, the one written last, never a
// mix of the bodies' (their chunks were queued side by side before). The
// import written last normally returns last, but its answer also waits for
// the snapshot, so the test does not pin which import it is.
func TestConcurrentImportsWriteWholeBodiesInOrder(t *testing.T) {
	e := testenv.New(t)
	ctx := context.Background()
	const n, bodies = 9000, 3 // five chunks a body
	for round := range 3 {
		var (
			mu   sync.Mutex
			last string
			wg   sync.WaitGroup
		)
		for b := range bodies {
			name := fmt.Sprintf("약국 %d-%d", round, b)
			outlets := make([]publicmask.Outlet, n)
			for i := range outlets {
				outlets[i] = publicmask.Outlet{Code: fmt.Sprintf("5%07d", i), Name: name, Addr: name, Type: publicmask.TypePharmacy, Lat: 37.5, Lng: 127}
			}
			wg.Go(func() {
				if _, err := e.Ledger.ImportOutlets(ctx, outlets); err != nil {
					t.Error(err)
				}
				mu.Lock()
				last = name
				mu.Unlock()
			})
		}
		wg.Wait()
		all, _, err := e.Store.Outlets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]int{}
		for _, o := range all {
			names[o.Name]++
		}
		if len(all) != n || len(names) != 1 {
			t.Fatalf("round %d: %d outlets, names %v; want all %d with one import's name (the last returned: %q)", round, len(all), names, n, last)
		}
	}
	mustVerify(t, e)
}
