package postgres

import (
	"slices"

	"github.com/jackc/pgx/v5/pgtype"
	"github.com/publicmask/publicmask"
)

var _ publicmask.BulkTx = (*tx)(nil)

// LockOutlets implements publicmask.BulkTx: the outlets not seen yet are
// locked by one statement, in code order (the order every batch locks
// in). A batch's chunk names all its outlets to Prefetch, which has then
// locked them with the batch's other outlets: nothing goes out here.
func (t *tx) LockOutlets(codes []string) (map[string]publicmask.Outlet, error) {
	if t.err != nil {
		return nil, t.err
	}
	if t.queueLocks(codes) {
		if err := t.send(); err != nil {
			return nil, err
		}
	}
	out := make(map[string]publicmask.Outlet, len(codes))
	for _, c := range codes {
		if st := t.outlets[c]; st.found {
			out[c] = st.o
		}
	}
	return out, nil
}

// queueLocks queues the locking read of the outlets not seen yet; it
// reports whether there were any.
func (t *tx) queueLocks(codes []string) bool {
	var unseen []string
	for _, c := range codes {
		if _, ok := t.outlets[c]; !ok {
			unseen = append(unseen, c)
		}
	}
	if len(unseen) == 0 {
		return false
	}
	slices.Sort(unseen)
	t.queueLockOutlets(slices.Compact(unseen))
	return true
}

// Idempotencies implements publicmask.BulkTx: like Idempotency, each key's
// outlet is locked first and a record known to this transaction (read
// under that lock, by Prefetch for instance, or written by it) is answered
// from memory; the other records are read by one statement, in the same
// round trip as the locks, and remembered.
func (t *tx) Idempotencies(keys []publicmask.IdemKey) (map[publicmask.IdemKey]publicmask.IdemRecord, error) {
	if t.err != nil {
		return nil, t.err
	}
	var ask []publicmask.IdemKey
	asked := make(map[publicmask.IdemKey]bool)
	for _, k := range keys {
		if _, locked := t.outlets[k.Outlet]; locked {
			if _, known := t.idem[k]; known {
				continue
			}
		}
		if !asked[k] {
			asked[k] = true
			ask = append(ask, k)
		}
	}
	if len(ask) > 0 {
		codes := make([]string, len(ask))
		for i, k := range ask {
			codes[i] = k.Outlet
			t.idem[k] = nil // found records replace it
		}
		t.queueLocks(codes)
		t.queueIdemGets(ask)
		if err := t.send(); err != nil {
			return nil, err
		}
	}
	out := make(map[publicmask.IdemKey]publicmask.IdemRecord, len(keys)) // the ledger adds the list's new records
	for _, k := range keys {
		if r := t.idem[k]; r != nil {
			out[k] = *r
		}
	}
	return out, nil
}

// SaveOutlets implements publicmask.BulkTx. SaveOutlet only queues (the
// rows are written by one statement at commit), so a loop is already
// one round trip.
func (t *tx) SaveOutlets(os []*publicmask.Outlet) error {
	for _, o := range os {
		if err := t.SaveOutlet(o); err != nil {
			return err
		}
	}
	return nil
}

// InsertDeliveries implements publicmask.BulkTx: one statement over arrays.
func (t *tx) InsertDeliveries(ds []*publicmask.Delivery) error {
	if len(ds) == 0 {
		return t.err
	}
	ids, outlets, txns := make([]string, len(ds)), make([]string, len(ds)), make([]string, len(ds))
	qty, at := make([]int64, len(ds)), make([]pgtype.Timestamptz, len(ds))
	for i, d := range ds {
		ids[i], outlets[i], txns[i], qty[i], at[i] = d.ID, d.Outlet, d.TxnID, int64(d.Quantity), tstz(d.At)
	}
	return t.exec(`INSERT INTO deliveries (id, outlet, txn_id, quantity, at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::timestamptz[])`, ids, outlets, txns, qty, at)
}

// PutIdempotencies implements publicmask.BulkTx: the records join the
// buffered ones (one statement over arrays) and this transaction's own
// look-ups see them, as after PutIdempotency.
func (t *tx) PutIdempotencies(rs []publicmask.IdemRecord) error {
	for _, r := range rs {
		if err := t.PutIdempotency(r); err != nil {
			return err
		}
	}
	return t.err
}
