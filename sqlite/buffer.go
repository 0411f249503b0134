package sqlite

import (
	"crypto/sha256"
	"fmt"
	"math/bits"
	"slices"
	"strings"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/policy"
)

// A sale's rows (its idempotency record, persons' weeks, sale and items,
// and the outlet's new stock) are not written statement by statement: the
// transaction holds them and writes each table's rows with a few
// multi-row statements when it ends, or as soon as any other statement is
// about to run, so that every statement sees the rows before it exactly as
// if they had been written one by one. Held, a sale's idempotency record
// can go into the sale's own row (addSale), appended with it, instead of a
// large row of its own at a random place in the idempotency table: that
// record was about a sixth of the server's CPU per sale (measured by
// leaving it out). The multi-row statements themselves cost about what
// the single-row ones did: the B-tree work per row dominates, not the
// statement. The reads a sale makes of rows still held here (its persons'
// weeks, its outlet) are answered from them.

// pending are a transaction's rows not yet written.
type pending struct {
	idem      []publicmask.IdemRecord
	unchecked int           // records of idem whose txn_id this transaction did not look up
	pwAt      map[pwKey]int // index in pws: a row is written once, with its last value
	pws       []publicmask.PersonWeek
	pwNew     []bool // by index in pws: the database has no row of it (tx.pwAbsent)
	newPWs    int    // how many of pwNew are true
	sales     []pendingSale
	items     int
	outAt     map[string]int // index in outlets
	outlets   []publicmask.Outlet
	box       boxes // the flush's arguments boxed once (see boxes)
}

// boxes hands out the flush's arguments as interface values (what the
// driver takes), boxing a value again only when it differs from the last
// one of its column: a batch's rows share their week, their recording
// time, the few roles and categories of their items, and a row's sale id
// or outlet code is bound in two statements. Each boxing of a string or an
// int64 above 255 was an allocation: 18 of a sale's 60 (BenchmarkSell).
type boxes struct {
	week, role, category lastBoxed[string]
	// Two time columns each statement fills: a sale's sold_at and
	// recorded_at, an outlet's stock_at and updated_at.
	soldAt, at      lastBoxed[int64]
	year            lastBoxed[int64]
	saleIDs         []any  // by index in pending.sales, set by the sales' statement
	codes, versions []any  // by index in pending.outlets, set by the outlets' statement
	hashes          []byte // the sales' body hashes as compactHash keeps them
}

// lastBoxed is a column's last value and its box.
type lastBoxed[T comparable] struct {
	x T
	v any
}

func (c *lastBoxed[T]) box(x T) any {
	if c.v == nil || c.x != x {
		c.x, c.v = x, x
	}
	return c.v
}

// boxedTypes are the outlet types, boxed once: a batch mixes its outlets'
// types, so boxing the last one again when it differs (lastBoxed) would
// allocate for most sales.
var boxedTypes = [...]any{publicmask.TypePharmacy, publicmask.TypePost, publicmask.TypeNonghyup}

// boxOutletType is a sale's outlet type (Sale.OutletType) as bound.
func boxOutletType(t string) any {
	for _, b := range boxedTypes {
		if b.(string) == t {
			return b
		}
	}
	return t
}

// nullMicroBox is nullMicro(t), boxed as box does.
func nullMicroBox(c *lastBoxed[int64], t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return c.box(t.UnixMicro())
}

func (b *boxes) reset() {
	clear(b.saleIDs)
	clear(b.codes)
	clear(b.versions)
	*b = boxes{saleIDs: b.saleIDs[:0], codes: b.codes[:0], versions: b.versions[:0], hashes: b.hashes[:0]}
}

func (p *pending) empty() bool {
	return len(p.idem) == 0 && len(p.pws) == 0 && len(p.sales) == 0 && len(p.outlets) == 0
}

