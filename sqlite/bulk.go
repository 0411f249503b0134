package sqlite

import (
	"cmp"
	"crypto/sha256"
	"database/sql"
	"database/sql/driver"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
)

// bulkRows is how many rows one multi-row statement carries: 7 columns ×
// 400 rows stays well under SQLite's 32,766 bound variables.
const bulkRows = 400

var _ publicmask.BulkTx = (*tx)(nil)

// values is "(?, …), (?, …)…": rows groups of cols placeholders.
func values(rows, cols int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", cols), ", ") + ")"
	return strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

// inGroups calls fn for consecutive groups of at most bulkRows of n items.
func inGroups(n int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += bulkRows {
		if err := fn(lo, min(lo+bulkRows, n)); err != nil {
			return err
		}
	}
	return nil
}

// The bulk statements run on the writer's connection (rawexec.go,
// wconn.go): those of full groups prepared once per connection and kept
// (parsing a 400-row statement per transaction was a tenth of a bulk
// write's CPU), a smaller group's for its one use. Through database/sql
// each statement copied its up to 4,800 arguments into a fresh
// []driver.NamedValue, and each row read went through Scan's conversions:
// together about a tenth of the bytes a delivery line allocated at 540,000
// outlets, where the heap sits at the soft memory limit and each byte
// brings the next collection closer.

// groupSQL is a bulk statement's text for a group of n rows: that of a
// full group built once and kept prepared, a smaller one's built for its
// one use.
type groupSQL struct {
	full  string
	build func(n int) string
}

func newGroupSQL(build func(n int) string) groupSQL { return groupSQL{build(bulkRows), build} }

func (g groupSQL) text(n int) (q string, full bool) {
	if n == bulkRows {
		return g.full, true
	}
	return g.build(n), false
}

// bulkExec runs g for rows rows, after writing the pending rows.
func (t *tx) bulkExec(g groupSQL, rows int, args []any) error {
	if err := t.flush(); err != nil {
		return err
	}
	q, keep := g.text(rows)
	_, err := t.execRawOnce(q, keep, args)
	return err
}

// bulkQuery runs g for rows rows, after writing the pending rows, and calls
// row with each row's values (see queryRaw).
func (t *tx) bulkQuery(g groupSQL, rows int, args []any, row func([]driver.Value) error) error {
	if err := t.flush(); err != nil {
		return err
	}
	q, keep := g.text(rows)
	return t.queryRaw(q, keep, args, row)
}

