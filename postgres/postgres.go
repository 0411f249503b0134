// Package postgres is the PostgreSQL store: several ledger processes write
// through it at once, the database arbitrating quotas with row locks, and
// public processes follow its change feed by version watermark.
//
// Writes are pipelined: statements whose results nobody waits for are queued
// and sent together with the next read, so a sale costs about two round trips
// (lock outlet + idempotency look-up, then the person-week rows) however many
// rows it writes. Outlet rows are written, and stamped with their version,
// once per transaction at commit (see tx.commit for why versions then commit
// in order).
//
// The SQL is PostgreSQL's: the session advisory lock that serialises
// migrations (pg_advisory_lock) and the WAL functions that keep the flush
// out of the commit chain (tx.go: pg_logical_emit_message,
// pg_current_wal_*_lsn) are not in CockroachDB or YugabyteDB.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/migration"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrationLock is the advisory lock key under which migrations run, so that
// several nodes starting at once migrate one after the other ("publicma").
const migrationLock int64 = 0x7075626c69636d61

// Options tune Open. Zero values take the defaults.
type Options struct {
	// MaxConns is the pool size (default 16). Each ledger writer holds one
	// connection for the length of a batch; reads share the rest.
	MaxConns int32
	// Schema, if set, is created when missing and used as the search_path,
	// so that several stores (tests, say) can share one database.
	Schema string
	// ConnectTimeout bounds one connection attempt (default 2 s): with the
	// server down, requests fail fast with store_unavailable.
	ConnectTimeout time.Duration
	// StatementTimeout is the server-side statement_timeout (default 10 s).
	StatementTimeout time.Duration
	// WriteTimeout bounds one attempt of Write (default 15 s).
	WriteTimeout time.Duration
	// MaxAttempts bounds how often Write runs fn when PostgreSQL reports a
	// serialization failure or deadlock (default 8).
	MaxAttempts int
	// NoMigrate makes Open check the schema version instead of migrating:
	// public nodes run under a read-only role, often on a standby, and
	// migrations run from ledger nodes or `publicmask migrate` (§6.8).
	NoMigrate bool
	Logger    *slog.Logger
}

