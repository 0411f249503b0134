// Package sqlite is the embedded store: one file, WAL, one writer. It suits
// one machine serving everything; PostgreSQL (package postgres) takes over
// when several processes share the data.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	_ "modernc.org/sqlite" // pure-Go driver: `go build` needs no C toolchain

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/migration"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is the SQLite implementation of publicmask.Store.
type Store struct {
	path        string
	madePrivate []string    // files Open found readable by others and made 0600
	walSalvaged atomic.Bool // salvageWAL copied the removed WAL's frames into the database file
	// dbFile is the database file, held open from Open to Close for the
	// checkpoint's own flushes (syncDB). Not opened and closed per flush:
	// closing any descriptor of a file drops all of the process's POSIX
	// locks on it, SQLite's shared lock included, and a sqlite3 shell then
	// taking the file (a backup) would see itself the last connection and
	// delete the WAL under the running server (TestFlushKeepsTheLocks).
	dbFile  *os.File
	dbSyncs atomic.Int64 // flushes of dbFile (syncDB)
	// ckptFails counts failed checkpoints; ckptErr is the last one's
	// error while checkpoints fail (nil once one succeeds): CheckpointHealth.
	ckptFails atomic.Int64
	ckptErr   atomic.Pointer[string]
	writer    *sql.DB // exactly one connection: migrations, the purge, the meta table
	// wc is the write transactions' connection (wconn.go); guarded by
	// writeMu.
	wc     *wconn
	reader *sql.DB // WAL lets readers run beside the writer

	writeMu sync.Mutex
	writing atomic.Int32 // writes begun and not ended, waiting for writeMu included (compact.go)
	version int64        // last assigned change version; guarded by writeMu
	lastReg int64        // last assigned outlet_registry id (newReg); guarded by writeMu
	// prunedAt is the version at the last step of the change log's
	// pruning, pruneCursor the version it reached (changes.go); guarded
	// by writeMu.
	prunedAt, pruneCursor int64
	// fresh counts the versions since prunedAt that new outlets took
	// (tx.fresh): they do not hasten the pruning.
	fresh int64
	dur   *durability
	hot   *hot    // the writer's copy of outlets and person-weeks (hot.go)
	spare pending // a finished transaction's pending rows, emptied (buffer.go)
	// spareIdem is a finished transaction's known and absent maps, emptied
	// (tx.go): a delivery list's chunk sized them for its 2,000 lines,
	// ~400 KB made anew for each chunk, ~8% of the bytes the opening
	// deliveries allocate.
	spareIdem idemMaps
	// spareSt is a finished transaction's staged writes, emptied
	// (emptiedStaged): a batch's map of outlets grew from empty each time.
	spareSt staged
	ckpt    *checkpointer
	m       *storeMetrics
	// outletReads counts the outlets the writer looked up in the database
	// (tests); guarded by writeMu.
	outletReads int
	// builds are the person-week filters being built (hot.go); buildCtx
	// ends with Close.
	builds      sync.WaitGroup
	buildCtx    context.Context
	cancelBuild context.CancelFunc
	// failCommit, when set (tests), fails a commit after the transaction's
	// statements ran.
	failCommit func() error
}

// writerPragmas are the settings of the writer's connections (see Open),
// as the driver's DSN gives them ("_pragma=…") and as wconn runs them.
var writerPragmas = []string{"journal_mode(WAL)", "synchronous(NORMAL)", "wal_autocheckpoint(0)",
	"temp_store(MEMORY)", "busy_timeout(10000)", "foreign_keys(on)"}

// wcCacheSize is the write transactions' page cache (wc): 16 MiB, in KiB
// (negative), so 8,192 of a new store's 2 KiB pages and 4,096 of an older
// store's 4 KiB ones (see Open).
const wcCacheSize = "cache_size(-16384)"

