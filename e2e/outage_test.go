package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// pgCluster starts a throwaway PostgreSQL cluster of this test's own (so
// that it can be stopped without disturbing other tests) and returns its
// DSN and a function that runs scripts/pg.sh with start or stop.
func pgCluster(t *testing.T) (dsn string, ctl func(cmd string)) {
	t.Helper()
	pgDSN(t) // skip or fail exactly as the other PostgreSQL tests do
	// Not t.TempDir: its parent is private to root, and the server runs as
	// the postgres user, which must reach its data directory.
	dir, err := os.MkdirTemp("", "publicmask-e2e-pg-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	t.Cleanup(func() { os.RemoveAll(dir) })
	// A port of the range PUBLICMASK_E2E_PORTS gives, if set (freeAddr).
	_, port, err := net.SplitHostPort(freeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	script, _ := filepath.Abs("../scripts/pg.sh")
	run := func(cmd string) string {
		c := exec.Command(script, cmd, filepath.Join(dir, "pg"))
		c.Env = append(os.Environ(), "PGPORT="+port)
		out, err := c.Output()
		if err != nil {
			t.Fatalf("pg.sh %s: %v", cmd, err)
		}
		return strings.TrimSpace(string(out))
	}
	lines := strings.Split(run("start"), "\n")
	t.Cleanup(func() { run("stop") })
	return lines[len(lines)-1], func(cmd string) { run(cmd) }
}

// TestPostgresRestartDuringLoad: PostgreSQL goes away mid-load. Requests
// fail fast (503 with Retry-After, no hang past a few seconds), the service
// recovers by itself when the database is back, and nothing acknowledged
// is lost.
func TestPostgresRestartDuringLoad(t *testing.T) {
	skipShort(t, "restarts a PostgreSQL cluster")
	dsn, ctl := pgCluster(t)
	args := []string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir()), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	s := start(t, args...)
	codes, tokens := setupOutlets(t, s, 2, 10000)

	var mu sync.Mutex
	var acks []acked
	var slowest503 time.Duration
	var n503, missingRetryAfter, other int
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c := codes[i%2]
				a := acked{outlet: c, token: tokens[c], txn: fmt.Sprintf("o%d-%d", w, i), buyer: born83(w*10000 + i), qty: 1}
				began := time.Now()
				req := map[string]any{"txn_id": a.txn, "buyer": a.buyer, "quantity": 1}
				var r saleReceipt
				code, hdr, err := s.callHeader("POST", "/api/v2/outlet/sales", a.token, req, &r)
				took := time.Since(began)
				mu.Lock()
				switch {
				case err != nil:
					other++
				case code == 201:
					a.saleID = r.SaleID
					acks = append(acks, a)
				case code == 503:
					n503++
					slowest503 = max(slowest503, took)
					if hdr.Get("Retry-After") == "" {
						missingRetryAfter++
					}
				default:
					other++
				}
				mu.Unlock()
				if code == 503 {
					time.Sleep(50 * time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(1500 * time.Millisecond)
	ctl("stop")
	down := time.Now()
	time.Sleep(3 * time.Second)
	ctl("start")
	up := time.Now()
	// Recovery by itself: a fresh sale succeeds without restarting the node.
	var recovered time.Duration
	for i := 0; ; i++ {
		var r saleReceipt
		code, _ := s.call("POST", "/api/v2/outlet/sales", tokens[codes[0]], map[string]any{"txn_id": fmt.Sprintf("probe-%d", i), "buyer": born83(90000 + i), "quantity": 1}, &r)
		if code == 201 {
			recovered = time.Since(up)
			break
		}
		if time.Since(up) > 30*time.Second {
			t.Fatalf("no recovery 30 s after PostgreSQL came back (last status %d)", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("database down %v; %d answers 503 (slowest %v), recovered %v after restart; %d sales acknowledged", up.Sub(down).Round(time.Millisecond), n503, slowest503.Round(time.Millisecond), recovered.Round(time.Millisecond), len(acks))
	if n503 == 0 {
		t.Fatal("no request failed while the database was down: the outage was not exercised")
	}
	if missingRetryAfter > 0 {
		t.Fatalf("%d of the 503 answers lacked Retry-After", missingRetryAfter)
	}
	if slowest503 > 5*time.Second {
		t.Fatalf("a request hung %v before failing; want fast failure", slowest503)
	}
	for _, a := range acks {
		var r saleReceipt
		s.mustCall("POST", "/api/v2/outlet/sales", a.token, map[string]any{"txn_id": a.txn, "buyer": a.buyer, "quantity": 1}, &r, 200)
		if r.SaleID != a.saleID {
			t.Fatalf("acknowledged sale %s lost", a.txn)
		}
	}
	s.mustVerify(t, "after the outage")
	var ready struct{}
	s.mustCall("GET", "/readyz", "", nil, &ready, 200)
}