func (o Options) withDefaults() Options {
	if o.MaxConns <= 0 {
		o.MaxConns = 16
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 2 * time.Second
	}
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = 10 * time.Second
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = 15 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Store is the PostgreSQL implementation of publicmask.Store.
type Store struct {
	pool *pgxpool.Pool
	opts Options
	log  *slog.Logger

	retries atomic.Int64 // Write attempts repeated after 40001/40P01 or a lost insert race

	afterStamp  func() // tests: called between stamping versions and COMMIT
	afterCommit func() // tests: called between a write's COMMIT and its WAL flush
}

// Open connects to the database at dsn, applies the embedded migrations
// (one node at a time, under an advisory lock) and returns the store.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	opts = opts.withDefaults()
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = opts.MaxConns
	cfg.HealthCheckPeriod = 10 * time.Second
	cc := cfg.ConnConfig
	cc.ConnectTimeout = opts.ConnectTimeout
	rp := cc.RuntimeParams
	if rp["application_name"] == "" {
		rp["application_name"] = "publicmask"
	}
	if _, set := rp["statement_timeout"]; !set {
		rp["statement_timeout"] = strconv.FormatInt(opts.StatementTimeout.Milliseconds(), 10)
	}
	// A node that dies inside a transaction must not keep outlet rows
	// locked until TCP notices: the server ends such sessions itself.
	if _, set := rp["idle_in_transaction_session_timeout"]; !set {
		rp["idle_in_transaction_session_timeout"] = strconv.FormatInt(max(opts.WriteTimeout, 10*time.Second).Milliseconds(), 10)
	}
	if opts.Schema != "" {
		rp["search_path"] = quoteIdent(opts.Schema)
	}
	// Plans are made for each execution, with the tables as they are now.
	// A morning starts on tables that grow from empty: a generic plan
	// cached while person_weeks was empty (a sequential scan joined to the
	// batch's keys) stayed with the session and scanned the whole grown
	// table for every batch (scripts/bench-pg.sh: the mixed step's sale
	// p99 went from 37 to about 300 ms after a capacity rush).
	if _, set := rp["plan_cache_mode"]; !set {
		rp["plan_cache_mode"] = "force_custom_plan"
	}
	// Every session commits durably whatever the server's, database's or
	// role's default (a startup parameter overrides them): an acknowledged
	// sale must survive a crash of the database server too. A DSN may ask
	// for more (waiting for standbys), never for less.
	switch rp["synchronous_commit"] {
	case "on", "remote_write", "remote_apply":
	default:
		rp["synchronous_commit"] = "on"
	}
	if opts.NoMigrate {
		if err := checkSchema(ctx, cc); err != nil {
			return nil, err
		}
	} else if err := migrate(ctx, cc, opts.Schema); err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &Store{pool: pool, opts: opts, log: opts.Logger}
	if err := s.Ping(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if err := s.checkFlush(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// checkFlush checks that this role can run the flush transaction that
// follows every write and that the change feed may run (tx.go:
// sqlFlushWAL): it needs EXECUTE on pg_logical_emit_message (PUBLIC has it
// unless revoked), and it is better refused here than every sale committed
// and then answered store_unavailable. A standby (public nodes) runs none.
func (s *Store) checkFlush(ctx context.Context) error {
	var inRecovery bool
	if err := s.pool.QueryRow(ctx, `SELECT pg_is_in_recovery()`).Scan(&inRecovery); err != nil {
		return unavailable("recovery", err)
	}
	if inRecovery {
		return nil
	}
	if _, err := s.pool.Exec(ctx, sqlFlushWAL); err != nil {
		return fmt.Errorf("postgres: the WAL flush (%s) failed; grant EXECUTE on pg_logical_emit_message to this role: %w", sqlFlushWAL, err)
	}
	return nil
}

// migrate applies the embedded migrations under the session advisory lock
// (migration.Postgres), which the server drops with the connection if this
// process dies. The schema is created under the lock too.
func migrate(ctx context.Context, cc *pgx.ConnConfig, schema string) error {
	mc := cc.Copy()
	// Migrations may outlast the request statement timeout (index builds).
	mc.RuntimeParams["statement_timeout"] = "0"
	db := stdlib.OpenDB(*mc)
	defer db.Close()
	if err := db.PingContext(ctx); err != nil {
		return unavailable("migrate: connect", err)
	}
	var before []string
	if schema != "" {
		before = append(before, `CREATE SCHEMA IF NOT EXISTS `+quoteIdent(schema))
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("postgres: migrations: %w", err)
	}
	if _, err := migration.Up(ctx, db, sub, migration.Postgres(migrationLock, before...)); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// SchemaVersion is the newest embedded migration: the schema this binary
// needs.
func SchemaVersion() (int64, error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return 0, fmt.Errorf("postgres: migrations: %w", err)
	}
	ms, err := migration.Load(sub)
	if err != nil {
		return 0, fmt.Errorf("postgres: %w", err)
	}
	return migration.Latest(ms), nil
}

// checkSchema refuses a database whose schema is older than this binary's
// (not migrated yet, or not at all), without writing anything. A newer
// schema is accepted: migrations only add, and ledger nodes are upgraded
// first.
func checkSchema(ctx context.Context, cc *pgx.ConnConfig) error {
	want, err := SchemaVersion()
	if err != nil {
		return err
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return unavailable("schema check: connect", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var have int64
	err = conn.QueryRow(ctx, `SELECT COALESCE(MAX(version_id), 0) FROM goose_db_version WHERE is_applied`).Scan(&have)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42P01" { // undefined_table
		return fmt.Errorf("postgres: the database has no publicmask schema; run `publicmask migrate --db …` or start a ledger node first (this node does not migrate)")
	}
	if err != nil {
		return fmt.Errorf("postgres: schema check: %w", err)
	}
	if have < want {
		return fmt.Errorf("postgres: the database schema is at version %d, this binary needs %d; run `publicmask migrate --db …` or start an upgraded ledger node first (this node does not migrate)", have, want)
	}
	return nil
}

func quoteIdent(s string) string { return pgx.Identifier{s}.Sanitize() }

// Close closes the pool.
func (s *Store) Close() error {
	s.pool.Close()
	return nil
}

// Pool exposes the connection pool (for tests and operational tooling).
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Retries is how many Write attempts were repeated after a serialization
// failure, deadlock or lost insert race.
func (s *Store) Retries() int64 { return s.retries.Load() }

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.ConnectTimeout+time.Second)
	defer cancel()
	var one int
	if err := s.pool.QueryRow(ctx, `SELECT 1`).Scan(&one); err != nil {
		return unavailable("ping", err)
	}
	return nil
}

// Write runs fn in one READ COMMITTED transaction. It runs fn again, after a
// jittered backoff, when PostgreSQL reports a serialization failure or a
// deadlock, or when two transactions raced to insert the same person-week
// row; and once more at once when a pooled connection turns out dead before
// anything was committed.
func (s *Store) Write(ctx context.Context, fn func(publicmask.Tx) error) error {
	connRetried := false
	for attempt := 1; ; attempt++ {
		kind, err := s.writeOnce(ctx, fn)
		switch {
		case err == nil:
			return nil
		case kind == retryConflict && attempt < s.opts.MaxAttempts:
			s.retries.Add(1)
			if err := sleep(ctx, backoff(attempt)); err != nil {
				return err
			}
		case kind == retryConflict:
			return fmt.Errorf("postgres: gave up after %d attempts: %w", attempt, err)
		case kind == retryConn && !connRetried:
			connRetried = true
		default:
			return err
		}
	}
}

type retryKind int

const (
	retryNone     retryKind = iota
	retryConflict           // see isConflict: run fn again
	retryConn               // the connection failed before COMMIT was sent
)

func (s *Store) writeOnce(ctx context.Context, fn func(publicmask.Tx) error) (retryKind, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.WriteTimeout)
	defer cancel()
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return retryNone, unavailable("connect", err)
	}
	t := newTx(s, ctx, conn.Conn())
	err = fn(t)
	if t.err != nil {
		// A statement failed: the transaction is aborted whatever fn made of
		// the error, and the database error is the one that explains it.
		err = t.err
	}
	if err == nil {
		err = t.commit()
	}
	if err != nil {
		t.rollback()
	}
	conn.Release() // pgxpool destroys a connection left inside a transaction
	switch {
	case err == nil:
		return retryNone, nil
	case isConflict(err):
		return retryConflict, err
	case t.sentCommit:
		return retryNone, err // outcome unknown: the client retries with its txn_id
	case ctx.Err() == nil && isConnErr(err) && !isTimeout(err):
		// The session broke (server restarted, backend terminated): worth
		// one immediate attempt on a fresh connection. Not after a
		// timeout: a second attempt would only double the wait.
		return retryConn, err
	}
	return retryNone, err
}

