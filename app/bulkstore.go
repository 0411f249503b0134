package app

import (
	"context"

	"github.com/publicmask/publicmask"
)

// bulkStore is a watchedStore whose wrapped store reads outlets and tokens
// in bulk (publicmask.OutletFinder and publicmask.TokenReader, PostgreSQL):
// embedding the Store interface alone would hide them, and the ledger
// would read outlets and tokens one at a time.
type bulkStore struct{ *watchedStore }

func (b bulkStore) MissingOutlets(ctx context.Context, codes []string) ([]string, error) {
	return b.Store.(publicmask.OutletFinder).MissingOutlets(ctx, codes)
}

func (b bulkStore) Tokens(ctx context.Context, hashes []string) (map[string]publicmask.Token, error) {
	return b.Store.(publicmask.TokenReader).Tokens(ctx, hashes)
}

// store is w as the node uses it: with the wrapped store's bulk reads when
// it has them.
func (w *watchedStore) store() publicmask.Store {
	_, finder := w.Store.(publicmask.OutletFinder)
	_, tokens := w.Store.(publicmask.TokenReader)
	if finder && tokens {
		return bulkStore{w}
	}
	return w
}