// reset empties p, keeping its space for the next rows but no reference
// to the rows it held.
func (p *pending) reset() {
	clear(p.idem)
	clear(p.pws)
	clear(p.sales)
	clear(p.outlets)
	p.idem, p.pws, p.pwNew, p.sales, p.outlets = p.idem[:0], p.pws[:0], p.pwNew[:0], p.sales[:0], p.outlets[:0]
	p.items, p.unchecked, p.newPWs = 0, 0, 0
	clear(p.pwAt)
	clear(p.outAt)
	p.box.reset()
}

// addSale holds a sale; the idempotency record of its txn_id, when it was
// the last one recorded, goes into its row instead of its own table.
func (p *pending) addSale(s *publicmask.Sale) {
	ps := pendingSale{Sale: *s}
	if n := len(p.idem); n > 0 && p.idem[n-1].Outlet == s.Outlet && p.idem[n-1].TxnID == s.TxnID && s.TxnID != "" {
		ps.hash, ps.response = p.idem[n-1].BodyHash, p.idem[n-1].Response
		if ps.response == nil {
			ps.response = []byte{} // NULL marks a sale without its record
		}
		p.idem = p.idem[:n-1]
	}
	p.sales = append(p.sales, ps)
	if len(s.Items) > 1 {
		p.items += len(s.Items) - 1 // the first goes into the sale's row
	}
}

// pendingSale is a sale and, when it carries it, its idempotency record.
type pendingSale struct {
	publicmask.Sale
	hash     string
	response []byte // nil: the record is elsewhere
}

// plain says the sale's conflict, late and shortfall columns take the
// schema's defaults (empty, 0, 0): a batch of such sales is written without
// binding them (multiSalePlain).
func (s *pendingSale) plain() bool {
	return s.Conflict == "" && !s.Late && s.Shortfall == 0
}

// putPersonWeek holds pw's row; isNew says the database has none (a row
// held already keeps what its first put said: nothing was written since).
func (p *pending) putPersonWeek(pw publicmask.PersonWeek, isNew bool) {
	if p.pwAt == nil {
		p.pwAt = make(map[pwKey]int)
	}
	k := pwKey{pw.Person, pw.Week}
	if i, ok := p.pwAt[k]; ok {
		p.pws[i] = pw
		return
	}
	p.pwAt[k] = len(p.pws)
	p.pws = append(p.pws, pw)
	p.pwNew = append(p.pwNew, isNew)
	if isNew {
		p.newPWs++
	}
}

func (p *pending) personWeek(person, week string) (publicmask.PersonWeek, bool) {
	i, ok := p.pwAt[pwKey{person, week}]
	if !ok {
		return publicmask.PersonWeek{}, false
	}
	return p.pws[i], true
}

func (p *pending) putOutlet(o publicmask.Outlet) {
	if p.outAt == nil {
		p.outAt = make(map[string]int)
	}
	if i, ok := p.outAt[o.Code]; ok {
		p.outlets[i] = o
		return
	}
	p.outAt[o.Code] = len(p.outlets)
	p.outlets = append(p.outlets, o)
}

// The multi-row statements, by table: head + values(n, cols) + tail. Each
// is prepared once per store for every power of two up to maxMultiRows
// rows, and a table's rows are written in groups of those sizes (100 rows:
// 64 + 32 + 4), so that no batch parses SQL.
type multiSQL struct {
	head string
	cols int
	row  string // one row of the VALUES list, when not cols placeholders
	tail string
	qs   [8]string // the statements by log2 of their rows (init)
}

const maxMultiRows = 128