// Open opens (creating if needed) the database at path and migrates it.
func Open(ctx context.Context, path string) (*Store, error) {
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("sqlite: create %s: %w", dir, err)
		}
	}
	if err := createPrivate(path); err != nil {
		return nil, fmt.Errorf("sqlite: create %s: %w", path, err)
	}
	madePrivate, err := makePrivate(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	if err := setNewPageSize(ctx, path, newPageSize); err != nil {
		return nil, fmt.Errorf("sqlite: page size of %s: %w", path, err)
	}
	// The writer's cache_size, 16 MiB: a batch's dirty pages must fit, or
	// SQLite spills them into the WAL mid-transaction (measured: a third of
	// the commit cost with the 2 MiB default). It was 4,096 pages (8 MiB of
	// 2 KiB pages) while each commit's pass over the page cache's hash
	// table (pcache1Truncate) grew with it (6–22% of the server's CPU with
	// 16 MiB of 2 KiB pages; BENCHMARKS.md, branch wal12); pcache.go removed
	// that pass. With 8 MiB the writer read back pages it had evicted, the
	// random leaves of person_weeks and the sales' outlet index, from the
	// WAL: ~0.35 reads a lean request by the middle of a capacity rush, and
	// rising; 16 MiB takes them to ~0.01 there, for ~12 MB more RSS after a
	// rush (BENCHMARKS.md, 17th pass on server CPU per sale). Full, its
	// 7,681 pages take ~18 MB in the page slabs (pagemem.go); ~32 MB in
	// the power-of-two slots of SQLite's allocator before them.
	// Readers (verify, history, token look-ups) and the checkpointer keep
	// small caches, 512 and 256 KiB instead of 2 MiB each: theirs are
	// scans or single rows, and the 2 MiB defaults stayed resident after a
	// rush.
	// wal_autocheckpoint(0): checkpoints run in the background, on their
	// own connection (checkpoint.go), not inside a commit.
	// synchronous(NORMAL) plus our own flush of the WAL before Write
	// returns (durable.go): NORMAL alone survives a process crash but may
	// lose the last commits on power loss, and an acknowledged sale must
	// survive both. FULL would flush inside COMMIT, with the writer lock
	// held; flushing after it lets the next batch run meanwhile.
	common := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(on)&_time_format=sqlite"
	// vfs: the write transactions' WAL frames are written once per commit,
	// not twice per frame (walbuf.go). Their connection (wc) alone uses it:
	// frames another connection held back after a rollback could later
	// overwrite frames committed since.
	vfs := ""
	if walBuffered {
		if err := registerWALBufVFS(); err != nil {
			return nil, err
		}
		vfs = walBufVFSName
	}
	// This connection runs migrations, the purge and the meta table, not
	// the write transactions (wc): a page cache of its own the size of
	// wc's would hold what a purge walked, megabytes for nothing.
	wdsn := fileURI(path) + "?_txlock=immediate&_pragma=cache_size(-512)"
	for _, p := range writerPragmas {
		wdsn += "&_pragma=" + p
	}
	wdsn += "&_time_format=sqlite"
	writer, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	if err := writer.PingContext(ctx); err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	if err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}
	reader, err := sql.Open("sqlite", fileURI(path)+"?mode=ro&_pragma=query_only(1)&_pragma=cache_size(-512)&"+common)
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open reader: %w", err)
	}
	reader.SetMaxOpenConns(4)
	reader.SetMaxIdleConns(4)
	ckdb, err := sql.Open("sqlite", fileURI(path)+"?_pragma=synchronous(NORMAL)&_pragma=cache_size(-256)&"+common)
	if err != nil {
		writer.Close()
		reader.Close()
		return nil, fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	ckdb.SetMaxOpenConns(1)
	ckdb.SetMaxIdleConns(1)
	ckdb.SetConnMaxLifetime(0)
	dbFile, err := openDBFile(path)
	if err != nil {
		writer.Close()
		reader.Close()
		ckdb.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	var dbID fileID
	if dbFile != nil {
		if dbID, err = heldID(dbFile); err != nil {
			writer.Close()
			reader.Close()
			ckdb.Close()
			dbFile.Close()
			return nil, fmt.Errorf("sqlite: stat %s: %w", path, err)
		}
	}
	// The write transactions' connection, with the pragmas of writer's
	// (TestWriterConnectionsAgree).
	wc, err := openWConn(path, vfs, append(writerPragmas[:len(writerPragmas):len(writerPragmas)], wcCacheSize))
	if err != nil {
		writer.Close()
		reader.Close()
		ckdb.Close()
		dbFile.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	s := &Store{path: path, madePrivate: madePrivate, dbFile: dbFile, writer: writer, wc: wc, reader: reader, dur: newDurability(path), hot: newHot(), m: newStoreMetrics()}
	s.dur.seconds = s.m.flush
	if dbFile != nil {
		s.dur.checkDB = func() error { return checkPath(path, dbID) }
		// The WAL the connections opened (they keep it open): the one
		// the path must keep holding.
		s.dur.walw.check()
		s.dur.walGone = s.salvageWAL
	}
	s.buildCtx, s.cancelBuild = context.WithCancel(context.Background())
	s.hot.start = s.startBuild
	s.hot.startIdem = s.startIdemBuild
	s.startCheckpointer(ckdb)
	// The log's last entry is the latest version (changes.go).
	if err := writer.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM outlet_changes`).Scan(&s.version); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: read version: %w", err)
	}
	s.prunedAt = s.version // the log's pruning starts with the next writes
	if err := writer.QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM outlet_registry`).Scan(&s.lastReg); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: read registry id: %w", err)
	}
	var empty bool
	if err := writer.QueryRowContext(ctx, `SELECT NOT EXISTS (SELECT 1 FROM outlets)`).Scan(&empty); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: outlets: %w", err)
	}
	if empty {
		s.hot.codes = newWeekFilter(0) // outletcodes.go
	}
	if err := s.prepare(ctx); err != nil {
		s.Close()
		return nil, err
	}
	// The latest week is the one being sold in after a restart: its filter
	// is built before the first sale asks for it.
	var latest sql.NullString
	if err := writer.QueryRowContext(ctx, `SELECT MAX(week) FROM person_weeks`).Scan(&latest); err != nil {
		s.Close()
		return nil, fmt.Errorf("sqlite: latest week: %w", err)
	}
	if latest.Valid {
		s.hot.registerWeek(latest.String, nil)
	}
	s.hot.registerIdem(nil)
	return s, nil
}

