package app

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

// tokenReaderStore has the bulk reads PostgreSQL has.
type tokenReaderStore struct{ publicmask.Store }

func (tokenReaderStore) MissingOutlets(context.Context, []string) ([]string, error) {
	return []string{"x"}, nil
}
func (tokenReaderStore) Tokens(context.Context, []string) (map[string]publicmask.Token, error) {
	return map[string]publicmask.Token{"h": {}}, nil
}

// The store the node hands the ledger keeps the wrapped store's bulk reads
// (the ledger asserts them: through the wrapper alone it read 5,000
// outlets one statement each to issue their tokens), and has none when
// the wrapped store has none.
func TestWatchedStoreBulkReads(t *testing.T) {
	w := watchStore(context.Background(), tokenReaderStore{}, prometheus.NewRegistry(), slog.Default()).store()
	f, ok := w.(publicmask.OutletFinder)
	tr, ok2 := w.(publicmask.TokenReader)
	if !ok || !ok2 {
		t.Fatalf("bulk reads hidden by the wrapper: OutletFinder %v, TokenReader %v", ok, ok2)
	}
	if m, _ := f.MissingOutlets(context.Background(), []string{"a", "b"}); len(m) != 1 {
		t.Fatal("MissingOutlets not passed on")
	}
	if m, _ := tr.Tokens(context.Background(), nil); len(m) != 1 {
		t.Fatal("Tokens not passed on")
	}
	if _, ok := w.(snapshot.OrderedSource); !ok {
		t.Fatal("OrderedChanges lost")
	}
	plain := watchStore(context.Background(), plainStore{}, prometheus.NewRegistry(), slog.Default()).store()
	if _, ok := plain.(publicmask.TokenReader); ok {
		t.Fatal("a store without bulk reads got them")
	}
}

type plainStore struct{ publicmask.Store }
