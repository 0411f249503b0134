package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestPostgresBackupAndRestore follows docs/deployment.md's PostgreSQL
// backup and restore on a cluster of its own: pg_dump under sales, more
// sales and a count after it, then the restore (ledger node stopped, the
// database dropped and restored in one transaction, roles.sql, the ledger
// node started again) while two public nodes stay up, one on the primary
// and one on a streaming standby. The restored store's sales then raise
// its version past the public nodes'. On main (session 42) the public
// nodes kept the lost history's data patched with the restored store's
// changes above their watermark (an outlet counted down after the backup
// stayed "few" there and on the map, "plenty" in the database), and a
// client resuming its stream was not reset. Also: verify is ok,
// every sale acknowledged before the dump replays to its first receipt,
// a sale acknowledged after it is recorded anew when retried (its old
// sale_id is found nowhere), and a client of the lost history resuming
// gets a reset.
func TestPostgresBackupAndRestore(t *testing.T) {
	skipShort(t, "runs a PostgreSQL cluster and a standby, pg_dump and pg_restore, and three nodes")
	dir := sharedTempDir(t, "pm-restore")
	db := newPrimary(t, dir)
	db.psql("postgres", "-c", "CREATE DATABASE publicmask")
	roles := sharedCopy(t, dir, repoFile("deploy/postgres/roles.sql"))
	db.psql("publicmask", "-f", roles)
	ledgerDSN, publicDSN := db.dsn("publicmask_ledger", "publicmask"), db.dsn("publicmask_public", "publicmask")
	if out, err := execBinary(t, "migrate", "--db", ledgerDSN); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}
	db.psql("publicmask", "-f", roles)
	common := []string{"--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	ledgerArgs := append([]string{"--role", "ledger", "--db", ledgerDSN, "--secret-file", secretFile(t, t.TempDir())}, common...)
	ledgerAddr := freeAddr(t)
	l := startOn(t, ledgerAddr, ledgerArgs...)
	p := start(t, append([]string{"--role", "public", "--db", publicDSN}, common...)...)
	// A second public node on a streaming standby, as docs/deployment.md
	// places them: the DROP and the restore reach it through the WAL.
	sb := db.standby(dir)
	ps := start(t, append([]string{"--role", "public", "--db", sb.dsn("publicmask_public", "publicmask")}, common...)...)
	codes, toks := setupOutlets(t, l, 3, 100000)
	a := codes[0]

	// The backup, under sales.
	load := startSales(l, codes[1:], toks, 2, "before-")
	waitUntil(t, 10*time.Second, "sales under way", func() bool { load.mu.Lock(); defer load.mu.Unlock(); return len(load.acks) >= 100 })
	load.mu.Lock()
	before := len(load.acks)
	load.mu.Unlock()
	dump := filepath.Join(dir, "publicmask.dump")
	t0 := time.Now()
	db.run("pg_dump", "-h", "127.0.0.1", "-p", fmt.Sprint(db.port), "-U", "postgres", "-Fc", "-d", "publicmask", "-f", dump)
	took := time.Since(t0)
	// After the dump: more sales, and a's stock counted down to 20 (few).
	time.Sleep(500 * time.Millisecond)
	l.mustCall("POST", "/api/v2/outlet/stock", toks[a], map[string]any{"txn_id": "count-a", "count": 20}, nil, 201)
	time.Sleep(500 * time.Millisecond)
	acks := load.finish()
	t.Logf("pg_dump under sales took %v; %d sales acknowledged before it, %d in all", took.Round(time.Millisecond), before, len(acks))

	// A citizen on the public node holds a as few, and its last event id.
	const circle = "/api/v2/stream?lat=37.62&lng=127.0164&m=2000&epoch=1"
	var seen []sseEventRaw
	waitUntil(t, 5*time.Second, "the public node shows a's count", func() bool {
		seen = readEvents(t, p.base, circle+"&since=0", "", 2*time.Second, func(evs []sseEventRaw) bool { return len(evs) >= 3 })
		ev, ok := outletEvent(seen, a)
		return ok && strings.Contains(ev.Data, `"remain_stat":"few"`)
	})
	lastID := seen[len(seen)-1].ID
	waitUntil(t, 5*time.Second, "the public node on the standby shows a's count", func() bool {
		var o struct {
			RemainStat string `json:"remain_stat"`
		}
		code, err := ps.call("GET", "/api/v2/outlets/"+a, "", nil, &o)
		return err == nil && code == 200 && o.RemainStat == "few"
	})
	held := versionOf(t, p)
	// And the map, on the public node, when a browser is at hand (the
	// runbook's part is the same without one).
	var page *browsertest.Page
	item := `document.querySelector('#list li[data-code="` + a + `"]')`
	if _, err := exec.LookPath("chromium"); err == nil {
		page = browsertest.NewPage(t, 1280, 900)
		page.Run(browsertest.Navigate(p.base + "/?lat=37.62&lng=127.0164&lang=ko"))
		page.Wait(item+` && /\bs-few\b/.test(`+item+`.className)`, 15*time.Second)
		page.Wait(`document.getElementById('live').classList.contains('ok')`, 10*time.Second)
	}

	// The restore, as docs/deployment.md says: the ledger node stopped,
	// the public node left running.
	l.stop()
	db.psql("postgres", "-c", "DROP DATABASE publicmask WITH (FORCE)")
	db.psql("postgres", "-c", "CREATE DATABASE publicmask")
	db.run("pg_restore", "-h", "127.0.0.1", "-p", fmt.Sprint(db.port), "-U", "postgres", "--exit-on-error", "--single-transaction", "-d", "publicmask", dump)
	db.psql("publicmask", "-f", roles)
	l = startOn(t, ledgerAddr, ledgerArgs...)
	l.mustVerify(t, "on the restored database")
	replayAll(t, l, acks[:before])
	// The last sale acknowledged (after the dump) is not in the restored
	// store: cancelling it by its receipt's sale_id finds nothing, and a
	// retry records it anew (another sale_id: ids are never reused, so an
	// old receipt cannot cancel someone else's sale).
	lost := acks[len(acks)-1]
	if code, _, body, err := l.send("POST", "/api/v2/outlet/sales/"+lost.saleID+"/cancel", lost.token, map[string]any{}); err != nil || code != 404 {
		t.Errorf("cancel of a sale acknowledged after the dump: %d %v %s, want 404", code, err, body)
	}
	var again saleReceipt
	if code, err := l.call("POST", "/api/v2/outlet/sales", lost.token, lost.body(), &again); err != nil || code != 201 || again.SaleID == lost.saleID {
		t.Errorf("retry of a sale acknowledged after the dump: %d %v, sale_id %q (was %q); want 201 and a new id", code, err, again.SaleID, lost.saleID)
	}

	// The restored store's sales raise its version past the public node's.
	storeVersion := func() int64 {
		var v int64
		fmt.Sscan(db.psql("publicmask", "-c", "SELECT max(version) FROM publicmask.outlets"), &v)
		return v
	}
	if v := storeVersion(); v >= held {
		t.Fatalf("the restored database is at version %d, not below the public node's %d", v, held)
	}
	after := startSales(l, codes[1:], toks, 2, "after-")
	waitUntil(t, 60*time.Second, "the restored store's version past the public node's", func() bool { return storeVersion() > held+2 })
	after.finish()
	var truth struct {
		RemainStat string `json:"remain_stat"`
	}
	l.mustCall("GET", "/api/v2/outlet", toks[a], nil, &truth, 200)
	// The public nodes must come to show the restored store.
	for _, n := range []struct {
		name string
		s    *server
	}{{"the public node", p}, {"the public node on the standby", ps}} {
		var shown string
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			code, _, body, err := n.s.send("GET", "/api/v2/outlets/"+a, "", nil)
			var o struct {
				RemainStat string `json:"remain_stat"`
			}
			if err == nil && code == 200 && json.Unmarshal(body, &o) == nil {
				if shown = o.RemainStat; shown == "plenty" {
					break
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
		if shown != "plenty" {
			t.Errorf("%s shows %s as %q 5 s after the restored store passed its version %d; the database has it plenty", n.name, a, shown, held)
		}
	}
	if page != nil {
		var ok bool
		for end := time.Now().Add(10 * time.Second); !ok && time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
			page.Eval(item+` && /\bs-plenty\b/.test(`+item+`.className)`, &ok)
		}
		if !ok {
			t.Errorf("the map on the public node shows %s as %q 10 s after the restored store passed its version; the database has it plenty", a, page.Text(item))
		}
	}
	// The citizen resumes with its old id: a reset, and a as the store has it.
	evs := readEvents(t, p.base, circle, lastID, 3*time.Second, func(evs []sseEventRaw) bool { _, ok := outletEvent(evs, a); return ok })
	if ev, ok := outletEvent(evs, a); !ok || !strings.Contains(ev.Data, `"remain_stat":"plenty"`) {
		t.Errorf("resumed on the public node with %s from the lost history: no event shows %s plenty within 3 s; got %+v", lastID, a, evs)
	} else if evs[0].Name != "reset" {
		t.Errorf("resumed with %s: first event %+v, want reset", lastID, evs[0])
	}
	l.mustVerify(t, "after sales on the restored database")
	// The operator sees it in the public node's log (docs/deployment.md).
	if !strings.Contains(p.Logs(), "the store's history changed") {
		t.Errorf("the public node did not log its rebuild; log:\n%s", p.Logs())
	}
}