var (
	multiIdem = multiSQL{head: `INSERT OR ROLLBACK INTO idempotency (outlet, txn_id, body_hash, response, created_at) VALUES `, cols: 5}
	multiPW   = multiSQL{head: `INSERT OR ROLLBACK INTO person_weeks (person, week, quantity, purchases, weekday_purchases, weekend_purchases) VALUES `, cols: 6,
		tail: ` ON CONFLICT (week, person) DO UPDATE SET quantity = excluded.quantity, purchases = excluded.purchases, weekday_purchases = excluded.weekday_purchases, weekend_purchases = excluded.weekend_purchases`}
	// The person-weeks the transaction knows the database has no row of
	// (most of a rush's: a person's first purchase of the week). The
	// upsert above makes SQLite keep a statement journal (its DO UPDATE
	// checks NOT NULL by aborting the statement alone, whatever the insert
	// says), a copy of every randomly placed leaf it changes; this plain
	// insert does not. Should a row exist after all, the insert fails and
	// rolls the transaction back rather than overwrite it.
	multiPWNew = multiSQL{head: `INSERT OR ROLLBACK INTO person_weeks (person, week, quantity, purchases, weekday_purchases, weekend_purchases) VALUES `, cols: 6}
	// A sale's first item goes into its row (migration 00016), the others
	// into sale_items (multiItem).
	multiSale = multiSQL{head: `INSERT OR ROLLBACK INTO sales (id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, outlet_type, conflict, late, shortfall, body_hash, response, ` + saleItemCols + `) VALUES `, cols: 19}
	// The same for a batch whose sales are all plain (pendingSale.plain):
	// three arguments a sale fewer to bind. A batch is not split by kind:
	// its sales' rowids keep their order (SalesSince reads by rowid).
	multiSalePlain = multiSQL{head: `INSERT OR ROLLBACK INTO sales (id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, outlet_type, body_hash, response, ` + saleItemCols + `) VALUES `, cols: 16}
	// The same for a batch of plain sales whose one item each is a buyer
	// (nearly every batch): the item's role and empty category are the
	// statement's constants, two text arguments a sale fewer to bind.
	multiSaleBuyer = multiSQL{head: multiSalePlain.head, cols: 14, row: `(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '` + policy.RoleBuyer + `', ?, '', ?, ?)`}
	multiItem      = multiSQL{head: `INSERT OR ROLLBACK INTO sale_items (sale_id, idx, role, person, category, birth_year, quantity) VALUES `, cols: 7}
	// The outlets' stock columns: one look-up of the primary key per row
	// of the VALUES list (a stock-only change of a held outlet, see
	// SaveOutlet).
	multiOutlet = multiSQL{head: `UPDATE OR ROLLBACK outlets SET stock = v.column2, suspended = v.column3, stock_at = v.column4, updated_at = v.column5, version = v.column6, sold = v.column7 FROM (VALUES `, cols: 7,
		tail: `) AS v WHERE outlets.code = v.column1`}
	// The records of a list of keys: the keys drive the join, so that each
	// is one look-up in the primary key.
	multiIdemGet = multiSQL{head: `WITH k(outlet, txn_id) AS (VALUES `, cols: 2,
		tail: `) SELECT i.outlet, i.txn_id, i.body_hash, i.response, i.created_at, NULL, NULL, NULL FROM k CROSS JOIN idempotency i ON i.outlet = k.outlet AND i.txn_id = k.txn_id
			UNION ALL SELECT s.outlet, s.txn_id, s.body_hash, s.response, s.recorded_at, NULL, NULL, NULL FROM k CROSS JOIN sales s ON s.outlet = k.outlet AND s.txn_id = k.txn_id WHERE s.response IS NOT NULL
			UNION ALL SELECT d.outlet, d.txn_id, d.body_hash, d.response, d.at, d.id, d.quantity, d.stock FROM k CROSS JOIN deliveries d ON d.outlet = k.outlet AND d.txn_id = k.txn_id WHERE d.response IS NOT NULL`}
	// The change log's entries of the outlets multiOutlet changed (migration
	// 00011: no trigger appends them).
	multiChange = multiSQL{head: `INSERT OR REPLACE INTO outlet_changes (version, code) VALUES `, cols: 2}
	multiTables = []*multiSQL{&multiIdem, &multiPW, &multiPWNew, &multiSale, &multiSalePlain, &multiSaleBuyer, &multiItem, &multiOutlet, &multiChange, &multiIdemGet}
)

