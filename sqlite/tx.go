package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/publicmask/publicmask"
)

// The write transaction: what a group commit reads and writes through the
// single writer, with the writer's in-memory copy (hot.go) and the rows it
// holds until the end (buffer.go).
type tx struct {
	s     *Store
	dest  []driver.Value  // reused by queryRaw
	txCtx context.Context // the write's own: the transaction ends with it
	st    staged          // this transaction's writes to hot rows
	pend  pending         // rows not yet written (buffer.go)
	args  []any           // reused by the multi-row statements
	// known are the idempotency records this transaction read or wrote: a
	// second record of one fails the transaction, as the idempotency
	// table's key would. absent are the txn_ids it looked up and found
	// without a record: being the only writer, it need not look again
	// (Idempotency, checkNewRecords).
	known  map[publicmask.IdemKey]publicmask.IdemRecord
	absent map[publicmask.IdemKey]bool
	// pwAbsent are the person-weeks PersonWeeks found without a row and
	// not written since: their rows are new (flushPersonWeeks).
	pwAbsent map[pwKey]bool
	// pruned: a step of the change log's pruning ran, up to cursor
	// (changes.go).
	pruned bool
	cursor int64
	// fresh counts the new outlets whose first versions this transaction
	// appended to the change log (SaveOutlet, SaveOutlets): they make no
	// entry stale, so they do not hasten the pruning (pruneChanges).
	fresh int64
	// err is the first statement's failure (failed). SQLite may have
	// rolled the transaction back by itself (INSERT OR ROLLBACK, a full
	// disk, …); a later statement would then run and commit on its own.
	// So every later statement, and the commit, returns err without
	// touching the database.
	err error
}

// failed keeps err as the transaction's failure unless it is only "no
// rows" (a read that found nothing), and returns it.
func (t *tx) failed(err error) error {
	if err != nil && t.err == nil && !isNoRows(err) {
		t.err = err
	}
	return err
}

// The transaction's own statements run on the writer's connection too
// (rawexec.go), prepared once: through database/sql each
// one-row read under the transaction's context started a goroutine to
// close its rows should that context end, and the transaction itself
// another (BeginTx), besides their conversions.

// execStmt runs the statement q, kept prepared (see failed).
func (t *tx) execStmt(q string, args ...any) (sql.Result, error) {
	return t.execResult(q, true, args)
}

// execText runs a statement that is not kept prepared (see failed).
func (t *tx) execText(q string, args ...any) (sql.Result, error) {
	return t.execResult(q, false, args)
}

