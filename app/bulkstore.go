package app

import (
	"context"

	"github.com/publicmask/publicmask"
)

// bulkStore is a watchedStore whose wrapped store reads tokens in bulk
// (publicmask.TokenReader, PostgreSQL): embedding the Store interface alone
// would hide it, and the ledger would read tokens one at a time. (The
// outlets' bulk check, publicmask.OutletFinder, watchedStore passes on
// itself, with a fallback for any store.)
type bulkStore struct{ *watchedStore }

func (b bulkStore) Tokens(ctx context.Context, hashes []string) (map[string]publicmask.Token, error) {
	return b.Store.(publicmask.TokenReader).Tokens(ctx, hashes)
}

// store is w as the node uses it: with the wrapped store's bulk token
// reads when it has them.
func (w *watchedStore) store() publicmask.Store {
	if _, tokens := w.Store.(publicmask.TokenReader); tokens {
		return bulkStore{w}
	}
	return w
}
