package publicmask

import (
	"context"
	"strings"
	"time"
)

// PersonWeek is one person's purchases in one week (Monday, Asia/Seoul). The
// person is identified only by the HMAC person key, never by the raw ID.
type PersonWeek struct {
	Person string
	Week   string // "YYYY-MM-DD" of the Monday
	Usage
}

// SaleItem is the share of one person in a sale.
type SaleItem struct {
	Role      string // "buyer" or "proxy"
	Person    string // person key; "" once purged after the retention window
	Category  string // proxies only
	BirthYear int
	Quantity  int
}

// Sale is one recorded purchase at an outlet.
type Sale struct {
	ID         string
	Outlet     string
	TxnID      string
	SoldAt     time.Time // when the masks were handed over (rules apply here)
	RecordedAt time.Time // when the ledger committed it (differs for offline sales)
	Week       string
	Weekend    bool
	Quantity   int // total over the items
	Items      []SaleItem
	// Late: sold_at was more than a minute before the request, or the
	// counter sent it from its offline outbox (DESIGN.md §4.3).
	Late bool
	// Conflict lists, comma-separated and most important first, the
	// reasons a late sale is flagged: a rule's code, sales_suspended,
	// out_of_stock, late_while_online; "" if none. Such sales are recorded
	// because the masks were handed over, and listed for review.
	Conflict string
	// Shortfall is how many masks the sale took beyond the stock; a
	// `shortfall` correction linked to the sale added them back so that
	// stock stays ≥ 0 (and a cancel takes them away again).
	Shortfall   int
	CancelledAt time.Time
	// OutletType is the outlet's type the ledger judged the sale with,
	// the type in force at the sale: verify judges it again with this one,
	// not the outlet's type now (an outlet re-imported with another type
	// keeps its sales' verdicts). "" for a sale recorded before stores
	// kept it (then the current type stands in). Written by InsertSale,
	// read back by SalesSince.
	OutletType string
}

// Conflict reasons besides the rule codes (DESIGN.md §4.3).
const (
	ConflictLateWhileOnline = "late_while_online"
)

// ConflictReasons splits Sale.Conflict into its reasons.
func ConflictReasons(conflict string) []string {
	if conflict == "" {
		return nil
	}
	return strings.Split(conflict, ",")
}

// Delivery is stock received by an outlet.
type Delivery struct {
	ID       string
	Outlet   string
	TxnID    string
	Quantity int
	At       time.Time
}

// Correction kinds.
const (
	// CorrectionCount: a physical count replaced the computed stock.
	CorrectionCount = "count"
	// CorrectionShortfall: a late sale took more than the stock; this adds
	// the difference back so that stock is 0, not negative.
	CorrectionShortfall = "shortfall"
	// CorrectionShortfallReversed: the late sale was cancelled, and its
	// shortfall correction is taken back.
	CorrectionShortfallReversed = "shortfall_reversed"
)

// Correction is a change of stock that is neither a delivery nor a sale.
type Correction struct {
	ID     string
	Outlet string
	TxnID  string
	Kind   string // CorrectionCount (default when empty) or a shortfall kind
	SaleID string // the late sale of a shortfall correction
	Count  int
	Delta  int // count − stock before the correction
	At     time.Time
}

// LateSaleCount is one outlet's late sales, for the conflicts review.
type LateSaleCount struct {
	Outlet    string
	Late      int // late sales recorded (cancelled ones included)
	Conflicts int // of which flagged
}

// IdemRecord remembers the first answer to a client's txn_id at an outlet, so
// that a retry gets the same answer and a reuse with another body is refused.
type IdemRecord struct {
	Outlet    string
	TxnID     string
	BodyHash  string
	Response  []byte
	CreatedAt time.Time
	// Delivery, set by the ledger on the record of a delivery line whose
	// Response it can make again from the delivery's own row and Delivery
	// (its receipt shows the stock after the line and the delivery's time
	// as both at and stock_at): a store may then keep Delivery.Stock in
	// the delivery's row instead of Response, and give the record back
	// with its BodyHash, Delivery set and Response nil, for the ledger to
	// make again (ledger.fullRecord). Stores that keep Response ignore it.
	Delivery *DeliveryRecord
}

// DeliveryRecord is what a delivery line's record is made again from,
// beside its outlet, txn_id and time (IdemRecord.Delivery).
type DeliveryRecord struct {
	ID       string // the delivery's
	Quantity int
	Stock    int // the outlet's stock after the line, as its receipt showed
}

// Token roles.
const (
	RoleAdmin       = "admin"
	RoleDistributor = "distributor"
	RoleOutlet      = "outlet"
)