// LockOutlets implements publicmask.BulkTx: rows the writer holds come from
// its copy, the others from one query per group, and join the copy as
// loadOutlet's do.
func (t *tx) LockOutlets(codes []string) (map[string]publicmask.Outlet, error) {
	out := make(map[string]publicmask.Outlet, len(codes))
	var missing []string
	for _, c := range codes {
		if _, ok := out[c]; ok {
			continue
		}
		// A code the filter knows to have no row is neither held nor
		// read (outletcodes.go): an import's new codes skip the copy's
		// look-up, a miss in a table of up to 540,000 rows.
		if !t.s.hot.mayHaveCode(c) {
			continue
		}
		if o, ok := t.held(c); ok {
			out[c] = o
			continue
		}
		missing = append(missing, c)
	}
	t.s.outletReads += len(missing)
	// One argument list and one list of rows serve every group: at
	// 540,000 outlets the heap sits at the soft memory limit during a load,
	// and each byte allocated brings the next collection closer.
	args := make([]any, 0, min(len(missing), bulkRows))
	loaded := make([]publicmask.Outlet, 0, min(len(missing), bulkRows))
	err := inGroups(len(missing), func(lo, hi int) error {
		args = args[:0]
		for _, c := range missing[lo:hi] {
			args = append(args, c)
		}
		loaded = loaded[:0]
		err := t.bulkQuery(sqlLockOutletsGroup, hi-lo, args, func(v []driver.Value) error {
			o, err := rawOutlet(v)
			loaded = append(loaded, o)
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlite: outlets: %w", err)
		}
		t.s.hot.mu.Lock()
		for _, o := range loaded {
			out[o.Code] = o
			t.s.hot.hold(&o)
		}
		t.s.hot.mu.Unlock()
		return nil
	})
	return out, err
}

// Idempotencies implements publicmask.BulkTx, with statements prepared
// once (buffer.go): the ledger also reads each batch's sales this way.
func (t *tx) Idempotencies(keys []publicmask.IdemKey) (map[publicmask.IdemKey]publicmask.IdemRecord, error) {
	// Sized for the list: the absent keys are noted here, and the records
	// of the new lines are kept (PutIdempotencies) in a map grown from
	// empty otherwise.
	if t.absent == nil {
		t.absent = make(map[publicmask.IdemKey]bool, len(keys))
	}
	if t.known == nil {
		t.known = make(map[publicmask.IdemKey]publicmask.IdemRecord, len(keys))
	}
	ask := t.mayHaveRecords(keys)
	out := make(map[publicmask.IdemKey]publicmask.IdemRecord, len(ask)) // a list's new keys have none
	if len(ask) == 0 {
		return out, nil
	}
	if err := t.flush(); err != nil {
		return nil, err
	}
	err := t.queryMulti(&multiIdemGet, len(ask), func(a []any, i int) []any {
		return append(a, ask[i].Outlet, ask[i].TxnID)
	}, func(rows scanner) error {
		var r publicmask.IdemRecord
		var created int64
		var d compactRecord
		if err := rows.Scan(&r.Outlet, &r.TxnID, &d.hash, &r.Response, &created, &d.id, &d.quantity, &d.stock); err != nil {
			return err
		}
		r.CreatedAt = fromMicro(created)
		if err := d.into(&r); err != nil {
			return err
		}
		out[publicmask.IdemKey{Outlet: r.Outlet, TxnID: r.TxnID}] = r
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("sqlite: idempotency: %w", err)
	}
	for _, k := range ask {
		if _, ok := out[k]; !ok {
			t.knownAbsent(k)
		}
	}
	return out, nil
}

func sqlLockOutlets(n int) string {
	return `SELECT ` + outletCols + ` FROM ` + outletFrom + ` WHERE o.code IN (` + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)`
}

var (
	sqlLockOutletsGroup    = newGroupSQL(sqlLockOutlets)
	sqlOutletRegsGroup     = newGroupSQL(sqlOutletRegs)
	sqlRegistryAppendGroup = newGroupSQL(sqlRegistryAppend)
	sqlOutletUpsertGroup   = newGroupSQL(sqlOutletUpsert)
	sqlOutletBlankGroup    = newGroupSQL(sqlOutletUpsertBlank)
	sqlChangesGroup        = newGroupSQL(sqlChangesInsert)
	sqlDeliveriesGroup     = newGroupSQL(func(n int) string { return sqlInsert(tableDeliveries, 8, n) })
	// sqlDeliveriesCompactGroup is sqlDeliveriesGroup for rows whose
	// response is the empty blob (a record kept as its stock, or none):
	// the blob is written by the statement, not bound for each row — a
	// blob parameter is a C allocation, a copy, its binding and its
	// release per row (the driver's), one of a line's 16 parameters.
	sqlDeliveriesCompactGroup = newGroupSQL(func(n int) string {
		return `INSERT INTO ` + tableDeliveries + ` VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, X'', ?), ", n), ", ")
	})
)

// The statements of SaveOutlets (migration 00013): the registry ids of n
// outlets that may have a row; n new outlets' registry rows, appended
// with their ids; n outlets' state, with their registry ids.
func sqlOutletRegs(n int) string {
	return `SELECT code, reg FROM outlets WHERE code IN (` + strings.TrimSuffix(strings.Repeat("?, ", n), ", ") + `)`
}

