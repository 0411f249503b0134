package app

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/httpapi"
)

// wholeRegistryRefused fails the test if the banner reads every outlet.
type wholeRegistryRefused struct {
	publicmask.Store
	t *testing.T
}

func (w wholeRegistryRefused) Outlets(ctx context.Context) ([]publicmask.Outlet, int64, error) {
	w.t.Error("the banner read the whole registry")
	return w.Store.Outlets(ctx)
}

// The start-up banner's outlet-token example names a real outlet on every
// role that has a store, without reading the whole registry (it is printed
// before the server accepts connections): the snapshot's first code where
// there is a snapshot, the store's oldest change on a ledger node.
func TestBannerNamesAnOutlet(t *testing.T) {
	ctx := context.Background()
	db := filepath.Join(t.TempDir(), "pm.db")
	example := regexp.MustCompile(`"outlet\\?":\\?"([^"\\]+)\\?"`)
	for _, role := range []string{httpapi.RoleAll, httpapi.RoleLedger} {
		t.Run(role, func(t *testing.T) {
			n, err := Open(ctx, Config{
				DB: db, Role: role, Seed: "demo", AdminToken: "banner-admin-token-0123456789",
				Clock: "2020-03-11T10:00:00+09:00", Logger: slog.New(slog.DiscardHandler), Out: io.Discard,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close(ctx)
			var out bytes.Buffer
			n.cfg.Out = &out
			store := n.Store
			n.Store = wholeRegistryRefused{store, t}
			n.banner("http://127.0.0.1:1")
			n.Store = store
			m := example.FindStringSubmatch(out.String())
			if m == nil {
				t.Fatalf("no outlet code in the banner:\n%s", out.String())
			}
			if _, err := n.Store.Outlet(ctx, m[1]); err != nil {
				t.Fatalf("the banner's outlet %q is not in the store: %v", m[1], err)
			}
			if n.Refresher != nil {
				if first := n.Refresher.Current().At(0).Code(); m[1] != first {
					t.Errorf("banner names %q, want the snapshot's first code %q", m[1], first)
				}
			}
		})
	}
}
