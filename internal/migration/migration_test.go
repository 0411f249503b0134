package migration_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/publicmask/publicmask/internal/migration"
	"github.com/publicmask/publicmask/internal/testenv"
)

// The stores' own migrations, read from their directories (the embedded
// copies are unexported).
func storeMigrations(t *testing.T, store string) fstest.MapFS {
	t.Helper()
	dir := filepath.Join("..", "..", store, "migrations")
	names, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no migrations in %s: %v", dir, err)
	}
	fsys := fstest.MapFS{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		fsys[filepath.Base(n)] = &fstest.MapFile{Data: b}
	}
	return fsys
}

func versions(t *testing.T, fsys fstest.MapFS) []int64 {
	t.Helper()
	ms, err := migration.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	var vs []int64
	for _, m := range ms {
		vs = append(vs, m.Version)
	}
	return vs
}

// gooseAt2 leaves db as goose left it after migrating to version 2: the
// schema of migrations 1 and 2, and goose's own version table (testdata,
// dumped from a database goose v3.30.0 migrated). schema, if set, replaces
// the dump's schema name.
func gooseAt2(t *testing.T, db *sql.DB, fsys fstest.MapFS, dump, schema string) {
	t.Helper()
	ms, err := migration.Load(fsys)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:2] {
		for _, q := range m.Statements {
			if _, err := db.Exec(q); err != nil {
				t.Fatalf("%s: %v", m.Name, err)
			}
		}
	}
	b, err := os.ReadFile(filepath.Join("testdata", dump))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(strings.ReplaceAll(string(b), "goose_fixture.", schema)); err != nil {
		t.Fatal(err)
	}
}

// upFromGoose runs Up on a database goose left at version 2 and checks
// that it applies the rest, once, recorded in goose's table.
func upFromGoose(t *testing.T, db *sql.DB, fsys fstest.MapFS, d migration.Dialect) {
	t.Helper()
	all := versions(t, fsys)
	done, err := migration.Up(context.Background(), db, fsys, d)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(done, all[2:]) {
		t.Fatalf("applied %v, want %v", done, all[2:])
	}
	if got := appliedRows(t, db); !reflect.DeepEqual(got, wantRows(all...)) {
		t.Fatalf("version table %v, want %v", got, wantRows(all...))
	}
}

