package sqlite

import "github.com/publicmask/publicmask"

var _ publicmask.Prefetcher = (*tx)(nil)

// Prefetch implements publicmask.Prefetcher for the idempotency records a
// group commit will look up: one statement for the batch, after which
// Idempotency answers them from memory (ClaimIdempotency then reads
// nothing for a new txn_id). Outlets and person-weeks are answered from
// the writer's copy already (hot.go).
func (t *tx) Prefetch(r publicmask.BatchReads) error {
	if len(r.Idem) == 0 {
		return nil
	}
	m, err := t.Idempotencies(r.Idem) // notes the keys without a record
	if err != nil {
		return err
	}
	for k, rec := range m {
		t.know(k, rec)
	}
	return nil
}

// know keeps a record this transaction read or wrote.
func (t *tx) know(k publicmask.IdemKey, r publicmask.IdemRecord) {
	if t.known == nil {
		t.known = make(map[publicmask.IdemKey]publicmask.IdemRecord)
	}
	t.known[k] = r
}