func sqlRegistryAppend(n int) string {
	return `INSERT INTO outlet_registry (id, code, name, addr, type, lat, lng) VALUES ` + values(n, 7)
}

func sqlOutletUpsert(n int) string {
	return `INSERT INTO outlets (code, reg, stock, suspended, stock_at, updated_at, version, sold) VALUES ` + values(n, 8) + sqlOutletUpsertSet
}

// sqlOutletUpsertBlank is sqlOutletUpsert for rows in an outlet's first
// state (stock 0, not suspended, never stocked, nothing sold: an import's
// new outlets): those values are written by the statement, not bound for
// each row — 4 of a new outlet's 17 parameters, each a call into the
// driver and SQLite (a mutex, the old value released) per row.
func sqlOutletUpsertBlank(n int) string {
	return `INSERT INTO outlets (code, reg, stock, suspended, stock_at, updated_at, version, sold) VALUES ` +
		strings.TrimSuffix(strings.Repeat("(?, ?, 0, 0, NULL, ?, ?, 0), ", n), ", ") + sqlOutletUpsertSet
}

// blankState reports whether o is in the state sqlOutletUpsertBlank writes.
func blankState(o *publicmask.Outlet) bool {
	return o.Stock == 0 && !o.Suspended && o.StockAt.IsZero() && o.Sold == 0
}

const sqlOutletUpsertSet = ` ON CONFLICT (code) DO UPDATE SET reg = excluded.reg, stock = excluded.stock, suspended = excluded.suspended, stock_at = excluded.stock_at, updated_at = excluded.updated_at, version = excluded.version, sold = excluded.sold`

const tableDeliveries = "deliveries (id, outlet, txn_id, quantity, at, body_hash, response, stock)"

// compactRecord is a record's body_hash as read, and what a delivery's
// row gives of its record besides (migration 00014): a record kept as its
// stock (response an empty blob, stock not NULL) goes back to the ledger as its
// Delivery, and its hash, kept as the 32 bytes its hexadecimal text
// stands for, as that text.
type compactRecord struct {
	hash     any
	id       sql.NullString
	quantity sql.NullInt64
	stock    sql.NullInt64
}

func (d *compactRecord) into(r *publicmask.IdemRecord) error {
	switch h := d.hash.(type) {
	case string:
		r.BodyHash = h
	case []byte:
		r.BodyHash = hex.EncodeToString(h)
	default:
		return fmt.Errorf("sqlite: the record of %s/%s has a body hash of type %T", r.Outlet, r.TxnID, h)
	}
	if len(r.Response) == 0 && d.stock.Valid {
		r.Response = nil
		r.Delivery = &publicmask.DeliveryRecord{ID: d.id.String, Quantity: int(d.quantity.Int64), Stock: int(d.stock.Int64)}
	}
	return nil
}

// compactHash is a body hash as a compact record keeps it: the bytes of
// a hash in lower-case hexadecimal (the ledger's; what into gives back
// with hex.EncodeToString), appended to slab, any other text as it is.
func compactHash(h string, slab *[]byte) any {
	if len(h) != 2*sha256.Size {
		return h
	}
	var b [sha256.Size]byte
	for i := range b {
		hi, lo := lowerHex[h[2*i]], lowerHex[h[2*i+1]]
		if hi|lo > 0xf {
			return h
		}
		b[i] = hi<<4 | lo
	}
	n := len(*slab)
	*slab = append(*slab, b[:]...)
	return (*slab)[n:len(*slab):len(*slab)]
}

// lowerHex is each byte's value as a lower-case hexadecimal digit, 0xff
// for any other byte (upper-case digits included: compactHash keeps a
// hash whose text would not come back as it was).
var lowerHex = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = byte(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = byte(c-'a') + 10
	}
	return t
}()

func sqlInsert(table string, cols, n int) string {
	return `INSERT INTO ` + table + ` VALUES ` + values(n, cols)
}

