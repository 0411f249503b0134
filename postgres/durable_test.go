package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/publicmask/publicmask"
)

// A write commits without waiting for the WAL flush, so that the version
// lock is not held across it (tx.go): Write must still return only once the
// WAL is flushed past its COMMIT. The insert position read between the
// COMMIT and the flush that follows it (afterCommit) is past the commit
// record; when Write returns, the flush must have reached it.
func TestWriteDurableWhenItReturns(t *testing.T) {
	s := openTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seedOutlets(t, s, "D1")
	c, err := pgx.Connect(ctx, testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	var lsn string
	var hookErr error
	s.afterCommit = func() {
		hookErr = c.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn)
	}
	defer func() { s.afterCommit = nil }()
	for i := range 20 {
		lsn = ""
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			o, err := tx.LockOutlet("D1")
			if err != nil {
				return err
			}
			o.Stock = i
			return tx.SaveOutlet(&o)
		})
		if err != nil {
			t.Fatal(err)
		}
		if hookErr != nil || lsn == "" {
			t.Fatalf("insert position after COMMIT: %q, %v", lsn, hookErr)
		}
		var flushed bool
		if err := c.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, lsn).Scan(&flushed); err != nil {
			t.Fatal(err)
		}
		if !flushed {
			t.Fatalf("write %d returned before the WAL was flushed past its commit (%s)", i, lsn)
		}
	}
}

// The change feed hands out only what a crash of the server cannot take
// back: a change committed without a flush (as a write's is, for a moment)
// is returned by Outlets and OutletChanges only once the WAL is flushed past
// it. Without that a follower could move its watermark past versions a crash
// then hands out again. PostgreSQL's WAL writer flushes such a commit within
// a few hundred ms on its own, far later than the read returns.
func TestChangesReturnDurable(t *testing.T) {
	s := openTest(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	seedOutlets(t, s, "E1")
	c, err := pgx.Connect(ctx, testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	if _, err := c.Exec(ctx, `SET synchronous_commit = off`); err != nil {
		t.Fatal(err)
	}
	reads := map[string]func(after int64) (int, error){
		"OutletChanges": func(after int64) (int, error) {
			out, err := s.OutletChanges(ctx, after, 10)
			return len(out), err
		},
		"Outlets": func(int64) (int, error) {
			out, _, err := s.Outlets(ctx)
			return len(out), err
		},
	}
	for name, read := range reads {
		for i := range 20 {
			var v int64
			var lsn string
			err := c.QueryRow(ctx, `UPDATE `+quoteIdent(s.opts.Schema)+`.outlets SET version = version + 1 WHERE code = 'E1' RETURNING version`).Scan(&v)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRow(ctx, `SELECT pg_current_wal_insert_lsn()::text`).Scan(&lsn); err != nil {
				t.Fatal(err)
			}
			n, err := read(v - 1)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatalf("%s: the change at version %d not read", name, v)
			}
			var flushed bool
			if err := c.QueryRow(ctx, `SELECT pg_current_wal_flush_lsn() >= $1::pg_lsn`, lsn).Scan(&flushed); err != nil {
				t.Fatal(err)
			}
			if !flushed {
				t.Fatalf("%s %d: returned a change the WAL had not flushed (%s)", name, i, lsn)
			}
		}
	}
}

// With synchronous standbys a commit must stay invisible, its locks held,
// until a standby has it: a change visible on the primary before that could
// reach a follower and then be lost in a failover. A DSN asking for
// remote_apply (here without standbys, where it waits for the local flush)
// keeps the flush inside the COMMIT; the default keeps it apart.
func TestSynchronousStandbysKeepTheFlushInTheCommit(t *testing.T) {
	if s := openTest(t, Options{}); !s.flushApart {
		t.Fatal("without synchronous standbys the flush is not kept apart from the commit")
	}
	dsn := testDSN(t)
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	dsn += sep + "synchronous_commit=remote_apply"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := Open(ctx, dsn, Options{Schema: newSchema(t, dsn)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.flushApart {
		t.Fatal("with remote_apply the flush is kept apart from the commit")
	}
	apart := false
	s.afterCommit = func() { apart = true }
	seedOutlets(t, s, "S1")
	if err := s.Write(ctx, func(tx publicmask.Tx) error {
		o, err := tx.LockOutlet("S1")
		if err != nil {
			return err
		}
		o.Stock = 7
		return tx.SaveOutlet(&o)
	}); err != nil {
		t.Fatal(err)
	}
	if apart {
		t.Fatal("a write committed without waiting for the flush")
	}
	out, err := s.OutletChanges(ctx, 0, 10)
	if err != nil || len(out) == 0 || out[len(out)-1].Stock != 7 {
		t.Fatalf("the change feed after the write: %v, %v", out, err)
	}
}
