package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/publicmask/publicmask/internal/testenv"
)

// pgDSN returns a DSN whose search_path is a fresh schema, or skips (fails
// under CI=true) without PUBLICMASK_TEST_POSTGRES.
func pgDSN(t *testing.T) string {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	// Base 36, so that no run of digits in the logs looks like an ID.
	schema := "e2e_" + strconv.FormatInt(time.Now().UnixNano(), 36)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), dsn)
		if err == nil {
			c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func secretFile(t *testing.T, dir string) string {
	t.Helper()
	b := make([]byte, 32)
	rand.Read(b)
	p := filepath.Join(dir, "secret")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPostgresScaleOut: two ledger nodes and one public node share one
// PostgreSQL database. Forty buyers each trying four times at once through
// both ledger nodes get exactly one purchase each; stocks add up; the public
// node refuses writes, serves v1 and shows a sale made through a ledger
// node within a second; verify is ok; no raw ID in a pg_dump.
func TestPostgresScaleOut(t *testing.T) {
	skipShort(t, "runs three real processes")
	dsn := pgDSN(t)
	dir := t.TempDir()
	common := []string{"--db", dsn, "--secret-file", secretFile(t, dir), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	l1 := start(t, append([]string{"--role", "ledger"}, common...)...)
	l2 := start(t, append([]string{"--role", "ledger"}, common...)...)
	pub := start(t, append([]string{"--role", "public"}, common...)...)

	codes, tokens := setupOutlets(t, l1, 2, 1000)
	// The public node has no outlet or admin routes.
	var e errBody
	pub.mustCall("POST", "/api/v2/outlet/sales", tokens[codes[0]], map[string]any{"txn_id": "x", "buyer": born83(1), "quantity": 1}, &e, 404)
	if e.Error.Code != "not_found" {
		t.Fatalf("public node write: %+v", e)
	}
	// A node given another secret refuses to start.
	bad := exec.Command(binary(t), append([]string{"serve", "--addr", freeAddr(t), "--role", "ledger"}, append(common[:2:2], "--secret-file", secretFile(t, t.TempDir()))...)...)
	if out, err := bad.CombinedOutput(); err == nil || !strings.Contains(string(out), "secret") {
		t.Fatalf("node with another secret started: %v %s", err, out)
	}

	const buyers = 40
	oneEach(t, buyers, func(i, try int) (*server, string, map[string]any) {
		c := codes[(i+try)%2]
		return []*server{l1, l2}[try%2], tokens[c], map[string]any{"txn_id": fmt.Sprintf("p%d-%d", i, try), "buyer": born83(2000 + i), "quantity": 2}
	})
	total := 0
	for _, c := range codes {
		var o struct {
			Stock int `json:"stock"`
		}
		l2.mustCall("GET", "/api/v2/outlet", tokens[c], nil, &o, 200)
		total += o.Stock
	}
	if total != 2000-2*buyers {
		t.Fatalf("stocks add up to %d, want %d", total, 2000-2*buyers)
	}

	// Freshness across processes: a sale through a ledger node shows on the
	// public node's v1 answer.
	c := codes[0]
	before := v1Stat(t, pub, c)
	if before != "plenty" {
		t.Fatalf("outlet %s shows %q before, want plenty", c, before)
	}
	var cnt struct {
		Stock int `json:"stock"`
	}
	l1.mustCall("POST", "/api/v2/outlet/stock", tokens[c], map[string]any{"txn_id": "count-100", "count": 100}, &cnt, 201)
	deadline := time.Now().Add(5 * time.Second)
	for v1Stat(t, pub, c) != "plenty" && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	sent := time.Now()
	l2.mustCall("POST", "/api/v2/outlet/sales", tokens[c], map[string]any{"txn_id": "fresh", "buyer": born83(9999), "quantity": 1}, nil, 201)
	acked := time.Now()
	for v1Stat(t, pub, c) != "some" {
		if time.Since(acked) > 5*time.Second {
			t.Fatal("the public node did not show the sale within 5 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	lag := time.Since(acked)
	t.Logf("sale on ledger node 2 visible on the public node %v after acknowledgement (%v after sending)", lag.Round(time.Millisecond), time.Since(sent).Round(time.Millisecond))
	if lag > time.Second {
		t.Fatalf("cross-process freshness %v > 1 s", lag)
	}

	l1.mustVerify(t, "across the nodes")
	pgDumpHasNoRawID(t, dsn, born83(2000), born83(9999))
}

func v1Stat(t *testing.T, s *server, code string) string {
	t.Helper()
	var out struct {
		Stores []struct {
			Code       string  `json:"code"`
			RemainStat *string `json:"remain_stat"`
		} `json:"stores"`
	}
	s.mustCall("GET", "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=500", "", nil, &out, 200)
	for _, st := range out.Stores {
		if st.Code == code && st.RemainStat != nil {
			return *st.RemainStat
		}
	}
	return ""
}

func pgDumpHasNoRawID(t *testing.T, dsn string, ids ...string) {
	t.Helper()
	dump := "pg_dump"
	if m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump"); len(m) > 0 {
		dump = m[len(m)-1]
	}
	u, _ := url.Parse(dsn)
	schema := u.Query().Get("search_path")
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	out, err := exec.Command(dump, "--data-only", "--schema", schema, u.String()).CombinedOutput()
	if err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	if len(out) < 1000 {
		t.Fatalf("pg_dump output suspiciously small (%d bytes)", len(out))
	}
	for _, id := range ids {
		if strings.Contains(string(out), id) || strings.Contains(string(out), id[:6]+"-"+id[6:]) {
			t.Fatal("raw ID found in pg_dump")
		}
	}
}