// appliedRows returns goose's table as (version, applied) pairs in order.
func appliedRows(t *testing.T, db *sql.DB) [][2]int64 {
	t.Helper()
	rows, err := db.Query(`SELECT version_id, is_applied FROM goose_db_version ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out [][2]int64
	for rows.Next() {
		var v int64
		var ok bool
		if err := rows.Scan(&v, &ok); err != nil {
			t.Fatal(err)
		}
		a := int64(0)
		if ok {
			a = 1
		}
		out = append(out, [2]int64{v, a})
	}
	return out
}

func wantRows(vs ...int64) [][2]int64 {
	out := [][2]int64{{0, 1}}
	for _, v := range vs {
		out = append(out, [2]int64{v, 1})
	}
	return out
}

func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "m.db"))
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

func TestSQLite(t *testing.T) {
	ctx := context.Background()
	fsys := storeMigrations(t, "sqlite")
	all := versions(t, fsys)
	t.Run("fresh database: every migration once, then nothing", func(t *testing.T) {
		db := openSQLite(t)
		done, err := migration.Up(ctx, db, fsys, migration.SQLite)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(done, all) {
			t.Fatalf("applied %v, want %v", done, all)
		}
		done, err = migration.Up(ctx, db, fsys, migration.SQLite)
		if err != nil || len(done) != 0 {
			t.Fatalf("second run applied %v (%v), want nothing", done, err)
		}
		if got := appliedRows(t, db); !reflect.DeepEqual(got, wantRows(all...)) {
			t.Fatalf("version table %v, want %v", got, wantRows(all...))
		}
		var n int
		if err := db.QueryRow(`SELECT count(*) FROM outlets`).Scan(&n); err != nil {
			t.Fatalf("schema not there: %v", err)
		}
	})
	t.Run("database goose migrated to version 2 goes on from 3", func(t *testing.T) {
		db := openSQLite(t)
		gooseAt2(t, db, fsys, "sqlite-goose-v2.sql", "")
		upFromGoose(t, db, fsys, migration.SQLite)
		if _, err := db.Exec(`SELECT sold FROM outlets`); err != nil {
			t.Fatalf("migration 3 not applied: %v", err)
		}
	})
	t.Run("a failing migration leaves no trace and stops the run", func(t *testing.T) {
		db := openSQLite(t)
		bad := fstest.MapFS{
			"00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (x INTEGER);\n")},
			"00002_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b (x INTEGER);\nINSERT INTO nowhere VALUES (1);\n")},
			"00003_c.sql": {Data: []byte("-- +goose Up\nCREATE TABLE c (x INTEGER);\n")},
		}
		done, err := migration.Up(ctx, db, bad, migration.SQLite)
		if err == nil || !strings.Contains(err.Error(), "00002_b.sql") {
			t.Fatalf("err = %v, want the failure of 00002_b.sql", err)
		}
		if !reflect.DeepEqual(done, []int64{1}) {
			t.Fatalf("applied %v, want [1]", done)
		}
		if _, err := db.Exec(`SELECT * FROM b`); err == nil {
			t.Fatal("table b of the failed migration exists")
		}
		if got := appliedRows(t, db); !reflect.DeepEqual(got, wantRows(1)) {
			t.Fatalf("version table %v, want %v", got, wantRows(1))
		}
	})
}

// A store migrated by a newer binary (a version this one does not carry) is
// refused on SQLite before anything runs; a version rolled back by goose's
// down (is_applied false) does not count.
func TestSQLiteRefusesNewerSchema(t *testing.T) {
	ctx := context.Background()
	newer := fstest.MapFS{
		"00001_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (x INTEGER);\n")},
		"00002_b.sql": {Data: []byte("-- +goose Up\nCREATE TABLE b (x INTEGER);\n")},
	}
	older := fstest.MapFS{
		"00001_a.sql": newer["00001_a.sql"],
		"00003_c.sql": {Data: []byte("-- +goose Up\nCREATE TABLE c (x INTEGER);\n")},
	}
	db := openSQLite(t)
	if _, err := migration.Up(ctx, db, newer, migration.SQLite); err != nil {
		t.Fatal(err)
	}
	older3 := fstest.MapFS{"00001_a.sql": newer["00001_a.sql"]}
	done, err := migration.Up(ctx, db, older3, migration.SQLite)
	if !errors.Is(err, migration.ErrNewer) || !strings.Contains(err.Error(), "version 2") || len(done) != 0 {
		t.Fatalf("older binary: applied %v, err %v; want ErrNewer naming version 2", done, err)
	}
	// Version 3 is newer than the database's 2: this binary is not older.
	if done, err := migration.Up(ctx, db, older, migration.SQLite); err != nil || !reflect.DeepEqual(done, []int64{3}) {
		t.Fatalf("binary with a newer migration: applied %v, err %v; want [3]", done, err)
	}
	// goose's down of 2 and 3 leaves rows with is_applied false: not newer.
	if _, err := db.Exec(`INSERT INTO goose_db_version (version_id, is_applied) VALUES (3, 0), (2, 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := migration.Up(ctx, db, older3, migration.SQLite); err != nil {
		t.Fatalf("after goose's down to 1: %v", err)
	}
}

func TestLoad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files fstest.MapFS
		want  [][]string // statements per migration, in order
		err   string
	}{
		{"up and down sections, comments, order by version", fstest.MapFS{
			"00010_b.sql": {Data: []byte("-- +goose Up\nALTER TABLE t ADD y INT;\n-- +goose Down\nALTER TABLE t DROP y;\n")},
			"00002_a.sql": {Data: []byte("-- +goose Up\n-- why\nCREATE TABLE t (\n    x INT -- the x\n);\n\nCREATE INDEX i ON t (x);\n")},
		}, [][]string{{"CREATE TABLE t (\n    x INT -- the x\n);\n", "CREATE INDEX i ON t (x);\n"}, {"ALTER TABLE t ADD y INT;\n"}}, ""},
		{"no version prefix", fstest.MapFS{"init.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")}}, nil, "no version prefix"},
		{"same version twice", fstest.MapFS{
			"0001_a.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")},
			"01_b.sql":   {Data: []byte("-- +goose Up\nSELECT 1;\n")},
		}, nil, "share version 1"},
		{"statement blocks refused", fstest.MapFS{"1_a.sql": {Data: []byte("-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose StatementEnd\n")}}, nil, "unsupported annotation"},
		{"unterminated statement", fstest.MapFS{"1_a.sql": {Data: []byte("-- +goose Up\nSELECT 1\n")}}, nil, "no ';'"},
		{"no Up section", fstest.MapFS{"1_a.sql": {Data: []byte("SELECT 1;\n")}}, nil, "no -- +goose Up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ms, err := migration.Load(tc.files)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got [][]string
			for _, m := range ms {
				got = append(got, m.Statements)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("statements %q, want %q", got, tc.want)
			}
		})
	}
}