// query is m's statement for rows rows, a power of two up to maxMultiRows.
func (m *multiSQL) query(rows int) string {
	i := bits.TrailingZeros(uint(rows))
	if q := m.qs[i]; q != "" {
		return q
	}
	return m.head + m.values(rows) + m.tail
}

// values is the VALUES list of rows rows.
func (m *multiSQL) values(rows int) string {
	if m.row == "" {
		return values(rows, m.cols)
	}
	return strings.TrimSuffix(strings.Repeat(m.row+", ", rows), ", ")
}

func init() {
	for _, m := range multiTables {
		for i, n := 0, 1; n <= maxMultiRows; i, n = i+1, n*2 {
			m.qs[i] = m.head + m.values(n) + m.tail
		}
	}
}

// multiSQLs are the statements to prepare for the multi-row writes.
func multiSQLs() []string {
	var qs []string
	for _, m := range multiTables {
		for n := 1; n <= maxMultiRows; n *= 2 {
			qs = append(qs, m.query(n))
		}
	}
	return qs
}

// inGroups runs m for n rows (or keys) in groups of a prepared size, the
// largest power of two that fits, appending row i's values with add; do
// gets each group's statement, its size and its arguments.
func (t *tx) inGroups(m *multiSQL, n int, add func(args []any, i int) []any, do func(q string, size int, args []any) error) error {
	for lo := 0; lo < n; {
		size := maxMultiRows
		for size > n-lo {
			size /= 2
		}
		args := t.args[:0]
		for i := lo; i < lo+size; i++ {
			args = add(args, i)
		}
		err := do(m.query(size), size, args)
		clear(args)
		t.args = args[:0]
		if err != nil {
			return err
		}
		lo += size
	}
	return nil
}

// writeMulti writes n rows of m, appending row i's values with row; it
// returns the rows the statements reported as changed.
func (t *tx) writeMulti(m *multiSQL, n int, row func(args []any, i int) []any) (int64, error) {
	var changed int64
	err := t.inGroups(m, n, row, func(q string, size int, args []any) error {
		k, err := t.execRaw(q, args)
		if err != nil {
			return fmt.Errorf("sqlite: %.30s (%d rows): %w", m.head, size, err)
		}
		changed += k
		return nil
	})
	return changed, err
}

// queryMulti reads with m for n keys, appending key i's values with key,
// and calls scan for each row.
func (t *tx) queryMulti(m *multiSQL, n int, key func(args []any, i int) []any, scan func(scanner) error) error {
	return t.inGroups(m, n, key, func(q string, _ int, args []any) error {
		return t.queryRows(q, args, scan)
	})
}