func (t *tx) execResult(q string, keep bool, args []any) (sql.Result, error) {
	var res wresult
	err := t.onStmt(q, keep, func(c *wconn, st *wstmt) (err error) {
		res.changed, err = c.exec(st, args)
		res.lastID = c.lastInsertID()
		return err
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// rowStmt runs the one-row query q when its Scan is called; that error is
// the transaction's failure unless it is sql.ErrNoRows.
func (t *tx) rowStmt(q string, args ...any) scanner {
	return rawRow{t, q, args}
}

// rawRow is the first row of a query (rowStmt), read by Scan.
type rawRow struct {
	t    *tx
	q    string
	args []any
}

func (r rawRow) Scan(dest ...any) error {
	found := false
	err := r.t.queryRaw(r.q, true, r.args, func(v []driver.Value) error {
		found = true
		if err := scanValues(v, dest); err != nil {
			return err
		}
		return errStopRows
	})
	if err == nil && !found {
		err = sql.ErrNoRows
	}
	return r.t.failed(err)
}

// errStopRows from a row of queryRaw ends the query without a failure.
var errStopRows = errors.New("sqlite: no more rows wanted")

// queryRows runs the query q, kept prepared, and calls scan with each row;
// a failure is the transaction's.
func (t *tx) queryRows(q string, args []any, scan func(scanner) error) error {
	var row valuesRow
	return t.failed(t.queryRaw(q, true, args, func(v []driver.Value) error {
		row.v = v
		return scan(row)
	}))
}

// valuesRow scans a row's values as the driver gives them.
type valuesRow struct{ v []driver.Value }

func (r valuesRow) Scan(dest ...any) error { return scanValues(r.v, dest) }

// scanValues stores a row's values into dest as database/sql's Scan does
// for the types the transaction reads into: the values' bytes copied (the
// driver may reuse them), NULL only into a nullable destination.
func scanValues(v []driver.Value, dest []any) error {
	if len(v) != len(dest) {
		return fmt.Errorf("sqlite: %d values into %d destinations", len(v), len(dest))
	}
	for i, d := range dest {
		if err := scanValue(v[i], d); err != nil {
			return fmt.Errorf("sqlite: column %d: %w", i, err)
		}
	}
	return nil
}

func scanValue(v driver.Value, dest any) error {
	switch d := dest.(type) {
	case *any:
		if b, ok := v.([]byte); ok {
			v = bytes.Clone(b)
		}
		*d = v
		return nil
	case *[]byte:
		switch x := v.(type) {
		case nil:
			*d = nil
			return nil
		case []byte:
			*d = bytes.Clone(x)
			return nil
		case string:
			*d = []byte(x)
			return nil
		case int64:
			*d = strconv.AppendInt(nil, x, 10)
			return nil
		case float64:
			*d = strconv.AppendFloat(nil, x, 'g', -1, 64)
			return nil
		}
	case *string:
		switch x := v.(type) {
		case string:
			*d = x
			return nil
		case []byte:
			*d = string(x)
			return nil
		case int64:
			*d = strconv.FormatInt(x, 10)
			return nil
		case float64:
			*d = strconv.FormatFloat(x, 'g', -1, 64)
			return nil
		}
	case *int64:
		switch x := v.(type) {
		case int64:
			*d = x
			return nil
		case string, []byte:
			n, err := strconv.ParseInt(asText(x), 10, 64)
			if err == nil {
				*d = n
			}
			return err
		}
	case *int:
		switch x := v.(type) {
		case int64:
			*d = int(x)
			return nil
		case string, []byte:
			n, err := strconv.ParseInt(asText(x), 10, strconv.IntSize)
			if err == nil {
				*d = int(n)
			}
			return err
		}
	case *float64:
		switch x := v.(type) {
		case float64:
			*d = x
			return nil
		case int64:
			*d = float64(x)
			return nil
		case string, []byte:
			f, err := strconv.ParseFloat(asText(x), 64)
			if err == nil {
				*d = f
			}
			return err
		}
	case *bool:
		switch x := v.(type) {
		case bool:
			*d = x
			return nil
		case int64:
			if x == 0 || x == 1 {
				*d = x == 1
				return nil
			}
		case string, []byte:
			b, err := strconv.ParseBool(asText(x))
			if err == nil {
				*d = b
			}
			return err
		}
	case sql.Scanner:
		return d.Scan(v)
	}
	return fmt.Errorf("cannot store %T into %T", v, dest)
}

// asText is a string or []byte value as a string.
func asText(v any) string {
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return v.(string)
}

// idemMaps are a transaction's known and absent maps, kept for the next.
type idemMaps struct {
	known  map[publicmask.IdemKey]publicmask.IdemRecord
	absent map[publicmask.IdemKey]bool
}

// keepIdem is the number of entries up to which a finished transaction's
// known or absent map is kept (emptied) for the next one: a delivery
// list's chunk holds 2,000; a larger one is left to the collector rather
// than kept for the life of the store.
const keepIdem = 4096

// emptiedIdem returns m emptied, or nil if it is too large to keep.
func emptiedIdem[V any](m map[publicmask.IdemKey]V) map[publicmask.IdemKey]V {
	if len(m) > keepIdem {
		return nil
	}
	clear(m)
	return m
}

// knownAbsent notes that k had no record when this transaction looked.
func (t *tx) knownAbsent(k publicmask.IdemKey) {
	if t.absent == nil {
		t.absent = make(map[publicmask.IdemKey]bool)
	}
	t.absent[k] = true
}

// exec runs a statement after writing the pending rows.
func (t *tx) exec(q string, args ...any) (sql.Result, error) {
	if err := t.flush(); err != nil {
		return nil, err
	}
	return t.execNow(q, args...)
}

func (t *tx) execNow(q string, args ...any) (sql.Result, error) {
	r, err := t.execStmt(q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %.40s: %w", q, err)
	}
	return r, nil
}

// Idempotency finds a txn_id's record in the idempotency table or in the
// row of its sale (migration 00006) or delivery (00007).
func (t *tx) Idempotency(outlet, txnID string) (publicmask.IdemRecord, bool, error) {
	r := publicmask.IdemRecord{Outlet: outlet, TxnID: txnID}
	k := publicmask.IdemKey{Outlet: outlet, TxnID: txnID}
	if rec, ok := t.known[k]; ok {
		return rec, true, nil
	}
	if t.absent[k] || !t.idemMayHave(k) {
		return r, false, nil
	}
	for _, q := range []string{sqlIdemGet, sqlSaleIdemGet, sqlDelivIdemGet} {
		var created int64
		var d compactRecord
		row, err := t.queryRow(q, outlet, txnID)
		if err != nil {
			return r, false, err
		}
		// A hash may be kept as its 32 bytes (compactHash): a delivery's
		// (00014) and a sale's written since the sales' rows took it so.
		if q == sqlDelivIdemGet {
			err = row.Scan(&d.hash, &r.Response, &created, &d.id, &d.quantity, &d.stock)
		} else {
			err = row.Scan(&d.hash, &r.Response, &created)
		}
		if err == nil {
			err = d.into(&r)
		}
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return r, false, fmt.Errorf("sqlite: idempotency: %w", err)
		}
		r.CreatedAt = fromMicro(created)
		t.know(k, r)
		return r, true, nil
	}
	t.knownAbsent(k)
	return r, false, nil
}

// PutIdempotency records r with the transaction's other rows; a sale
// inserted next with the same outlet and txn_id takes it into its row
// (InsertSale).
func (t *tx) PutIdempotency(r publicmask.IdemRecord) error {
	k, err := t.holdRecord(r)
	if err != nil {
		return err
	}
	t.noteRecord(k)
	return nil
}

// holdRecord holds r to be written with the transaction's other rows,
// unless the transaction knows a record for its key already; the caller
// puts the key into the idempotency filter (noteRecord, noteRecords).
func (t *tx) holdRecord(r publicmask.IdemRecord) (publicmask.IdemKey, error) {
	k := publicmask.IdemKey{Outlet: r.Outlet, TxnID: r.TxnID}
	if _, ok := t.known[k]; ok {
		return k, fmt.Errorf("sqlite: txn_id %s/%s already has an idempotency record", r.Outlet, r.TxnID)
	}
	t.know(k, r)
	t.pend.idem = append(t.pend.idem, r)
	if !t.absent[k] {
		t.pend.unchecked++
	}
	return k, nil
}

// ClaimIdempotency implements publicmask.IdemClaimer: this transaction is
// the only writer, so a record that neither table holds cannot appear
// before it commits.
func (t *tx) ClaimIdempotency(r publicmask.IdemRecord) (publicmask.IdemRecord, bool, error) {
	rec, ok, err := t.Idempotency(r.Outlet, r.TxnID)
	if err != nil || ok {
		return rec, false, err
	}
	return r, true, t.PutIdempotency(r)
}

// LockOutlet reads from the writer's copy (hot.go): this transaction's own
// writes first, then the committed row.
func (t *tx) LockOutlet(code string) (publicmask.Outlet, error) {
	if o, ok := t.st.outlets[code]; ok {
		return o, nil
	}
	if o, ok := t.s.hot.outlet(code); ok {
		return o, nil
	}
	return t.loadOutlet(code)
}

func (t *tx) SaveOutlet(o *publicmask.Outlet) error {
	t.s.version++
	o.Version = t.s.version
	// A sale or a delivery changes only the stock columns of a row the
	// writer holds: those alone are written, with the transaction's other
	// stock changes (flushOutlets); anything else is upserted now.
	if prev, ok := t.held(o.Code); ok && sameRegistry(&prev, o) {
		t.pend.putOutlet(*o)
	} else {
		t.s.hot.noteCodes([]*publicmask.Outlet{o})
		err := t.flush()
		if err == nil {
			err = t.upsertOutlet(o)
		}
		if !ok {
			t.fresh++
		}
		if err != nil {
			return err
		}
	}
	t.st.outlets[o.Code] = stored(*o)
	return nil
}

// upsertOutlet writes o whole, its registry fields and its state, and
// appends its version to the change log (migration 00010; see
// SaveOutlets): a new outlet's version only so, a known one's again. A
// known outlet's registry row is rewritten in place, a new one's appended
// with the next id (migration 00013).
func (t *tx) upsertOutlet(o *publicmask.Outlet) error {
	reg, err := t.outletReg(o.Code)
	if err != nil {
		return err
	}
	if reg != 0 {
		_, err = t.execNow(sqlRegistrySet, reg, o.Code, o.Name, o.Addr, o.Type, o.Lat, o.Lng)
	} else {
		reg = t.s.newReg()
		_, err = t.execNow(sqlRegistryAdd, reg, o.Code, o.Name, o.Addr, o.Type, o.Lat, o.Lng)
	}
	if err != nil {
		return err
	}
	if _, err := t.execNow(sqlOutletPut, o.Code, reg, o.Stock, o.Suspended, nullMicro(o.StockAt), nullMicro(o.UpdatedAt), o.Version, o.Sold); err != nil {
		return err
	}
	_, err = t.execNow(sqlChangeInsert, o.Version, o.Code)
	return err
}

// outletReg is the id of an outlet's registry row, 0 if it has no row.
func (t *tx) outletReg(code string) (int64, error) {
	if !t.s.hot.mayHaveCode(code) {
		return 0, nil
	}
	var reg int64
	err := t.rowStmt(sqlOutletReg, code).Scan(&reg)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("sqlite: outlet: %w", err)
	}
	return reg, nil
}

// isHeld reports whether held would find code, without unpacking it.
func (t *tx) isHeld(code string) bool {
	if _, ok := t.st.outlets[code]; ok {
		return true
	}
	t.s.hot.mu.RLock()
	_, ok := t.s.hot.outlets.get(code)
	t.s.hot.mu.RUnlock()
	return ok
}

// held is the outlet as this transaction or the writer's copy last saw it.
func (t *tx) held(code string) (publicmask.Outlet, bool) {
	if o, ok := t.st.outlets[code]; ok {
		return o, true
	}
	return t.s.hot.outlet(code)
}

// sameRegistry reports whether two versions of an outlet differ at most in
// their stock columns.
func sameRegistry(a, b *publicmask.Outlet) bool {
	return a.Code == b.Code && a.Name == b.Name && a.Addr == b.Addr && a.Type == b.Type && a.Lat == b.Lat && a.Lng == b.Lng
}

// PersonWeeks reads only the persons that the week's filter (hot.go) may
// know: a person it does not know has no row.
func (t *tx) PersonWeeks(week string, persons []string) (map[string]publicmask.PersonWeek, error) {
	out := make(map[string]publicmask.PersonWeek, len(persons))
	if len(persons) == 0 {
		return out, nil
	}
	f := t.s.hot.week(week)
	if (f == nil && t.s.hot.current(week)) || (f != nil && f.stale && f.building == nil) {
		f = t.s.hot.registerWeek(week, t.st.written)
	}
	for _, p := range persons {
		if pw, ok := t.pend.personWeek(p, week); ok {
			out[p] = pw
			continue
		}
		if f != nil && !f.mayHave(p) { // only the writer changes f (a build replaces it): no lock needed here
			t.notePWAbsent(p, week)
			continue
		}
		pw := publicmask.PersonWeek{Person: p, Week: week}
		err := t.rowStmt(sqlPWLock, p, week).Scan(&pw.Quantity, &pw.Purchases, &pw.WeekdayPurchases, &pw.WeekendPurchases)
		if errors.Is(err, sql.ErrNoRows) {
			t.notePWAbsent(p, week)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("sqlite: person week: %w", err)
		}
		out[p] = pw
	}
	return out, nil
}

// notePWAbsent notes that the database has no row of the person's week.
func (t *tx) notePWAbsent(person, week string) {
	if t.pwAbsent == nil {
		t.pwAbsent = make(map[pwKey]bool)
	}
	t.pwAbsent[pwKey{person, week}] = true
}

func (t *tx) PutPersonWeek(pw publicmask.PersonWeek) error {
	k := pwKey{pw.Person, pw.Week}
	isNew := t.pwAbsent[k]
	if isNew {
		delete(t.pwAbsent, k) // held now, and once flushed the database has it
	}
	t.pend.putPersonWeek(pw, isNew)
	// Into the filter now, before the commit: a later sale of this batch
	// must find the row, and a "maybe" that outlives a rollback is harmless.
	// Looked up under the same lock as the add: a build may install its
	// filter in place of the one held, and the key must reach the one held.
	t.s.hot.mu.Lock()
	if f := t.s.hot.weeks[pw.Week]; f != nil {
		f.add(pw.Person)
	}
	t.s.hot.mu.Unlock()
	t.st.written = append(t.st.written, pwKey{pw.Person, pw.Week})
	return nil
}

func (t *tx) InsertSale(s *publicmask.Sale) error {
	t.pend.addSale(s)
	return nil
}

func (t *tx) Sale(id string) (publicmask.Sale, error) {
	row, err := t.queryRow(sqlSaleLock, id)
	if err != nil {
		return publicmask.Sale{}, err
	}
	s, err := scanSaleRow(row)
	if errors.Is(err, sql.ErrNoRows) {
		return s, publicmask.Errorf(publicmask.ENotFound, "sale %q not found", id)
	}
	if err != nil {
		return s, err
	}
	err = t.queryRows(sqlItemsGet, []any{id}, func(row scanner) error {
		it, err := scanItem(row)
		s.Items = append(s.Items, it)
		return err
	})
	if err != nil {
		return s, fmt.Errorf("sqlite: sale items: %w", err)
	}
	return s, nil
}

func (t *tx) MarkSaleCancelled(id string, at time.Time) error {
	_, err := t.exec(sqlSaleCancel, micro(at), id)
	return err
}

func (t *tx) InsertDelivery(d *publicmask.Delivery) error {
	_, err := t.exec(sqlDeliveryPut, d.ID, d.Outlet, d.TxnID, d.Quantity, micro(d.At))
	return err
}

func (t *tx) InsertCorrection(c *publicmask.Correction) error {
	_, err := t.exec(sqlCorrectPut, c.ID, c.Outlet, c.TxnID, correctionKind(c.Kind), c.SaleID, c.Count, c.Delta, micro(c.At))
	return err
}

func correctionKind(k string) string {
	if k == "" {
		return publicmask.CorrectionCount
	}
	return k
}

func (t *tx) StartSuspension(outlet string, at time.Time) error {
	_, err := t.exec(sqlSuspStart, outlet, micro(at))
	return err
}

func (t *tx) EndSuspension(outlet string, at time.Time) error {
	_, err := t.exec(sqlSuspEnd, micro(at), outlet)
	return err
}

func (t *tx) SuspendedAt(outlet string, at time.Time) (bool, error) {
	var b bool
	if err := t.rowStmt(sqlSuspAt, outlet, micro(at), micro(at)).Scan(&b); err != nil {
		return false, fmt.Errorf("sqlite: suspended at: %w", err)
	}
	return b, nil
}

func (t *tx) PutToken(tk publicmask.Token) error {
	_, err := t.exec(sqlTokenPut, tk.Hash, tk.Role, tk.Outlet, micro(tk.CreatedAt))
	return err
}

func (t *tx) RevokeToken(hash string, at time.Time) error {
	_, err := t.exec(sqlTokenRevoke, micro(at), hash)
	return err
}

// An outlet's row is two (migration 00013): its state in outlets (o),
// what sales and deliveries change, and its registry fields in
// outlet_registry (r), found by the id outlets holds (reg). outletCols,
// read FROM outletFrom, are its columns in the order scanOutlet and
// rawOutlet read them; outlets drives the join.
const (
	outletCols = `o.code, r.name, r.addr, r.type, r.lat, r.lng, o.stock, o.suspended, o.stock_at, o.updated_at, o.version, o.sold`
	outletFrom = `outlets o CROSS JOIN outlet_registry r ON r.id = o.reg`
)

type scanner interface{ Scan(dest ...any) error }

func scanOutlet(r scanner) (publicmask.Outlet, error) {
	var o publicmask.Outlet
	var stockAt, updatedAt sql.NullInt64
	err := r.Scan(&o.Code, &o.Name, &o.Addr, &o.Type, &o.Lat, &o.Lng, &o.Stock, &o.Suspended, &stockAt, &updatedAt, &o.Version, &o.Sold)
	if err != nil {
		return o, err
	}
	o.StockAt = fromNullMicro(stockAt)
	o.UpdatedAt = fromNullMicro(updatedAt)
	return o, nil
}

const saleCols = `id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, conflict, late, shortfall, cancelled_at`

// scanSale scans saleCols, then into more the columns selected after them.
func scanSale(r scanner, more ...any) (publicmask.Sale, error) {
	var s publicmask.Sale
	var soldAt, recordedAt int64
	var cancelled sql.NullInt64
	err := r.Scan(append([]any{&s.ID, &s.Outlet, &s.TxnID, &soldAt, &recordedAt, &s.Week, &s.Weekend, &s.Quantity, &s.Conflict, &s.Late, &s.Shortfall, &cancelled}, more...)...)
	s.SoldAt, s.RecordedAt, s.CancelledAt = fromMicro(soldAt), fromMicro(recordedAt), fromNullMicro(cancelled)
	return s, err
}

// saleItemCols are a sale row's first item (migration 00016); item_role is
// NULL when the row holds none (a sale recorded before 00016, whose items
// are all in sale_items, or one without items). A sale's items are its
// row's, then its sale_items rows by idx: the same list in either form.
const saleItemCols = `item_role, item_person, item_category, item_birth_year, item_quantity`

// rowItem is a sale row's item columns as scanned.
type rowItem struct {
	role, person, category sql.NullString
	year, qty              sql.NullInt64
}

func (r *rowItem) dest() []any {
	return []any{&r.role, &r.person, &r.category, &r.year, &r.qty}
}

// appendTo appends the row's item, if it holds one, to items.
func (r *rowItem) appendTo(items []publicmask.SaleItem) []publicmask.SaleItem {
	if !r.role.Valid {
		return items
	}
	return append(items, publicmask.SaleItem{Role: r.role.String, Person: r.person.String, Category: r.category.String, BirthYear: int(r.year.Int64), Quantity: int(r.qty.Int64)})
}

// scanSaleRow scans saleCols and then saleItemCols: the sale with its
// row's item, not yet those of sale_items.
func scanSaleRow(r scanner) (publicmask.Sale, error) {
	var it rowItem
	s, err := scanSale(r, it.dest()...)
	if err != nil {
		return publicmask.Sale{}, err
	}
	s.Items = it.appendTo(nil)
	return s, nil
}

func scanItems(rows *sql.Rows) ([]publicmask.SaleItem, error) {
	defer rows.Close()
	var items []publicmask.SaleItem
	for rows.Next() {
		it, err := scanItem(rows)
		if err != nil {
			return nil, err
		}
		items = append(items, it)
	}
	return items, rows.Err()
}

func scanItem(r scanner) (publicmask.SaleItem, error) {
	var it publicmask.SaleItem
	if err := r.Scan(&it.Role, &it.Person, &it.Category, &it.BirthYear, &it.Quantity); err != nil {
		return it, fmt.Errorf("sqlite: scan item: %w", err)
	}
	return it, nil
}

func micro(t time.Time) int64 { return t.UnixMicro() }

// stored is o as reading its row back gives it (times in UTC, to the
// microsecond), so that the writer's copy answers like the database.
func stored(o publicmask.Outlet) publicmask.Outlet {
	o.StockAt = fromNullMicro(toNull(o.StockAt))
	o.UpdatedAt = fromNullMicro(toNull(o.UpdatedAt))
	return o
}

func toNull(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func nullMicro(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicro(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicro(v.Int64)
}

func isNoRows(err error) bool { return errors.Is(err, sql.ErrNoRows) }