// Token is an issued bearer token; only its hash is stored.
type Token struct {
	Hash      string
	Role      string
	Outlet    string // outlet tokens only
	CreatedAt time.Time
	RevokedAt time.Time
}

// OutletTotals are the aggregates that verify checks stock against.
type OutletTotals struct {
	Code        string
	Stock       int
	Delivered   int
	Sold        int // non-cancelled sales
	Corrections int // sum of correction deltas
	// Shortfall is the masks non-cancelled late sales took beyond the stock;
	// ShortfallCorrections the net delta of their shortfall corrections
	// (and reversals). The two must be equal.
	Shortfall            int
	ShortfallCorrections int
}

// Store is the persistence contract. Every implementation (SQLite,
// PostgreSQL) passes the same conformance suite in storetest.
type Store interface {
	// Write runs fn in one durable transaction; the ledger batches many
	// requests into one call. fn may be called more than once (a store
	// retries serialization failures), so it must not keep effects outside
	// tx between calls. An error from fn rolls everything back.
	Write(ctx context.Context, fn func(tx Tx) error) error

	Outlet(ctx context.Context, code string) (Outlet, error)
	// Outlets returns every outlet ordered by code and the version that the
	// list is consistent with.
	Outlets(ctx context.Context) ([]Outlet, int64, error)
	// OutletChanges returns outlets changed after version `after`, ordered
	// by version, at most limit.
	OutletChanges(ctx context.Context, after int64, limit int) ([]Outlet, error)
	SoldSince(ctx context.Context, outlet string, since time.Time) (int, error)
	RecentSales(ctx context.Context, outlet string, limit int) ([]Sale, error)
	Token(ctx context.Context, hash string) (Token, error)
	// PersonWeeks reads persons' usage in a week without locking (advice
	// for a purchase check; the sale itself re-reads inside its transaction).
	PersonWeeks(ctx context.Context, week string, persons []string) (map[string]PersonWeek, error)

	// SalesSince streams sales sold at or after since, with their items, in
	// insertion order: for any one person that is the order in which each
	// sale was judged against the ones before it (the person-week row
	// serialises them), which verify must replay.
	SalesSince(ctx context.Context, since time.Time, fn func(Sale) error) error
	PersonWeeksSince(ctx context.Context, week string, fn func(PersonWeek) error) error
	OutletTotals(ctx context.Context) ([]OutletTotals, error)
	Conflicts(ctx context.Context, limit int) ([]Sale, error)
	// LateSaleCounts counts late sales per outlet (outlets with none are
	// left out), ordered by outlet code.
	LateSaleCounts(ctx context.Context) ([]LateSaleCount, error)
	// OutletActive reports whether the outlet recorded a write of its own
	// (a sale, a cancel, a count, a suspend or resume) at an instant in
	// (after, until]: evidence that it was online then.
	OutletActive(ctx context.Context, outlet string, after, until time.Time) (bool, error)

	// Audit runs fn against one consistent snapshot of the store, so that
	// verify compares totals, sales and person-weeks of the same moment
	// while sales go on.
	Audit(ctx context.Context, fn func(AuditReader) error) error

	// Purge forgets who bought in weeks before `week`: person-week rows go
	// and sale items lose their person key; aggregate quantities stay.
	Purge(ctx context.Context, week string) (int, error)

	Meta(ctx context.Context, key string) (string, error) // "" if unset
	SetMeta(ctx context.Context, key, value string) error
	// InitMeta sets a metadata value only if it is unset and returns the
	// value in force: of several nodes starting at once, one wins and all
	// see the same answer.
	InitMeta(ctx context.Context, key, value string) (string, error)

	// NewEpoch starts a new epoch of the store's history (epoch.go) with
	// the given id, from the store's current version, read under the lock
	// that orders versions: every version committed after it is above its
	// start. It returns the chain in force. A node that writes calls it
	// before its first write.
	NewEpoch(ctx context.Context, id string) (Epochs, error)
	// Epochs reads the chain of epochs (nil for a store without one). A
	// public node reads it with the change feed: with PostgreSQL it is
	// readable by the public role, unlike Meta.
	Epochs(ctx context.Context) (Epochs, error)

	Ping(ctx context.Context) error
	Close() error
}