// postgresDB opens a database/sql handle on a fresh schema of the test
// server (dropped at the end), like the postgres store's tests.
func postgresDB(t *testing.T) (open func() *sql.DB, schema string) {
	t.Helper()
	cc, err := pgx.ParseConfig(testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	var b [6]byte
	rand.Read(b[:])
	schema = "pmmigrate_" + hex.EncodeToString(b[:])
	admin := stdlib.OpenDB(*cc)
	t.Cleanup(func() {
		admin.Exec(`DROP SCHEMA IF EXISTS ` + schema + ` CASCADE`)
		admin.Close()
	})
	cc.RuntimeParams["search_path"] = schema
	return func() *sql.DB {
		db := stdlib.OpenDB(*cc)
		t.Cleanup(func() { db.Close() })
		return db
	}, schema
}

func TestPostgres(t *testing.T) {
	ctx := context.Background()
	fsys := storeMigrations(t, "postgres")
	all := versions(t, fsys)
	t.Run("two runners at once on a fresh database", func(t *testing.T) {
		open, schema := postgresDB(t)
		d := migration.Postgres(0x7075626c69636d61, `CREATE SCHEMA IF NOT EXISTS `+schema)
		var wg sync.WaitGroup
		done := make([][]int64, 2)
		errs := make([]error, 2)
		for i := range done {
			db := open()
			wg.Go(func() { done[i], errs[i] = migration.Up(ctx, db, fsys, d) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		// One runner did the work, the other found it done.
		if len(done[0])+len(done[1]) != len(all) || (len(done[0]) != 0 && len(done[1]) != 0) {
			t.Fatalf("runners applied %v and %v, want %v once", done[0], done[1], all)
		}
		if got := appliedRows(t, open()); !reflect.DeepEqual(got, wantRows(all...)) {
			t.Fatalf("version table %v, want %v", got, wantRows(all...))
		}
	})
	t.Run("database goose migrated to version 2 goes on from 3", func(t *testing.T) {
		open, schema := postgresDB(t)
		db := open()
		if _, err := db.Exec(`CREATE SCHEMA ` + schema); err != nil {
			t.Fatal(err)
		}
		gooseAt2(t, db, fsys, "postgres-goose-v2.sql", schema+".")
		upFromGoose(t, db, fsys, migration.Postgres(1))
	})
	t.Run("a runner waits for the lock", func(t *testing.T) {
		open, schema := postgresDB(t)
		holder, err := open().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer holder.Close()
		const key = 0x6d6967726174
		if _, err := holder.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(key)); err != nil {
			t.Fatal(err)
		}
		res := make(chan error, 1)
		go func() {
			_, err := migration.Up(ctx, open(), fsys, migration.Postgres(key, `CREATE SCHEMA IF NOT EXISTS `+schema))
			res <- err
		}()
		// Wait until the runner is queued on the lock, then check that it
		// has done nothing yet.
		for {
			var waiting bool
			err := holder.QueryRowContext(ctx, `SELECT count(*) > 0 FROM pg_locks WHERE locktype = 'advisory'
				AND NOT granted AND classid = $1 AND objid = $2 AND objsubid = 1`, key>>32, key&0xffffffff).Scan(&waiting)
			if err != nil {
				t.Fatal(err)
			}
			if waiting {
				break
			}
			select {
			case err := <-res:
				t.Fatalf("runner finished while the lock was held: %v", err)
			case <-time.After(5 * time.Millisecond):
			}
		}
		var n int
		if err := holder.QueryRowContext(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n); err != nil || n != 0 {
			t.Fatalf("runner went past the held lock (schemas %d, %v)", n, err)
		}
		holder.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(key))
		if err := <-res; err != nil {
			t.Fatal(err)
		}
	})
}