// flush writes the pending rows, in an order that the foreign keys accept
// (a sale before its items). Any failure, its own checks' included, is the
// transaction's (failed): the pending rows are dropped with it, so nothing
// after it may commit.
func (t *tx) flush() (err error) {
	p := &t.pend
	if p.empty() {
		return nil
	}
	defer p.reset()
	defer func() { t.failed(err) }()
	if err := t.checkNewRecords(); err != nil {
		return err
	}
	for i := range p.idem {
		// A record given without its receipt is kept only in its
		// delivery's row (InsertDeliveries): here it would have none.
		if r := &p.idem[i]; r.Response == nil && r.Delivery != nil {
			return fmt.Errorf("sqlite: the record of %s/%s has no receipt and no delivery of its own", r.Outlet, r.TxnID)
		}
	}
	if _, err := t.writeMulti(&multiIdem, len(p.idem), func(a []any, i int) []any {
		r := &p.idem[i]
		return append(a, r.Outlet, r.TxnID, r.BodyHash, r.Response, micro(r.CreatedAt))
	}); err != nil {
		return err
	}
	if err := t.flushPersonWeeks(); err != nil {
		return err
	}
	bx := &p.box
	bx.saleIDs = slices.Grow(bx.saleIDs[:0], len(p.sales))[:len(p.sales)]
	// The hashes' bytes, all in one slab grown once: each row binds a
	// piece of it.
	bx.hashes = slices.Grow(bx.hashes[:0], sha256.Size*len(p.sales))
	plain, buyers := true, true
	for i := range p.sales {
		s := &p.sales[i]
		if !s.plain() {
			plain = false
			break
		}
		buyers = buyers && len(s.Items) == 1 && s.Items[0].Role == policy.RoleBuyer && s.Items[0].Category == ""
	}
	m := &multiSale
	if plain && buyers {
		m = &multiSaleBuyer
	} else if plain {
		m = &multiSalePlain
	}
	if _, err := t.writeMulti(m, len(p.sales), func(a []any, i int) []any {
		s := &p.sales[i]
		id := any(s.ID)
		bx.saleIDs[i] = id
		a = append(a, id, s.Outlet, s.TxnID, bx.soldAt.box(micro(s.SoldAt)), bx.at.box(micro(s.RecordedAt)), bx.week.box(s.Week),
			s.Weekend, int64(s.Quantity), boxOutletType(s.OutletType))
		if !plain {
			a = append(a, s.Conflict, s.Late, int64(s.Shortfall))
		}
		a = append(a, compactHash(s.hash, &bx.hashes), s.response)
		if len(s.Items) == 0 {
			return append(a, nil, nil, nil, nil, nil)
		}
		it := &s.Items[0]
		if m == &multiSaleBuyer {
			return append(a, it.Person, bx.year.box(int64(it.BirthYear)), int64(it.Quantity))
		}
		return append(a, bx.role.box(it.Role), it.Person, bx.category.box(it.Category), bx.year.box(int64(it.BirthYear)), int64(it.Quantity))
	}); err != nil {
		return err
	}
	if err := t.flushItems(); err != nil {
		return err
	}
	return t.flushOutlets()
}

// checkNewRecords fails if a txn_id recorded by this transaction already
// has a record in either place: the idempotency table's key alone does not
// see the records kept in sales rows. A txn_id this transaction looked up
// and found without a record is not looked up again (it is the only
// writer); the ledger looks every txn_id up before recording it, so this
// usually reads nothing, but it is the store's own guarantee.
func (t *tx) checkNewRecords() error {
	p := &t.pend
	if p.unchecked == 0 {
		return nil
	}
	keys := make([]publicmask.IdemKey, 0, p.unchecked)
	add := func(k publicmask.IdemKey) {
		if !t.absent[k] {
			keys = append(keys, k)
		}
	}
	for _, r := range p.idem {
		add(publicmask.IdemKey{Outlet: r.Outlet, TxnID: r.TxnID})
	}
	for _, s := range p.sales {
		if s.response != nil {
			add(publicmask.IdemKey{Outlet: s.Outlet, TxnID: s.TxnID})
		}
	}
	return t.checkNoRecords(keys)
}

// checkNoRecords fails if any of keys has a record in the database.
func (t *tx) checkNoRecords(keys []publicmask.IdemKey) error {
	if len(keys) == 0 {
		return nil
	}
	found := 0
	var dup publicmask.IdemKey
	err := t.queryMulti(&multiIdemGet, len(keys), func(a []any, i int) []any {
		return append(a, keys[i].Outlet, keys[i].TxnID)
	}, func(rows scanner) error {
		found++
		return rows.Scan(&dup.Outlet, &dup.TxnID, new(string), new([]byte), new(int64), new(any), new(any), new(any))
	})
	if err != nil {
		return fmt.Errorf("sqlite: idempotency: %w", err)
	}
	if found > 0 {
		return fmt.Errorf("sqlite: txn_id %s/%s already has an idempotency record", dup.Outlet, dup.TxnID)
	}
	return nil
}