// Tx is what a write transaction may do. Implementations lock what they read
// for update where the database needs it (PostgreSQL), in a fixed order.
type Tx interface {
	Idempotency(outlet, txnID string) (IdemRecord, bool, error)
	PutIdempotency(r IdemRecord) error

	// LockOutlet reads an outlet for update; ENotFound if unknown.
	LockOutlet(code string) (Outlet, error)
	// SaveOutlet writes an outlet (insert or update, registry and state
	// fields) and stamps it with the next global version in o.Version. A
	// store may stamp it as late as the commit (so that versions commit in
	// order); the value is final when Write returns, so o must stay valid
	// and unchanged until then.
	SaveOutlet(o *Outlet) error

	// PersonWeeks reads (for update) the rows of these persons in week;
	// missing persons are absent from the map.
	PersonWeeks(week string, persons []string) (map[string]PersonWeek, error)
	PutPersonWeek(pw PersonWeek) error

	InsertSale(s *Sale) error
	Sale(id string) (Sale, error)
	MarkSaleCancelled(id string, at time.Time) error
	InsertDelivery(d *Delivery) error
	InsertCorrection(c *Correction) error

	// StartSuspension records that the outlet's sales are suspended from
	// at; EndSuspension ends the open suspension at at. SuspendedAt tells
	// whether a suspension covered the instant at (from ≤ at < until).
	StartSuspension(outlet string, at time.Time) error
	EndSuspension(outlet string, at time.Time) error
	SuspendedAt(outlet string, at time.Time) (bool, error)

	PutToken(t Token) error
	RevokeToken(hash string, at time.Time) error
}

// IdemClaimer is implemented by a Tx whose failed insert costs less than a
// read (SQLite): the ledger then records a sale's idempotency record first
// and reads it only when the insert finds one, instead of reading before
// every sale.
type IdemClaimer interface {
	// ClaimIdempotency inserts r and reports true, or, if (outlet, txn_id)
	// already has a record, writes nothing and returns that record and
	// false.
	ClaimIdempotency(r IdemRecord) (IdemRecord, bool, error)
}

// PoolStats describes a store's connections, for the operations metrics.
type PoolStats struct {
	Open, InUse, Idle, Max int
	WaitCount              int64         // acquisitions that had to wait
	WaitDuration           time.Duration // total time spent waiting
	Retries                int64         // transactions run again (serialization failures, deadlocks)
}

// PoolStatser is implemented by stores that can report PoolStats.
type PoolStatser interface {
	PoolStats() PoolStats
}

// AuditReader is a consistent read-only view of a store (see Store.Audit).
type AuditReader interface {
	Outlets(ctx context.Context) ([]Outlet, int64, error)
	OutletTotals(ctx context.Context) ([]OutletTotals, error)
	SalesSince(ctx context.Context, since time.Time, fn func(Sale) error) error
	PersonWeeksSince(ctx context.Context, week string, fn func(PersonWeek) error) error
}

// PurgeInChunks runs a store's purge statements in order (the person-week
// rows first), each again and again while it touched a full chunk of rows,
// so that no transaction holds many row locks or much of the log; an
// interrupted purge is finished by the next one. run executes statement
// step once, in its own transaction, and returns the rows it touched.
// PurgeInChunks returns the person-week rows deleted.
func PurgeInChunks(steps, chunk int, run func(step int) (int64, error)) (int, error) {
	var n int64
	for step := range steps {
		for {
			got, err := run(step)
			if err != nil {
				return int(n), err
			}
			if step == 0 {
				n += got
			}
			if got < int64(chunk) {
				break
			}
		}
	}
	return int(n), nil
}

// IdemKey names an idempotency record.
type IdemKey struct{ Outlet, TxnID string }

// BulkTx is implemented by a Tx that reads and writes a chunk of rows in a
// few multi-row (or pipelined) statements: the ledger uses it for imports
// and delivery lists, where per-row statements dominate the load time. Each
// method has the same effect as its per-row counterpart called for every
// element in order.
type BulkTx interface {
	// LockOutlets is LockOutlet for each code; unknown codes are absent.
	LockOutlets(codes []string) (map[string]Outlet, error)
	// Idempotencies is Idempotency for each key; keys without a record are
	// absent.
	Idempotencies(keys []IdemKey) (map[IdemKey]IdemRecord, error)
	// SaveOutlets is SaveOutlet for each outlet, in order.
	SaveOutlets(os []*Outlet) error
	InsertDeliveries(ds []*Delivery) error
	PutIdempotencies(rs []IdemRecord) error
}

// DeliveryRecorder is implemented by a BulkTx that keeps a delivery line's
// record as its Delivery (IdemRecord.Delivery) in the delivery's row when
// the ledger sets it: the ledger then gives such a record without its
// Response (nil), and makes the receipt's bytes for the caller after the
// commit, off the writer (SQLite since migration 00014; PostgreSQL keeps
// every Response).
type DeliveryRecorder interface {
	// KeepsDeliveryRecords marks the implementation; it does nothing.
	KeepsDeliveryRecords()
}