// chosenPageSize is the page size of a store Open creates: 2 KiB, not
// SQLite's default 4 KiB. Each WAL frame is one page, and a sale dirties a
// few randomly placed pages (its outlet's row, its person-week, its
// sales_outlet_txn entry; before migration 00008 also an outlets_version
// entry) plus shared interior pages:
// 0.7× the bytes written per sale (15 against 22 KB in capacity rushes;
// 6.0/10.2 against 8.5/17.0 KB of WAL in BenchmarkSaleBatch), with the
// same server CPU per sale. 1 KiB pages halve the bytes but cost 1.3× the
// CPU per line of opening deliveries (BenchmarkDeliverScale; 2 KiB: 1.06×)
// (BENCHMARKS.md, branch wal12). A store keeps the page size it was
// created with: SQLite fixes it with the first page written, only a
// VACUUM outside WAL mode could change it, and Open never runs one.
const chosenPageSize = 2048

// newPageSize is chosenPageSize; a variable for tests.
var newPageSize = chosenPageSize

// setNewPageSize gives a new database file (empty: no page written yet)
// the page size size, and puts it in WAL mode, which writes page 1 and so
// fixes the size before the writer's own pragmas or the first migration
// run. The writer's journal_mode(WAL) pragma could not be preceded by a
// page_size one in its DSN: the driver runs DSN pragmas in alphabetical
// order. A file that already holds pages is left alone.
func setNewPageSize(ctx context.Context, path string, size int) error {
	if path == "" || strings.HasPrefix(path, ":") || strings.HasPrefix(path, "file:") {
		return nil
	}
	st, err := os.Stat(path)
	if err != nil {
		return err
	}
	if st.Size() != 0 {
		return nil
	}
	if wal, err := os.Stat(path + "-wal"); err == nil && wal.Size() != 0 {
		return nil // not new: whatever wrote that WAL chose the size
	}
	db, err := sql.Open("sqlite", fileURI(path)+"?_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA page_size = %d", size)); err != nil {
		return err
	}
	var mode string
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode = WAL`).Scan(&mode); err != nil {
		return err
	}
	if mode != "wal" {
		return fmt.Errorf("journal mode %q, want wal", mode)
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	if _, err := migration.Up(ctx, db, mustSub(migrations, "migrations"), migration.SQLite); err != nil {
		return fmt.Errorf("sqlite: %w", err)
	}
	return nil
}

// newReg hands out the next outlet_registry id: in order, so that new
// outlets' registry rows are appended at the table's end (migration
// 00013). Ids of a transaction that failed are handed out again.
func (s *Store) newReg() int64 {
	s.lastReg++
	return s.lastReg
}

// Path is the database file.
func (s *Store) Path() string { return s.path }

// Close closes both pools.
func (s *Store) Close() error {
	s.cancelBuild()
	s.builds.Wait()
	s.hot.settle()
	var errRaw error
	// The checkpoint and any flush in progress end first: either may yet
	// break the store, and what to close depends on it.
	s.ckpt.stop()
	s.dur.close()
	if broken := s.dur.err(); broken != nil {
		// A failed flush may have lost pages that the WAL still holds
		// (the database file's, checkpoint.go: syncDB) or that a flush
		// could no longer vouch for. Closing SQLite's last connection
		// would checkpoint what was not yet copied and delete the WAL, so
		// the handles stay open until the process ends and the next
		// start recovers from the whole WAL.
		return errors.Join(errRaw, broken)
	}
	s.writeMu.Lock() // no write runs on it meanwhile
	errRaw = s.wc.close()
	s.writeMu.Unlock()
	err0 := s.ckpt.db.Close()
	err1 := s.reader.Close()
	err2 := s.writer.Close()
	if s.dbFile != nil {
		s.dbFile.Close() // last: SQLite's connections, and their locks, are gone
	}
	return errors.Join(errRaw, err0, err1, err2)
}

// Ping checks that the database answers and can still promise durability.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.dur.err(); err != nil {
		return err
	}
	// A node that sells nothing flushes nothing: readiness looks too.
	if s.dur.checkDB != nil {
		err := s.dur.checkDB()
		if err == nil {
			err = s.dur.walChanged(s.dur.walw.check())
		}
		if err != nil {
			s.dur.fail(err)
			return s.dur.err()
		}
	}
	var one int
	if err := s.reader.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return publicmask.Errorf(publicmask.EStoreUnavailable, "store unavailable")
	}
	return nil
}

// The statements of a write transaction, named as in package postgres;
// each is prepared once on the writer connection (prepare) and looked up by
// its text.
const (
	sqlIdemGet      = `SELECT body_hash, response, created_at FROM idempotency WHERE outlet = ? AND txn_id = ?`
	sqlSaleIdemGet  = `SELECT body_hash, response, recorded_at FROM sales WHERE outlet = ? AND txn_id = ? AND response IS NOT NULL LIMIT 1`
	sqlDelivIdemGet = `SELECT body_hash, response, at, id, quantity, stock FROM deliveries WHERE outlet = ? AND txn_id = ? AND response IS NOT NULL LIMIT 1`
	sqlLockOutlet   = `SELECT ` + outletCols + ` FROM ` + outletFrom + ` WHERE o.code = ?`
	// An outlet written whole (upsertOutlet, migration 00013): its
	// registry row found through its state's reg, rewritten or appended,
	// then its state.
	sqlOutletReg   = `SELECT reg FROM outlets WHERE code = ?`
	sqlRegistrySet = `UPDATE outlet_registry SET code = ?2, name = ?3, addr = ?4, type = ?5, lat = ?6, lng = ?7 WHERE id = ?1`
	sqlRegistryAdd = `INSERT INTO outlet_registry (id, code, name, addr, type, lat, lng) VALUES (?, ?, ?, ?, ?, ?, ?)`
	sqlOutletPut   = `INSERT INTO outlets (code, reg, stock, suspended, stock_at, updated_at, version, sold) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (code) DO UPDATE SET reg = excluded.reg, stock = excluded.stock, suspended = excluded.suspended, stock_at = excluded.stock_at, updated_at = excluded.updated_at, version = excluded.version, sold = excluded.sold`
	sqlSaleLock    = `SELECT ` + saleCols + `, ` + saleItemCols + ` FROM sales WHERE id = ?`
	sqlItemsGet    = `SELECT role, person, category, birth_year, quantity FROM sale_items WHERE sale_id = ? ORDER BY idx` // after the row's item
	sqlPWLock      = `SELECT quantity, purchases, weekday_purchases, weekend_purchases FROM person_weeks WHERE person = ? AND week = ?`
	sqlSaleCancel  = `UPDATE sales SET cancelled_at = ? WHERE id = ? AND cancelled_at IS NULL`
	sqlDeliveryPut = `INSERT INTO deliveries (id, outlet, txn_id, quantity, at) VALUES (?, ?, ?, ?, ?)`
	sqlCorrectPut  = `INSERT INTO corrections (id, outlet, txn_id, kind, sale_id, count, delta, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`
	sqlSuspStart   = `INSERT INTO suspensions (outlet, since) VALUES (?, ?) ON CONFLICT (outlet, since) DO UPDATE SET until = NULL`
	sqlSuspEnd     = `UPDATE suspensions SET until = ? WHERE outlet = ? AND until IS NULL`
	sqlSuspAt      = `SELECT EXISTS (SELECT 1 FROM suspensions WHERE outlet = ? AND since <= ? AND (until IS NULL OR until > ?))`
	sqlTokenPut    = `INSERT INTO tokens (hash, role, outlet, created_at) VALUES (?, ?, ?, ?)`
	sqlTokenRevoke = `UPDATE tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL`
)

var writeSQL = []string{sqlBegin, sqlCommit, sqlRollback, sqlPruneEnd, sqlPrune, sqlIdemGet, sqlSaleIdemGet, sqlDelivIdemGet, sqlLockOutlet, sqlOutletReg, sqlRegistrySet, sqlRegistryAdd, sqlOutletPut, sqlChangeInsert, sqlSaleLock, sqlItemsGet, sqlPWLock, sqlSaleCancel, sqlDeliveryPut, sqlCorrectPut, sqlSuspStart, sqlSuspEnd, sqlSuspAt, sqlTokenPut, sqlTokenRevoke}

func (s *Store) prepare(ctx context.Context) error {
	qs := append(writeSQL[:len(writeSQL):len(writeSQL)], multiSQLs()...)
	for _, q := range qs {
		if _, err := s.wc.stmt(q); err != nil {
			return fmt.Errorf("sqlite: prepare %.40s: %w", q, err)
		}
	}
	return nil
}

// Write runs fn in one IMMEDIATE transaction on the single writer
// connection.
func (s *Store) Write(ctx context.Context, fn func(publicmask.Tx) error) error {
	seq, err := s.write(ctx, fn)
	if err != nil {
		return err
	}
	// Outside writeMu: the next transaction runs while this one is flushed.
	return s.dur.wait(seq)
}

func (s *Store) write(ctx context.Context, fn func(publicmask.Tx) error) (uint64, error) {
	s.writing.Add(1)
	defer s.writing.Add(-1)
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if err := s.dur.err(); err != nil {
		return 0, err
	}
	startVersion, startReg := s.version, s.lastReg
	// A statement is not interrupted when ctx ends; the transaction as a
	// whole still ends with it: every statement checks it first (rawConn),
	// and so does the commit; busy_timeout bounds lock waits.
	tx := &tx{s: s, txCtx: ctx,
		st: s.spareSt, pend: s.spare, known: s.spareIdem.known, absent: s.spareIdem.absent}
	if tx.st.outlets == nil {
		tx.st.outlets = make(map[string]publicmask.Outlet)
	}
	s.spareIdem, s.spareSt = idemMaps{}, staged{}
	defer func() { // its space serves the next transaction
		tx.pend.reset()
		s.spare = tx.pend
		s.spareIdem = idemMaps{known: emptiedIdem(tx.known), absent: emptiedIdem(tx.absent)}
		s.spareSt = emptiedStaged(tx.st)
	}()
	if err := tx.begin(); err != nil {
		return 0, unavailable("begin", err)
	}
	// Unless committed, rolled back whatever happens below (a failure, a
	// panic). The versions and registry ids it took are given back (no gap).
	open := true
	defer func() {
		if open {
			if tx.rollback() != nil {
				s.hot.drop() // the database's state is in doubt: load it again
			}
			s.version, s.lastReg = startVersion, startReg
		}
	}()
	err := fn(tx)
	if err == nil {
		err = tx.flush()
	}
	if err == nil {
		err = tx.pruneChanges()
	}
	if err == nil {
		// fn went on after a failed statement: the transaction may be gone.
		err = tx.err
	}
	if err != nil {
		return 0, err // rolled back as it returns
	}
	if s.failCommit != nil {
		if err := s.failCommit(); err != nil {
			s.hot.drop()
			return 0, unavailable("commit", err) // rolled back as it returns
		}
	}
	open = false
	if err := tx.commit(); err != nil {
		s.hot.drop()
		s.version, s.lastReg = startVersion, startReg
		return 0, unavailable("commit", err)
	}
	s.hot.apply(&tx.st)
	if tx.pruned {
		s.prunedAt, s.pruneCursor, s.fresh = s.version, tx.cursor, 0
	} else {
		s.fresh += tx.fresh
	}
	return s.dur.committedOne(), nil
}

func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("sqlite: %s: %w", op, errors.Join(publicmask.Errorf(publicmask.EStoreUnavailable, "store unavailable"), err))
}

// PoolStats reports both pools and the write transactions' connection
// (wc, outside them): in use while a write is begun, including one
// waiting for writeMu — writes queue on the lock, not on a pool.
func (s *Store) PoolStats() publicmask.PoolStats {
	w, r := s.writer.Stats(), s.reader.Stats()
	st := publicmask.PoolStats{
		Open: w.OpenConnections + r.OpenConnections + 1, InUse: w.InUse + r.InUse, Idle: w.Idle + r.Idle,
		Max: w.MaxOpenConnections + r.MaxOpenConnections + 1, WaitCount: w.WaitCount + r.WaitCount,
		WaitDuration: w.WaitDuration + r.WaitDuration,
	}
	if s.writing.Load() > 0 {
		st.InUse++
	} else {
		st.Idle++
	}
	return st
}

// fileURI is the name every connection opens path by. The driver and
// SQLite read a "file:" name as a URI, in which '?' and '#' end the path
// and "%HH" is decoded: unescaped, a store at "/data/x#1/db" would be
// written at "/data/x" while durable.go syncs "/data/x#1/db-wal".
func fileURI(path string) string {
	return "file:" + uriEscaper.Replace(path)
}

var uriEscaper = strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23")

// MadePrivate names the store's files that Open found readable by group or
// others (a backup put in place keeps the mode the umask gave it, usually
// 0644) and made readable by the owner only.
func (s *Store) MadePrivate() []string { return s.madePrivate }

// makePrivate takes group and other bits off the database file and its WAL
// and shared-memory files where they exist, before SQLite opens them (it
// gives a WAL it creates the database file's mode): they hold person keys
// and token hashes, and the node promises them 0600 whatever the umask.
func makePrivate(path string) ([]string, error) {
	if path == "" || strings.HasPrefix(path, ":") || strings.HasPrefix(path, "file:") {
		return nil, nil
	}
	var changed []string
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return changed, err
		}
		if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o077 == 0 {
			continue
		}
		if err := os.Chmod(p, fi.Mode().Perm()&^0o077); err != nil {
			return changed, fmt.Errorf("%s is readable by others (mode %v) and cannot be made private: %w", p, fi.Mode().Perm(), err)
		}
		changed = append(changed, fmt.Sprintf("%s (was %v)", p, fi.Mode().Perm()))
	}
	return changed, nil
}

// createPrivate creates the database file 0600 when it does not exist, so
// that SQLite (which gives its WAL and shared-memory files the database
// file's mode) never makes them readable by others, whatever the umask.
func createPrivate(path string) error {
	if path == "" || strings.HasPrefix(path, ":") || strings.HasPrefix(path, "file:") {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
