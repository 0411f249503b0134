package postgres

import (
	"cmp"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/publicmask/publicmask"
)

// Multi-row writes. A group commit's sales, sale items, idempotency records,
// person-weeks and tokens are buffered and go out as one statement per table over
// arrays, queued before the next statement that might depend on them (tx.queue)
// or before the stamping statement at commit. A statement's fixed cost on
// the server (bind, executor start, WAL record of the command) is then paid
// once per batch instead of once per row. Sales keep their order: sales.seq
// follows the order of InsertSale calls.
const (
	// sales.seq is an identity column: the rows are taken in array order
	// (ORDER BY the ordinality) so that seq follows the order of InsertSale
	// calls, which verify relies on for one person's sales in one batch.
	sqlSalesPut = `INSERT INTO sales (id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, conflict, late, shortfall, outlet_type)
		SELECT id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, conflict, late, shortfall, outlet_type
		FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::timestamptz[], $6::text[],
			$7::bool[], $8::int4[], $9::text[], $10::bool[], $11::int4[], $12::text[])
			WITH ORDINALITY AS u(id, outlet, txn_id, sold_at, recorded_at, week, weekend, quantity, conflict, late, shortfall, outlet_type, n)
		ORDER BY u.n`
	sqlItemsPut = `INSERT INTO sale_items (sale_id, idx, role, person, category, birth_year, quantity)
		SELECT * FROM unnest($1::text[], $2::int4[], $3::text[], $4::text[], $5::text[], $6::int4[], $7::int4[])`
	sqlIdemsPut = `INSERT INTO idempotency (outlet, txn_id, body_hash, response, created_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::timestamptz[])`
	sqlPWsInsert = `INSERT INTO person_weeks (person, week, quantity, purchases, weekday_purchases, weekend_purchases)
		SELECT * FROM unnest($1::text[], $2::text[], $3::int4[], $4::int4[], $5::int4[], $6::int4[])`
	sqlTokensPut = `INSERT INTO tokens (hash, role, outlet, created_at)
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])`
	// New outlets (an import's), in code order: one statement for all.
	sqlOutletsPut = `INSERT INTO outlets (code, name, addr, type, lat, lng, stock, suspended, stock_at, updated_at, version, sold)
		SELECT code, name, addr, type, lat, lng, stock, suspended, stock_at, updated_at, 0, sold
		FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::float8[], $6::float8[], $7::int8[], $8::bool[],
			$9::timestamptz[], $10::timestamptz[], $11::int8[]) AS u(code, name, addr, type, lat, lng, stock, suspended, stock_at, updated_at, sold)
		ON CONFLICT (code) DO UPDATE SET name = excluded.name, addr = excluded.addr, type = excluded.type,
		lat = excluded.lat, lng = excluded.lng, stock = excluded.stock, suspended = excluded.suspended,
		stock_at = excluded.stock_at, updated_at = excluded.updated_at, sold = excluded.sold`
	sqlPWsUpsert = sqlPWsInsert + ` ON CONFLICT (week, person) DO UPDATE SET quantity = excluded.quantity,
		purchases = excluded.purchases, weekday_purchases = excluded.weekday_purchases, weekend_purchases = excluded.weekend_purchases`
)

// rowBuffer holds the writes not yet queued.
type rowBuffer struct {
	outlets []publicmask.Outlet // new ones, each code once (SaveOutlet)
	sales   []*publicmask.Sale
	idem    []publicmask.IdemRecord
	tokens  []publicmask.Token
	// Person-weeks by kind, one entry per row: a row written twice keeps
	// its first kind and its last values (one statement cannot write a row
	// twice).
	pwInsert, pwUpsert []publicmask.PersonWeek
	pwAt               map[pwKey]pwSlot
}

type pwSlot struct {
	insert bool
	i      int
}

func (r *rowBuffer) empty() bool {
	return len(r.outlets) == 0 && len(r.sales) == 0 && len(r.idem) == 0 && len(r.pwInsert) == 0 && len(r.pwUpsert) == 0 && len(r.tokens) == 0
}

func (r *rowBuffer) addSale(s *publicmask.Sale) { r.sales = append(r.sales, s) }