// SaveOutlets implements publicmask.BulkTx: versions as SaveOutlet stamps
// them, one upsert per group, and the rows staged for the writer's copy
// as SaveOutlet stages them (applied only once the commit succeeded).
// (An UPDATE … FROM (VALUES …) of the stock columns alone, for deliveries,
// measured no faster than the upsert.)
func (t *tx) SaveOutlets(os []*publicmask.Outlet) error {
	// An outlet twice in os is written with its last state: a multi-row
	// upsert may not touch one row twice.
	last := make(map[string]int, len(os))
	for i, o := range os {
		t.s.version++
		o.Version = t.s.version
		last[o.Code] = i
	}
	rows := make([]*publicmask.Outlet, 0, len(last))
	for i, o := range os {
		if last[o.Code] == i {
			rows = append(rows, o)
		}
	}
	// Each row's version is appended to the change log after its group's
	// upsert (migrations 00010 and 00011: no trigger appends it). The rows neither this
	// transaction nor the writer's copy holds are new (the ledger reads an
	// outlet before it writes it, and a row read is held): their versions
	// make no entry stale (fresh).
	fresh := 0
	// mayHave: the rows whose codes the filter may know, asked before
	// noteCodes adds them all; only these can have a registry row.
	mayHave := make([]bool, len(rows))
	for i, o := range rows {
		mayHave[i] = t.s.hot.mayHaveCode(o.Code)
		// A code the filter knows to have no row is not held (checked
		// first: a look-up of the copy that misses is the slower answer).
		if !mayHave[i] || !t.isHeld(o.Code) {
			fresh++
			// A new row joins the writer's copy once committed
			// (staged.inserted), so that the opening delivery of an
			// imported outlet (AddStock) writes its stock without reading
			// the row back.
			t.st.inserted = append(t.st.inserted, o.Code)
			if !mayHave[i] {
				t.st.unknown++
			}
		}
	}
	t.s.hot.noteCodes(rows)
	var stockAt, updatedAt boxed
	// For every group: the statements copy them. Each code is boxed once,
	// for every statement.
	args := make([]any, 0, 8*min(len(rows), bulkRows))
	regArgs := make([]any, 0, 7*min(len(rows), bulkRows))
	logArgs := make([]any, 0, 2*min(len(rows), bulkRows))
	regs := make(map[string]int64)
	err := inGroups(len(rows), func(lo, hi int) error {
		group := rows[lo:hi]
		args = args[:0]
		for _, o := range group {
			args = append(args, o.Code, nil, o.Stock, o.Suspended,
				stockAt.nullMicro(o.StockAt), updatedAt.nullMicro(o.UpdatedAt), o.Version, o.Sold)
		}
		// The registry ids of the rows there are: only codes the filter
		// may know are asked (an import of new outlets asks none).
		clear(regs)
		regArgs = regArgs[:0]
		for i := range group {
			if mayHave[lo+i] {
				regArgs = append(regArgs, args[8*i])
			}
		}
		if len(regArgs) > 0 {
			err := t.bulkQuery(sqlOutletRegsGroup, len(regArgs), regArgs, func(v []driver.Value) error {
				var r valueReader
				regs[r.text(v[0])] = r.integer(v[1])
				return r.err
			})
			if err != nil {
				return fmt.Errorf("sqlite: save outlets: %w", err)
			}
		}
		// A known outlet's registry row is rewritten in place if it
		// changed; a new one's appended with the next id.
		regArgs = regArgs[:0]
		for i, o := range group {
			reg, ok := regs[o.Code]
			if !ok {
				reg = t.s.newReg()
			}
			var id any = reg // boxed once
			args[8*i+1] = id
			if !ok {
				regArgs = append(regArgs, id, args[8*i], o.Name, o.Addr, o.Type, o.Lat, o.Lng)
			} else if prev, held := t.held(o.Code); !held || !sameRegistry(&prev, o) {
				if _, err := t.execNow(sqlRegistrySet, id, o.Code, o.Name, o.Addr, o.Type, o.Lat, o.Lng); err != nil {
					return fmt.Errorf("sqlite: save outlets: %w", err)
				}
			}
		}
		if n := len(regArgs) / 7; n > 0 {
			if err := t.bulkExec(sqlRegistryAppendGroup, n, regArgs); err != nil {
				return fmt.Errorf("sqlite: save outlets: %w", err)
			}
		}
		logArgs = logArgs[:0]
		for i := range hi - lo {
			logArgs = append(logArgs, args[8*i+6], args[8*i]) // version, code: boxed once
		}
		g := sqlOutletUpsertGroup
		if !slices.ContainsFunc(group, func(o *publicmask.Outlet) bool { return !blankState(o) }) {
			// code, reg, updated_at, version of each row
			args, g = keepColumns(args, 8, 0, 1, 5, 6), sqlOutletBlankGroup
		}
		if err := t.bulkExec(g, hi-lo, args); err != nil {
			return fmt.Errorf("sqlite: save outlets: %w", err)
		}
		return t.logChanges(logArgs)
	})
	if err != nil {
		return err
	}
	t.fresh += int64(fresh)
	if len(t.st.outlets) == 0 {
		t.st.outlets = make(map[string]publicmask.Outlet, len(rows)) // not grown row by row
	}
	for _, o := range rows {
		t.st.outlets[o.Code] = stored(*o)
	}
	return nil
}