// flushPersonWeeks writes the held person-weeks: those the database has
// no row of with a plain insert, the others with the upsert.
func (t *tx) flushPersonWeeks() error {
	p := &t.pend
	if p.newPWs == 0 {
		return t.writePWs(&multiPW, len(p.pws), func(i int) int { return i })
	}
	idx := make([]int, 0, len(p.pws))
	for i, isNew := range p.pwNew {
		if isNew {
			idx = append(idx, i)
		}
	}
	for i, isNew := range p.pwNew {
		if !isNew {
			idx = append(idx, i)
		}
	}
	if err := t.writePWs(&multiPWNew, p.newPWs, func(i int) int { return idx[i] }); err != nil {
		return err
	}
	rest := idx[p.newPWs:]
	return t.writePWs(&multiPW, len(rest), func(i int) int { return rest[i] })
}

// writePWs writes n held person-weeks with m, the i-th being p.pws[at(i)].
func (t *tx) writePWs(m *multiSQL, n int, at func(i int) int) error {
	p := &t.pend
	_, err := t.writeMulti(m, n, func(a []any, i int) []any {
		pw := &p.pws[at(i)]
		return append(a, pw.Person, p.box.week.box(pw.Week), int64(pw.Quantity), int64(pw.Purchases), int64(pw.WeekdayPurchases), int64(pw.WeekendPurchases))
	})
	return err
}

// flushItems writes the items after each sale's first (which its row
// holds), keeping their index. It runs after the same flush's sales
// statement, which sets the sale ids (bx.saleIDs) its rows bind.
func (t *tx) flushItems() error {
	p := &t.pend
	if p.items == 0 {
		return nil
	}
	type ref struct{ sale, item int }
	refs := make([]ref, 0, p.items)
	for si := range p.sales {
		for ii := 1; ii < len(p.sales[si].Items); ii++ {
			refs = append(refs, ref{si, ii})
		}
	}
	_, err := t.writeMulti(&multiItem, len(refs), func(a []any, i int) []any {
		s, bx := &p.sales[refs[i].sale], &p.box
		it := &s.Items[refs[i].item]
		return append(a, bx.saleIDs[refs[i].sale], int64(refs[i].item), bx.role.box(it.Role), it.Person, bx.category.box(it.Category),
			bx.year.box(int64(it.BirthYear)), int64(it.Quantity))
	})
	return err
}

// flushOutlets updates the stock columns of the pending outlets. They are
// rows the writer holds, so each exists; should one not (the update
// changed fewer rows), every pending outlet is upserted whole, which is
// what SaveOutlet would have done.
func (t *tx) flushOutlets() error {
	p, bx := &t.pend, &t.pend.box
	bx.codes = slices.Grow(bx.codes[:0], len(p.outlets))[:len(p.outlets)]
	bx.versions = slices.Grow(bx.versions[:0], len(p.outlets))[:len(p.outlets)]
	n, err := t.writeMulti(&multiOutlet, len(p.outlets), func(a []any, i int) []any {
		o := &p.outlets[i]
		code, version := any(o.Code), any(o.Version)
		bx.codes[i], bx.versions[i] = code, version
		return append(a, code, int64(o.Stock), o.Suspended, nullMicroBox(&bx.soldAt, o.StockAt), nullMicroBox(&bx.at, o.UpdatedAt), version, int64(o.Sold))
	})
	if err != nil {
		return err
	}
	if n == int64(len(p.outlets)) {
		_, err := t.writeMulti(&multiChange, len(p.outlets), func(a []any, i int) []any {
			return append(a, bx.versions[i], bx.codes[i])
		})
		return err
	}
	for i := range p.outlets {
		o := &p.outlets[i]
		t.s.hot.noteCodes([]*publicmask.Outlet{o}) // a row it writes (outletcodes.go)
		if err := t.upsertOutlet(o); err != nil {
			return err
		}
	}
	return nil
}

// queryRow runs a one-row read after writing the pending rows.
func (t *tx) queryRow(q string, args ...any) (scanner, error) {
	if err := t.flush(); err != nil {
		return nil, err
	}
	return t.rowStmt(q, args...), nil
}
