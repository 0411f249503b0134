package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Every session of the store commits synchronously even where the
// database's default is off: the test makes a database of its own with
// that default (so that no other test's sessions change), checks that a
// plain session there gets off, and reads the setting through the store's
// connections — also when the DSN itself asks for off.
func TestSessionsCommitSynchronouslyWhateverTheDefault(t *testing.T) {
	dsn := testDSN(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	var mayCreate bool
	if err := admin.QueryRow(ctx, `SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&mayCreate); err != nil {
		t.Fatal(err)
	}
	if !mayCreate {
		msg := "the test role may not create databases (scripts/pg.sh grants CREATEDB: run it once)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	var b [6]byte
	rand.Read(b[:])
	db := "pmtest_sync_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+quoteIdent(db)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, dsn)
		if err == nil {
			defer c.Close(ctx)
			_, err = c.Exec(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(db)+` WITH (FORCE)`)
		}
		if err != nil {
			t.Errorf("drop database %s: %v", db, err)
		}
	})
	if _, err := admin.Exec(ctx, `ALTER DATABASE `+quoteIdent(db)+` SET synchronous_commit = off`); err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + db
	plain, err := pgx.Connect(ctx, u.String())
	if err != nil {
		t.Fatal(err)
	}
	var got string
	plain.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&got)
	plain.Close(ctx)
	if got != "off" {
		t.Fatalf("a plain session in the test database has synchronous_commit %q: the default did not take, the test proves nothing", got)
	}
	offDSN := *u
	q := offDSN.Query()
	q.Set("synchronous_commit", "off")
	offDSN.RawQuery = q.Encode()
	for name, dsn := range map[string]string{"database default off": u.String(), "DSN asking for off": offDSN.String()} {
		st, err := Open(ctx, dsn, Options{MaxConns: 3})
		if err != nil {
			t.Fatal(err)
		}
		// Hold every connection of the pool at once, so that each is asked.
		var conns []interface{ Release() }
		for range 3 {
			c, err := st.Pool().Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.QueryRow(ctx, `SHOW synchronous_commit`).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != "on" {
				t.Errorf("%s: a store session runs with synchronous_commit %q", name, got)
			}
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Release()
		}
		st.Close()
	}
}

// TestSessionsPlanEachExecution: a store session plans each statement for
// the tables as they are, so a plan cached while person_weeks was empty
// (the first minutes of a first morning) cannot stay with the session and
// scan the whole grown table for every batch.
func TestSessionsPlanEachExecution(t *testing.T) {
	st := openTest(t, Options{MaxConns: 2})
	ctx := context.Background()
	var got string
	if err := st.Pool().QueryRow(ctx, `SHOW plan_cache_mode`).Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != "force_custom_plan" {
		t.Errorf("a store session runs with plan_cache_mode %q, want force_custom_plan", got)
	}
}