// InsertDeliveries implements publicmask.BulkTx. When the records held
// last are those of ds, one for one (the ledger puts a delivery list's
// records just before its deliveries), each goes into its delivery's row
// (migration 00007) instead of a row of its own in the idempotency table:
// that row and its two index entries were the largest write of a line.
func (t *tx) InsertDeliveries(ds []*publicmask.Delivery) error {
	recs := t.takeRecords(ds)
	defer clear(recs) // the held list's space, past its end now
	var unchecked []publicmask.IdemKey
	for _, r := range recs {
		if k := (publicmask.IdemKey{Outlet: r.Outlet, TxnID: r.TxnID}); !t.absent[k] {
			unchecked = append(unchecked, k)
		}
	}
	t.pend.unchecked = max(0, t.pend.unchecked-len(unchecked))
	if len(unchecked) > 0 {
		if err := t.flush(); err != nil {
			return err
		}
		if err := t.checkNoRecords(unchecked); err != nil {
			return t.failed(err) // the records taken are dropped: nothing after may commit
		}
	}
	var at boxed
	i := 0
	hashes := make([]byte, 0, sha256.Size*len(recs)) // the compact records' hashes
	var bad error
	err := insertDeliveryRows(t, ds, func(args []any, d *publicmask.Delivery) []any {
		var hash, resp, stock any = "", nil, nil // NULL, NULL: the record, if any, is elsewhere
		if recs != nil {
			r := &recs[i]
			switch c := r.Delivery; {
			case c != nil && c.ID == d.ID && c.Quantity == d.Quantity:
				// The ledger makes the receipt again from the row and the
				// stock (migration 00014).
				// Its response is an empty blob, not NULL: a binary from
				// before 00014 looks records up by response IS NOT NULL, and
				// so finds this one and answers a replay txn_conflict (the
				// blob hash is not its text) instead of delivering again.
				hash, resp, stock = compactHash(r.BodyHash, &hashes), []byte{}, c.Stock
			case c != nil && r.Response == nil:
				// Given without its receipt (KeepsDeliveryRecords), and
				// not this delivery's: it cannot be kept.
				bad = fmt.Errorf("sqlite: the record of %s/%s is not its delivery's (%s)", r.Outlet, r.TxnID, d.ID)
			case r.Response == nil:
				hash, resp = r.BodyHash, []byte{}
			default:
				hash, resp = r.BodyHash, r.Response
			}
		}
		i++
		return append(args, d.ID, d.Outlet, d.TxnID, d.Quantity, at.micro(d.At), hash, resp, stock)
	})
	return cmp.Or(bad, err)
}