func backoff(attempt int) time.Duration {
	d := min(2*time.Millisecond<<attempt, 250*time.Millisecond)
	return d/2 + rand.N(d) // jitter so that two retried batches do not collide again
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// isConflict reports whether fn must run again: a serialization failure, a
// deadlock, or a lost race to insert the same person-week row.
func isConflict(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return pe.Code == "40001" || pe.Code == "40P01" || (pe.Code == "23505" && pe.ConstraintName == "person_weeks_pkey")
}

// isConnErr reports whether err means the database could not be reached or
// the session was lost (as opposed to a statement being refused).
func isConnErr(err error) bool {
	var pe *pgconn.PgError
	var ce *pgconn.ConnectError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		return true // includes the server refusing logins while it starts or stops
	case errors.As(err, &pe):
		switch pe.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources (too many connections, disk full)
			"57", // operator intervention: shutdown, pg_terminate_backend, statement timeout
			"58": // system error
			return true
		}
		return false
	case pgconn.Timeout(err), errors.As(err, &ne):
		return true
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, pgconn.ErrConnClosed),
		errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.EPIPE), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return strings.Contains(err.Error(), "closed pool")
}

// isTimeout reports whether err is a deadline that passed, on the client
// or on the server (statement_timeout).
func isTimeout(err error) bool {
	var pe *pgconn.PgError
	var ne net.Error
	return pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		(errors.As(err, &pe) && pe.Code == "57014") || (errors.As(err, &ne) && ne.Timeout())
}

// IsReadOnly reports whether err is PostgreSQL refusing a write because the
// session is read-only (25006: a standby, a demoted primary after a
// failover, default_transaction_read_only): the store answers but takes no
// durable writes.
func IsReadOnly(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "25006"
}

// unavailable wraps a connection-level failure, or a store that refuses
// writes, so that the HTTP layer answers 503 store_unavailable with
// Retry-After; other errors keep their cause and become internal errors.
func unavailable(op string, err error) error {
	if errors.Is(err, context.Canceled) {
		return err
	}
	if isConnErr(err) || IsReadOnly(err) {
		return fmt.Errorf("postgres: %s: %w", op, errors.Join(publicmask.Errorf(publicmask.EStoreUnavailable, "store unavailable"), err))
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

var _ publicmask.Store = (*Store)(nil)

// PoolStats reports the pgx pool.
func (s *Store) PoolStats() publicmask.PoolStats {
	st := s.pool.Stat()
	return publicmask.PoolStats{
		Open: int(st.TotalConns()), InUse: int(st.AcquiredConns()), Idle: int(st.IdleConns()), Max: int(st.MaxConns()),
		WaitCount: st.EmptyAcquireCount(), WaitDuration: st.EmptyAcquireWaitTime(), Retries: s.retries.Load(),
	}
}
