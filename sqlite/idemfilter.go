package sqlite

import (
	"database/sql"
	"fmt"
	"hash/maphash"

	"github.com/publicmask/publicmask"
)

// The txn_ids with an idempotency record (in the idempotency table or in a
// sale's or a delivery's row) are kept, like a week's persons (hot.go), in a Bloom filter
// of the writer: a new txn_id — nearly every sale — is then known to have
// no record without a look-up. Looking every key of a batch up in both
// places was 5% of the server's CPU per sale. The filter is built in the
// background from a reader's snapshot, registered before the snapshot
// starts; every record a transaction writes goes into it (or into the
// build's list) before the commit, so it can only err towards "maybe": a
// rolled-back or purged record costs a look-up, never a missed replay.
// Until a build is done every key is a "maybe", looked up as before. A
// failed commit drops it with the rest of the copy (hot.drop).

// idemHash hashes an outlet and a txn_id as one key.
func idemHash(outlet, txnID string) (uint64, uint64) {
	var a, b maphash.Hash
	a.SetSeed(filterSeed1)
	b.SetSeed(filterSeed2)
	for _, h := range [2]*maphash.Hash{&a, &b} {
		h.WriteString(outlet)
		h.WriteByte(0)
		h.WriteString(txnID)
	}
	return a.Sum64(), b.Sum64() | 1
}

// idemMayHave is false only if k has no record. It starts the filter's
// build on first use, or its rebuild once it is over capacity.
func (t *tx) idemMayHave(k publicmask.IdemKey) bool {
	f := t.idemFilter()
	if f == nil || f.bits == nil {
		return true
	}
	return f.mayHaveHash(idemHash(k.Outlet, k.TxnID)) // only the writer changes f: no lock needed
}

// mayHaveRecords returns the keys that may have a record; the others are
// noted as known to have none.
func (t *tx) mayHaveRecords(keys []publicmask.IdemKey) []publicmask.IdemKey {
	ask := make([]publicmask.IdemKey, 0, len(keys))
	for _, k := range keys {
		if t.idemMayHave(k) {
			ask = append(ask, k)
		} else {
			t.knownAbsent(k)
		}
	}
	return ask
}

// idemFilter is the filter held, registering a build when there is none
// or the one held is full.
func (t *tx) idemFilter() *weekFilter {
	h := t.s.hot
	h.mu.RLock()
	f := h.idem
	h.mu.RUnlock()
	if f == nil || (f.stale && f.building == nil) {
		f = h.registerIdem(t.st.records)
	}
	return f
}

// noteRecord puts a txn_id this transaction records into the filter,
// before the commit (see above).
func (t *tx) noteRecord(k publicmask.IdemKey) {
	h := t.s.hot
	h.mu.Lock()
	if h.idem != nil {
		h.idem.addHash(idemHash(k.Outlet, k.TxnID))
	}
	h.mu.Unlock()
	t.st.records = append(t.st.records, k)
}

// noteRecords puts keys, recorded by this transaction and already in
// t.st.records, into the filter before the commit, as noteRecord does: the
// hashes made outside the lock, then added up to noteStep at a time under
// it (the lock's cache line is shared with the fills and the readers).
func (t *tx) noteRecords(keys []publicmask.IdemKey) {
	h := t.s.hot
	var hs [noteStep][2]uint64
	for lo := 0; lo < len(keys); lo += noteStep {
		part := keys[lo:min(lo+noteStep, len(keys))]
		for i, k := range part {
			hs[i][0], hs[i][1] = idemHash(k.Outlet, k.TxnID)
		}
		h.mu.Lock()
		if h.idem != nil {
			for _, x := range hs[:len(part)] {
				h.idem.addHash(x[0], x[1])
			}
		}
		h.mu.Unlock()
	}
}

// noteStep is how many keys noteRecords adds under one lock.
const noteStep = 256

// registerIdem starts a build of the filter: of a new one, or of a larger
// one in place of a full one, which goes on answering meanwhile; written
// are the records the calling transaction wrote already (see
// registerWeek). The writer calls it holding writeMu.
func (h *hot) registerIdem(written []publicmask.IdemKey) *weekFilter {
	h.mu.Lock()
	f := h.idem
	if f == nil {
		f = &weekFilter{}
		h.idem = f
	}
	pending := make([][2]uint64, 0, len(written))
	for _, k := range written {
		h1, h2 := idemHash(k.Outlet, k.TxnID)
		pending = append(pending, [2]uint64{h1, h2})
	}
	f.building = &pending
	h.mu.Unlock()
	if h.startIdem != nil {
		h.startIdem(f)
	}
	return f
}

// startIdemBuild builds the records' filter in the background (runBuild),
// sized for at least as many keys as f holds.
func (s *Store) startIdemBuild(f *weekFilter) {
	hint := f.n // the writer's goroutine: the only one that changes f
	s.runBuild(f, func() (*weekFilter, error) { return s.scanIdem(hint) },
		func() *weekFilter { return s.hot.idem },
		func(nf *weekFilter) { s.hot.idem = nf })
}

// idemBuildHook, when set (tests), runs in a build of the records' filter
// before its scan.
var idemBuildHook func()

// scanIdem makes the filter of every record's key in one read transaction,
// sized for at least hint keys. A filter that the scan fills beyond its
// capacity is stale: the next look-up rebuilds it, sized by its count.
func (s *Store) scanIdem(hint int) (*weekFilter, error) {
	tx, err := s.reader.BeginTx(s.buildCtx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("sqlite: idempotency keys: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(s.buildCtx, `SELECT outlet, txn_id FROM idempotency
		UNION ALL SELECT outlet, txn_id FROM sales WHERE response IS NOT NULL
		UNION ALL SELECT outlet, txn_id FROM deliveries WHERE response IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: idempotency keys: %w", err)
	}
	defer rows.Close()
	if idemBuildHook != nil {
		idemBuildHook()
	}
	f := newWeekFilter(hint)
	var outlet, txnID sql.RawBytes // no string per row
	for rows.Next() {
		if err := rows.Scan(&outlet, &txnID); err != nil {
			return nil, fmt.Errorf("sqlite: idempotency keys: %w", err)
		}
		f.addHash(idemHash(string(outlet), string(txnID)))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: idempotency keys: %w", err)
	}
	return f, nil
}