// insertDeliveryRows inserts deliveries with one multi-row INSERT per
// group; row appends a delivery's 8 values in order. A group whose rows'
// responses are all the empty blob (column 7; opening deliveries' are)
// runs sqlDeliveriesCompactGroup without that column's arguments.
func insertDeliveryRows(t *tx, ds []*publicmask.Delivery, row func([]any, *publicmask.Delivery) []any) error {
	const cols = 8
	args := make([]any, 0, cols*min(len(ds), bulkRows))
	return inGroups(len(ds), func(lo, hi int) error {
		args = args[:0]
		for _, d := range ds[lo:hi] {
			args = row(args, d)
		}
		g, compact := sqlDeliveriesGroup, true
		for i := 6; i < len(args) && compact; i += cols {
			b, ok := args[i].([]byte)
			compact = ok && b != nil && len(b) == 0
		}
		if compact {
			args, g = keepColumns(args, cols, 0, 1, 2, 3, 4, 5, 7), sqlDeliveriesCompactGroup
		}
		if err := t.bulkExec(g, hi-lo, args); err != nil {
			return fmt.Errorf("sqlite: deliveries: %w", err)
		}
		return nil
	})
}

// KeepsDeliveryRecords implements publicmask.DeliveryRecorder: a record
// given with its Delivery and no Response is kept compact (migration
// 00014), by InsertDeliveries, in its delivery's row.
func (t *tx) KeepsDeliveryRecords() {}

// takeRecords removes from the held records the last len(ds), and returns
// them, if they are the records of ds in order (same outlet, txn_id and
// time); otherwise it leaves them and returns nil. The returned slice
// shares the held list's space: it stays valid until the next record is
// held.
func (t *tx) takeRecords(ds []*publicmask.Delivery) []publicmask.IdemRecord {
	p := &t.pend
	lo := len(p.idem) - len(ds)
	if len(ds) == 0 || lo < 0 {
		return nil
	}
	tail := p.idem[lo:]
	for i, d := range ds {
		r := &tail[i]
		if d.TxnID == "" || r.Outlet != d.Outlet || r.TxnID != d.TxnID || !r.CreatedAt.Equal(d.At) {
			return nil
		}
	}
	p.idem = p.idem[:lo]
	return tail
}

// PutIdempotencies implements publicmask.BulkTx: the records are held and
// written as PutIdempotency's are (buffer.go), with the same checks. Their
// keys go into the idempotency filter a few hundred under one lock
// (noteRecords), not one lock a record: 2,000 a delivery list's chunk.
func (t *tx) PutIdempotencies(rs []publicmask.IdemRecord) error {
	from := len(t.st.records)
	var err error
	for _, r := range rs {
		var k publicmask.IdemKey
		if k, err = t.holdRecord(r); err != nil {
			break
		}
		t.st.records = append(t.st.records, k)
	}
	// The records held before a duplicate too: the filter may only err
	// towards "maybe".
	t.noteRecords(t.st.records[from:])
	return err
}

// boxed keeps the last time put into an argument, boxed: the rows of a
// bulk write share one time, and boxing an int64 allocates.
type boxed struct {
	v   int64
	box any
}

func (b *boxed) micro(t time.Time) any {
	if v := t.UnixMicro(); b.box == nil || v != b.v {
		b.v, b.box = v, v
	}
	return b.box
}

// nullMicro is the package's nullMicro through b.
func (b *boxed) nullMicro(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return b.micro(t)
}

// keepColumns compacts args, rows of cols values, in place to the columns
// keep (ascending) of each row, for a statement that writes the others as
// constants; the slots freed are cleared so that they hold no values.
func keepColumns(args []any, cols int, keep ...int) []any {
	k := 0
	for r := 0; r+cols <= len(args); r += cols {
		for _, c := range keep {
			args[k] = args[r+c] // k <= r+c: a slot already read, or this one
			k++
		}
	}
	clear(args[k:])
	return args[:k]
}