// StockAdder is implemented by a BulkTx that adds deliveries to outlets'
// stock in place: a delivery list then neither reads each outlet before
// writing it nor rewrites its every column (SQLite: a one-row UPDATE of
// each outlet's state, computed from the row its writer holds, the others
// read a group at a time first, in place of a read and an upsert).
type StockAdder interface {
	// AddStock adds each Quantity to its outlet's stock, sets stock_at and
	// updated_at to at, and stamps versions as SaveOutlets does, in the
	// order of adds (an outlet named twice gets both quantities and one
	// version, at its first add). It returns the changed outlets as stored,
	// once each, in no particular order; unknown codes are absent and
	// change nothing.
	AddStock(adds []StockAdd, at time.Time) ([]Outlet, error)
}

// StockAdd is one outlet's part of AddStock.
type StockAdd struct {
	Outlet   string
	Quantity int
}

// BatchReads names the rows a group commit's requests are about to read:
// the outlets they lock, the idempotency records they look up, per week the
// persons whose weeks they read, and the sales they lock (a cancellation
// then reads the weeks of the sale's persons).
type BatchReads struct {
	Outlets     []string
	Idem        []IdemKey
	PersonWeeks map[string][]string // week → persons
	Sales       []string            // sale IDs
}

// Prefetcher is implemented by a Tx whose every read costs a round trip
// while the batch holds its locks (PostgreSQL): the ledger calls Prefetch
// once, before running a group commit's requests, and the Tx reads (and
// locks, as LockOutlet, Sale and PersonWeeks do) all those rows in one
// round trip — outlets first, then sales, then person-weeks (those named
// and those of the sales' items), each in key order (bytewise). LockOutlet,
// LockOutlets, Idempotency, Sale and PersonWeeks then answer the rows it
// read from memory, kept current by the Tx's own writes; anything else
// still goes to the store. Batches whose requests lock only what they
// named take their locks in that one order on every node and cannot
// deadlock with each other on them. What lies outside that order can
// still deadlock, rarely, and the store then retries the whole batch: a
// new person-week row cannot be locked before it is inserted (two batches
// inserting it meet at the insert; a batch writing new rows at two points
// of its run can wait there for one while holding another), nor do the
// retention purge's deletes follow the order.
type Prefetcher interface {
	Prefetch(r BatchReads) error
}

// TokenReader is implemented by stores that read many tokens in one
// statement (PostgreSQL). A ledger node re-reads the tokens in use before
// its cache lets them expire (ledger/tokens.go) with it, in bulk, instead
// of one read per token and request that finds its token expired.
type TokenReader interface {
	// Tokens reads the tokens of hashes; hashes without a token are
	// absent from the map.
	Tokens(ctx context.Context, hashes []string) (map[string]Token, error)
}

// TokenLister is implemented by stores that list their tokens (SQLite,
// PostgreSQL). A ledger node lists every token at start, and again, from a
// watermark, when their count changes (another node issued some), so that
// a valid token it has not yet served is no stranger to the failed-
// authentication limit (DESIGN.md §6.5): a neighbour's flood of made-up
// tokens from the same address must not refuse it. Only the hashes are
// listed: the node keeps 8 bytes of each, never a token's row.
type TokenLister interface {
	// TokenHashes calls fn with the hash and creation time of every token
	// created at or after since (the zero time: every token), revoked ones
	// too, in no particular order and from one snapshot. hash is valid
	// only until fn returns. The creation times are those the issuing node
	// wrote (its clock), so a token committed late, or issued by a node
	// whose clock is behind, can have one earlier than tokens listed
	// before it: a caller following from a watermark re-reads a window
	// before it and checks TokenCount.
	TokenHashes(ctx context.Context, since time.Time, fn func(hash []byte, created time.Time) error) error
	// TokenCount counts the tokens (never deleted: it only grows).
	TokenCount(ctx context.Context) (int, error)
}

// OutletFinder is implemented by stores that tell which of many outlet
// codes have a row in one read (PostgreSQL), where Outlet would cost a
// round trip each: issuing the tokens of thousands of outlets checks them
// with it.
type OutletFinder interface {
	// MissingOutlets returns the codes that name no outlet, in their order.
	MissingOutlets(ctx context.Context, codes []string) ([]string, error)
}

// MissingOutlets returns the codes of codes that name no outlet of st, in
// their order: in one read where st is an OutletFinder, else one Outlet read
// a code. Wrappers of a Store call it to pass the finder on, since
// embedding the Store interface alone would hide it.
func MissingOutlets(ctx context.Context, st Store, codes []string) ([]string, error) {
	if f, ok := st.(OutletFinder); ok && len(codes) > 1 {
		return f.MissingOutlets(ctx, codes)
	}
	var missing []string
	for _, code := range codes {
		_, err := st.Outlet(ctx, code)
		if ErrorCode(err) == ENotFound {
			missing = append(missing, code)
		} else if err != nil {
			return nil, err
		}
	}
	return missing, nil
}