// putPW buffers a person-week's new values; insert: the row was read as
// absent, so it must be a plain INSERT.
func (r *rowBuffer) putPW(pw publicmask.PersonWeek, insert bool) {
	k := pwKey{pw.Person, pw.Week}
	if r.pwAt == nil {
		r.pwAt = make(map[pwKey]pwSlot)
	}
	if at, ok := r.pwAt[k]; ok {
		if at.insert {
			r.pwInsert[at.i] = pw
		} else {
			r.pwUpsert[at.i] = pw
		}
		return
	}
	if insert {
		r.pwAt[k] = pwSlot{insert: true, i: len(r.pwInsert)}
		r.pwInsert = append(r.pwInsert, pw)
	} else {
		r.pwAt[k] = pwSlot{i: len(r.pwUpsert)}
		r.pwUpsert = append(r.pwUpsert, pw)
	}
}

// Sessions plan each execution (plan_cache_mode force_custom_plan, see
// Open), and that includes the foreign-key checks PostgreSQL runs for every
// row inserted into sales (its outlet) and sale_items (its sale): planned
// anew per row, they took about a tenth of PostgreSQL's CPU per sale, and
// planning the multi-row INSERTs a little more (perf and
// pg_stat_statements.track_planning on scripts/bench-pg.sh's capacity rush).
// Neither has a plan to choose: an INSERT from unnest has one shape, a key
// check one lookup. So the buffered rows go out between sqlPlanOnce and
// sqlPlanEach: in between, the transaction reuses one generic plan per
// statement and per check, and with sequential scans disabled that plan is
// the primary key's index lookup whatever the table's size or statistics
// were when it was made (a generic plan made on a vacuumed empty sales table
// would otherwise scan it, for every check, until the next ANALYZE). Both
// settings are LOCAL: the session's next transaction plans as before.
//
// The batch's locking reads (Prefetch) and the stamp of its outlets
// (sqlStampKeyed) run between them too: planning them for every batch cost
// PostgreSQL about as much as the reads (pg_stat_statements' plan time). A
// transaction queues the settings only where the planning changes
// (tx.planOnce, tx.planEach): a batch of sales sends its reads, its rows
// and its stamp after one sqlPlanOnce, and its COMMIT ends them. The reads
// are
// written so that their one plan is a nested loop from the arrays into the
// primary key (a LATERAL subquery that cannot be flattened, OFFSET 0), and
// hash and merge joins are off: the join form "unnest(…) JOIN outlets"
// planned generically on an empty table reads the whole primary key into a
// Materialize node, which is the whole table once it has grown
// (TestGenericPlansStayKeyed).
var (
	sqlPlanOnce = []string{`SET LOCAL plan_cache_mode = force_generic_plan`, `SET LOCAL enable_seqscan = off`,
		`SET LOCAL enable_hashjoin = off`, `SET LOCAL enable_mergejoin = off`}
	sqlPlanEach = []string{`SET LOCAL plan_cache_mode TO DEFAULT`, `SET LOCAL enable_seqscan TO DEFAULT`,
		`SET LOCAL enable_hashjoin TO DEFAULT`, `SET LOCAL enable_mergejoin TO DEFAULT`}
)

// queue queues the buffered rows into b and empties the buffer; the caller
// has queued sqlPlanOnce before them (tx.flushRows). Sales go before their
// items (sale_items references sales), and new outlets before all.
func (r *rowBuffer) queue(b *pgx.Batch) {
	if len(r.outlets) > 0 {
		queueOutlets(b, r.outlets)
	}
	if len(r.sales) > 0 {
		queueSales(b, r.sales)
	}
	if len(r.idem) > 0 {
		queueIdems(b, r.idem)
	}
	if len(r.tokens) > 0 {
		queueTokens(b, r.tokens)
	}
	// New person-week rows go in (week, person) order, the order rows are
	// locked in: two transactions inserting some of the same new rows meet
	// on the first one they share, and the loser fails at once on the
	// primary key (and is retried) instead of holding one row while
	// waiting for another.
	if len(r.pwInsert) > 0 {
		slices.SortFunc(r.pwInsert, comparePW)
		queuePWs(b, sqlPWsInsert, r.pwInsert)
	}
	if len(r.pwUpsert) > 0 {
		slices.SortFunc(r.pwUpsert, comparePW)
		queuePWs(b, sqlPWsUpsert, r.pwUpsert)
	}
	// The queued arguments keep the slices: start new ones.
	*r = rowBuffer{}
}

func queueAll(b *pgx.Batch, sqls []string) {
	for _, q := range sqls {
		b.Queue(q)
	}
}

func comparePW(a, b publicmask.PersonWeek) int {
	return cmp.Or(cmp.Compare(a.Week, b.Week), cmp.Compare(a.Person, b.Person))
}

