package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/publicmask/publicmask"
)

// connectTest is a connection of its own to the test database, closed when
// the test ends.
func connectTest(ctx context.Context, t *testing.T) *pgx.Conn {
	t.Helper()
	c, err := pgx.Connect(ctx, testDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

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
	c := connectTest(ctx, t)
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
	c := connectTest(ctx, t)
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
// reach a follower and then be lost in a failover. The commit goes without
// waiting only while the server names no synchronous standby, decided in
// each transaction (the setting can change with a reload): here with the
// server's names replaced by a literal, as no test can set them for one
// session.
func TestSynchronousStandbysKeepTheFlushInTheCommit(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := connectTest(ctx, t)
	names := "current_setting('synchronous_standby_names')"
	if !strings.Contains(sqlCommitLater, names) {
		t.Fatalf("sqlCommitLater does not read the server's standby names: %s", sqlCommitLater)
	}
	for _, tc := range []struct {
		names, session, want string
	}{
		{names, "on", "off"}, // the test server names none
		{"''", "on", "off"},
		{"' '", "remote_apply", "off"},
		{"'standby1'", "on", "on"},
		{"'FIRST 1 (s1, s2)'", "remote_apply", "remote_apply"},
	} {
		if _, err := c.Exec(ctx, "SET synchronous_commit = "+tc.session); err != nil {
			t.Fatal(err)
		}
		tx, err := c.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, strings.Replace(sqlCommitLater, names, tc.names, 1)); err != nil {
			t.Fatal(err)
		}
		var got string
		if err := tx.QueryRow(ctx, "SHOW synchronous_commit").Scan(&got); err != nil {
			t.Fatal(err)
		}
		tx.Rollback(ctx)
		if got != tc.want {
			t.Errorf("standby names %s, session %s: the commit runs with synchronous_commit %s, want %s", tc.names, tc.session, got, tc.want)
		}
	}
}
