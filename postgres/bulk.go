package postgres

import (
	"errors"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/publicmask/publicmask"
)

var _ publicmask.BulkTx = (*tx)(nil)

// LockOutlets implements publicmask.BulkTx: the locking reads of the
// outlets not seen yet go out in code order (the order every batch locks
// in), in one round trip.
func (t *tx) LockOutlets(codes []string) (map[string]publicmask.Outlet, error) {
	if t.err != nil {
		return nil, t.err
	}
	if err := t.queueLocks(codes); err != nil {
		return nil, err
	}
	out := make(map[string]publicmask.Outlet, len(codes))
	for _, c := range codes {
		if st := t.outlets[c]; st.found {
			out[c] = st.o
		}
	}
	return out, nil
}

// queueLocks locks the outlets not seen yet and sends the queue.
func (t *tx) queueLocks(codes []string) error {
	var unseen []string
	for _, c := range codes {
		if _, ok := t.outlets[c]; !ok {
			unseen = append(unseen, c)
		}
	}
	slices.Sort(unseen)
	for _, c := range slices.Compact(unseen) {
		t.queueLockOutlet(c)
	}
	return t.send()
}

// Idempotencies implements publicmask.BulkTx: like Idempotency, each key's
// outlet is locked first, and all the reads share one round trip.
func (t *tx) Idempotencies(keys []publicmask.IdemKey) (map[publicmask.IdemKey]publicmask.IdemRecord, error) {
	if t.err != nil {
		return nil, t.err
	}
	codes := make([]string, len(keys))
	for i, k := range keys {
		codes[i] = k.Outlet
	}
	if err := t.queueLocks(codes); err != nil {
		return nil, err
	}
	out := make(map[publicmask.IdemKey]publicmask.IdemRecord, len(keys)) // the ledger adds the list's new records
	for _, k := range keys {
		t.queue(sqlIdemGet, k.Outlet, k.TxnID).QueryRow(func(row pgx.Row) error {
			r := publicmask.IdemRecord{Outlet: k.Outlet, TxnID: k.TxnID}
			var created pgtype.Timestamptz
			err := row.Scan(&r.BodyHash, &r.Response, &created)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				return err
			}
			r.CreatedAt = fromTstz(created)
			out[k] = r
			return nil
		})
	}
	if err := t.send(); err != nil {
		return nil, err
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

// PutIdempotencies implements publicmask.BulkTx: one statement over arrays.
func (t *tx) PutIdempotencies(rs []publicmask.IdemRecord) error {
	if len(rs) == 0 {
		return t.err
	}
	outlets, txns, hashes := make([]string, len(rs)), make([]string, len(rs)), make([]string, len(rs))
	resp, at := make([][]byte, len(rs)), make([]pgtype.Timestamptz, len(rs))
	for i, r := range rs {
		outlets[i], txns[i], hashes[i], resp[i], at[i] = r.Outlet, r.TxnID, r.BodyHash, r.Response, tstz(r.CreatedAt)
	}
	return t.exec(`INSERT INTO idempotency (outlet, txn_id, body_hash, response, created_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::timestamptz[])`, outlets, txns, hashes, resp, at)
}