func queueSales(b *pgx.Batch, sales []*publicmask.Sale) {
	n := len(sales)
	ids, outlets, txns, weeks, conflicts := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	types := make([]string, n)
	sold, recorded := make([]time.Time, n), make([]time.Time, n)
	weekend, late := make([]bool, n), make([]bool, n)
	qty, short := make([]int32, n), make([]int32, n)
	items := 0
	for i, s := range sales {
		ids[i], outlets[i], txns[i], weeks[i], conflicts[i], types[i] = s.ID, s.Outlet, s.TxnID, s.Week, s.Conflict, s.OutletType
		sold[i], recorded[i], weekend[i], late[i] = s.SoldAt, s.RecordedAt, s.Weekend, s.Late
		qty[i], short[i] = int32(s.Quantity), int32(s.Shortfall)
		items += len(s.Items)
	}
	b.Queue(sqlSalesPut, ids, outlets, txns, sold, recorded, weeks, weekend, qty, conflicts, late, short, types)
	if items == 0 {
		return
	}
	saleIDs, roles, persons, cats := make([]string, 0, items), make([]string, 0, items), make([]string, 0, items), make([]string, 0, items)
	idx, births, iqty := make([]int32, 0, items), make([]int32, 0, items), make([]int32, 0, items)
	for _, s := range sales {
		for i, it := range s.Items {
			saleIDs, idx, roles, persons = append(saleIDs, s.ID), append(idx, int32(i)), append(roles, it.Role), append(persons, it.Person)
			cats, births, iqty = append(cats, it.Category), append(births, int32(it.BirthYear)), append(iqty, int32(it.Quantity))
		}
	}
	b.Queue(sqlItemsPut, saleIDs, idx, roles, persons, cats, births, iqty)
}

// queueOutlets inserts new outlets in code order, the order outlets are
// locked in.
func queueOutlets(b *pgx.Batch, os []publicmask.Outlet) {
	slices.SortFunc(os, func(a, b publicmask.Outlet) int { return cmp.Compare(a.Code, b.Code) })
	n := len(os)
	codes, names, addrs, types := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	lats, lngs := make([]float64, n), make([]float64, n)
	stocks, solds, susp := make([]int64, n), make([]int64, n), make([]bool, n)
	stockAt, updAt := make([]pgtype.Timestamptz, n), make([]pgtype.Timestamptz, n)
	for i, o := range os {
		codes[i], names[i], addrs[i], types[i] = o.Code, o.Name, o.Addr, o.Type
		lats[i], lngs[i], stocks[i], susp[i] = o.Lat, o.Lng, int64(o.Stock), o.Suspended
		stockAt[i], updAt[i], solds[i] = tstz(o.StockAt), tstz(o.UpdatedAt), int64(o.Sold)
	}
	b.Queue(sqlOutletsPut, codes, names, addrs, types, lats, lngs, stocks, susp, stockAt, updAt, solds)
}

func queueIdems(b *pgx.Batch, rs []publicmask.IdemRecord) {
	n := len(rs)
	outlets, txns, hashes := make([]string, n), make([]string, n), make([]string, n)
	resp, at := make([][]byte, n), make([]time.Time, n)
	for i, r := range rs {
		outlets[i], txns[i], hashes[i], resp[i], at[i] = r.Outlet, r.TxnID, r.BodyHash, r.Response, r.CreatedAt
	}
	b.Queue(sqlIdemsPut, outlets, txns, hashes, resp, at)
}

func queueTokens(b *pgx.Batch, ts []publicmask.Token) {
	n := len(ts)
	hashes, roles, outlets, at := make([]string, n), make([]string, n), make([]string, n), make([]time.Time, n)
	for i, tk := range ts {
		hashes[i], roles[i], outlets[i], at[i] = tk.Hash, tk.Role, tk.Outlet, tk.CreatedAt
	}
	b.Queue(sqlTokensPut, hashes, roles, outlets, at)
}

func queuePWs(b *pgx.Batch, sql string, pws []publicmask.PersonWeek) {
	n := len(pws)
	persons, weeks := make([]string, n), make([]string, n)
	qty, purchases, weekday, weekend := make([]int32, n), make([]int32, n), make([]int32, n), make([]int32, n)
	for i, pw := range pws {
		persons[i], weeks[i] = pw.Person, pw.Week
		qty[i], purchases[i], weekday[i], weekend[i] = int32(pw.Quantity), int32(pw.Purchases), int32(pw.WeekdayPurchases), int32(pw.WeekendPurchases)
	}
	b.Queue(sql, persons, weeks, qty, purchases, weekday, weekend)
}
