package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestReadOnlyPostgresMakesTheLedgerUnready: a ledger node whose PostgreSQL
// answers but refuses writes (a failover that left it on a demoted primary
// or a standby; default_transaction_read_only) refuses every sale with 503
// store_unavailable. It must leave the load balancer's rotation (§4.5:
// 503 store_unavailable while the store does not take durable writes) and
// say why; it kept /readyz 200, publicmask_ready 1 and store ok, so the
// counters behind it were refused while the PublicmaskNotReady alert stayed
// quiet. When writes are taken again, a probe write makes it ready.
func TestReadOnlyPostgresMakesTheLedgerUnready(t *testing.T) {
	skipShort(t, "runs real processes and PostgreSQL")
	dsn, ctl := pgCluster(t)
	ctx := context.Background()
	secret := secretFile(t, t.TempDir())
	a := freeAddr(t)
	l := startExact(t, a, "serve", "--addr", a, "--role", "ledger", "--db", dsn, "--secret-file", secret,
		"--admin-token", adminToken, "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00")
	codes, tokens := setupOutlets(t, l, 1, 500)
	sell := func(i int) (int, errBody) {
		var e errBody
		code, err := l.call("POST", "/api/v2/outlet/sales", tokens[codes[0]], map[string]any{"txn_id": fmt.Sprintf("ro-%d", i), "buyer": born83(i), "quantity": 1}, &e)
		if err != nil {
			t.Fatal(err)
		}
		return code, e
	}
	if code, e := sell(0); code != 201 {
		t.Fatalf("sale before = %d %+v", code, e)
	}

	// Every new session read-only, and the pool's sessions new.
	exec := func(sql string) {
		t.Helper()
		c, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("ALTER ROLE publicmask SET default_transaction_read_only = on")
	ctl("stop")
	ctl("start")
	deadline := time.Now().Add(30 * time.Second)
	for i := 1; ; i++ {
		code, e := sell(i)
		if code == 503 && e.Error.Code == "store_unavailable" {
			break
		}
		if code == 201 || time.Now().After(deadline) {
			t.Fatalf("sale on a read-only store = %d %+v", code, e)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ready errBody
	if code, err := l.call("GET", "/readyz", "", nil, &ready); err != nil || code != 503 || ready.Error.Code != "store_unavailable" {
		t.Fatalf("/readyz with sales refused on a read-only store = %d %+v, %v; want 503 store_unavailable", code, ready.Error, err)
	}
	if st := l.storeStatus(); st.OK || st.Cause != "read_only" {
		t.Fatalf("status on a read-only store: %+v, want not ok, cause read_only", st)
	}
	if metric(t, l, `publicmask_store_write_errors_total{cause="read_only"}`) < 1 {
		t.Fatal("no read_only write errors counted")
	}
	waitUntil(t, 10*time.Second, "publicmask_ready 0 (probed every 2 s)", func() bool { return metric(t, l, "publicmask_ready") == 0 })

	exec("BEGIN READ WRITE; ALTER ROLE publicmask RESET default_transaction_read_only; COMMIT")
	ctl("stop")
	ctl("start")
	for {
		code, err := l.call("GET", "/readyz", "", nil, nil)
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatalf("/readyz = %d, %v long after the store took writes again", code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code, e := sell(1000); code != 201 {
		t.Fatalf("sale after = %d %+v", code, e)
	}
}
