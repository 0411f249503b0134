package e2e

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/powerloss"
)

// TestPostgresImmediateStopKeepsAcknowledgedSales kills PostgreSQL itself
// under load: a private cluster (fsync on), two ledger nodes selling
// through both; an immediate shutdown (SIGQUIT to the postmaster, as
// `pg_ctl stop -m immediate` sends: no checkpoint, no WAL write of what is
// still in PostgreSQL's buffers; crash recovery at the next start) while
// sales are in flight; PostgreSQL starts again and the nodes, which
// keep running, recover by themselves (DESIGN §4.5: /readyz is 503 while
// the store does not take durable writes). A public node follows the
// change feed: the recovered database must hold every version it saw
// before the crash (the feed hands out only flushed changes), and it
// catches up afterwards. Then every acknowledged sale replays to its
// first receipt (half on each node, alternately), every sale that got an
// error in the crash window gives one answer on both nodes when retried
// with its txn_id (an error outside that window fails the test), no buyer
// has more than the week's quota, each outlet's stock is exactly its
// delivery less every sale that exists, and verify is ok.
//
// An immediate stop kills the server's processes: WAL that PostgreSQL has
// handed to the kernel survives (the page cache outlives them), WAL still
// in its own buffers does not. A commit that is acknowledged before its
// WAL is flushed is lost if its record was still in those buffers.
// The ledger commits with synchronous_commit off and acknowledges only
// after a synchronous flush transaction (postgres/tx.go); the variants:
//
//   - default: the server's defaults (synchronous_commit on).
//   - synchronous_commit_off: off for the whole cluster, which the store's
//     sessions must override for their flush, and a WAL writer whose rounds
//     are 10 s apart. PostgreSQL still wakes it when a full page of
//     asynchronously committed WAL has built up, and backends write WAL
//     themselves when its buffers fill: what only the store's own flush
//     writes before the stop is the last, partial page.
//   - power_cut: the server's defaults, its data directory (not its log) on
//     a powerloss file system cut right after the immediate stop: WAL
//     written but not fsynced is lost too, as in a power cut of the
//     machine. Half the cuts drop every unsynced write, the others keep a
//     random prefix of each file's (which may be all of the WAL's); half
//     tear one write at a 512-byte boundary. The seed is logged, and how
//     much of the WAL the cut dropped: with the flush after every batch
//     the WAL seldom has an unsynced write at the stop (none in 3 runs
//     of 2026-12-03; the cuts took back data-file writes, which recovery
//     redoes from the WAL); without it, it had 7–12.
//
// With the flush transaction removed from the commit (a scratch edit,
// 2026-12-03; runs over three versions of the load) default failed in 14
// runs of 15, synchronous_commit_off in 13 of 15, power_cut in 13 of 13,
// losing 1–6 acknowledged sales a run (up to 18 with the power cut);
// once more after the review's changes: default lost 1, power_cut 2 (its
// cut kept all the WAL's unsynced writes), synchronous_commit_off none;
// without the sessions' override of the cluster's
// synchronous_commit, synchronous_commit_off failed in 3 of 4. With the
// feed's wait for the flush (postgres: durable) removed as well, power_cut
// also caught the public node ahead of the recovered database (2 of 2; the
// immediate stops did not: WAL written, not yet fsynced, survives them).
func TestPostgresImmediateStopKeepsAcknowledgedSales(t *testing.T) {
	skipShort(t, "kills a PostgreSQL cluster under load")
	for _, v := range []struct {
		name, conf string
		powerCut   bool
	}{
		{"default", "", false},
		{"synchronous_commit_off", "synchronous_commit = off\nwal_writer_delay = 10s\n", false},
		{"power_cut", "", true},
	} {
		t.Run(v.name, func(t *testing.T) {
			if v.powerCut {
				powerloss.Require(t)
			}
			dir := sharedTempDir(t, "pm-pgkill")
			pg := initCluster(t, dir, "fsync = on\nmax_connections = 200\n"+v.conf)
			var cut func() // after the stop: nothing, or the power cut
			if v.powerCut {
				fsys := pgOnPowerloss(t, dir, pg)
				cut = func() {
					// The disk may have written some of what was not
					// synced, and torn one write at a sector boundary.
					seed := uint64(time.Now().UnixNano())
					rng := rand.New(rand.NewPCG(seed, 22))
					o := powerloss.CutOptions{Rand: rng, KeepPrefix: rng.IntN(2) == 0, Tear: rng.IntN(2) == 0}
					rep, err := fsys.Cut(o)
					if err != nil {
						t.Fatal(err)
					}
					var wal powerloss.FileCut
					for _, f := range rep.Files {
						if strings.HasPrefix(f.Path, "primary/pg_wal/") {
							wal.Dropped += f.Dropped
							wal.Kept += f.Kept
							wal.Torn += f.Torn
							wal.DroppedBytes += f.DroppedBytes
						}
					}
					t.Logf("power cut (seed %d, keep a prefix %v, tear %v): %v (unsynced writes by directory: %s); of the WAL's %d unsynced writes it dropped %d (%d bytes), kept %d, tore %d",
						seed, o.KeepPrefix, o.Tear, rep, cutByDir(rep), wal.Dropped+wal.Kept+wal.Torn, wal.Dropped, wal.DroppedBytes, wal.Kept, wal.Torn)
					if rep.Dropped+rep.Kept+rep.Torn == 0 {
						t.Fatal("no write was unsynced at the power cut: it tested nothing beyond the immediate stop")
					}
				}
			}
			pg.start()
			pg.psql("postgres", "-c", "CREATE ROLE publicmask LOGIN")
			pg.psql("postgres", "-c", "CREATE DATABASE publicmask OWNER publicmask")
			if v.conf != "" {
				if got := strings.TrimSpace(pg.psql("publicmask", "-c", "SHOW synchronous_commit")); got != "off" {
					t.Fatalf("the cluster's synchronous_commit is %q: the variant tests nothing", got)
				}
			}
			crashUnderLoad(t, pg, pg.dsn("publicmask", "publicmask"), cut)
		})
	}
}

// pgOnPowerloss moves pg's data directory (initialised, not started) onto
// a powerloss file system, which forgets on Cut every write that no fsync
// covered: a power cut of the machine, not only of PostgreSQL. What initdb
// wrote counts as durable (it is in the backing directory before the
// mount). The caller has checked powerloss.Require. The server's log
// stays outside: a cut would take back its last lines.
func pgOnPowerloss(t *testing.T, dir string, pg *pgNode) *powerloss.FS {
	t.Helper()
	backing, mnt := filepath.Join(dir, "disk"), filepath.Join(dir, "mnt")
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Rename(pg.data, filepath.Join(backing, "primary")); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL runs as postgres when the test is root (asPostgres), and
	// as the test's own user otherwise: only root needs allow_other.
	fsys, err := powerloss.MountShared(backing, mnt, os.Geteuid() == 0)
	if err != nil {
		t.Fatalf("powerloss: mount: %v", err)
	}
	// Registered before the cluster starts: runs after it is stopped.
	t.Cleanup(func() {
		if err := fsys.Unmount(); err != nil {
			t.Errorf("powerloss: unmount: %v", err)
		}
	})
	pg.data = filepath.Join(mnt, "primary")
	return fsys
}

// pgKillWorkers is the number of clients per ledger node.
const pgKillWorkers = 6

// pgKillOutcome is what a client learnt of one sale.
type pgKillOutcome struct {
	a       acked
	node    int       // the ledger node it was sent to
	sent    time.Time // when the request went out
	took    time.Duration
	code    int    // 0: no answer
	errCode string // the error body's code
}

// crashUnderLoad runs the load on two ledger nodes of dsn, stops pg as
// `pg_ctl stop -m immediate` does, then calls cut (if not nil), starts pg
// again and checks everything.
func crashUnderLoad(t *testing.T, pg *pgNode, dsn string, cut func()) {
	common := []string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir()), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	nodes := []*server{
		start(t, append([]string{"--role", "ledger"}, common...)...),
		start(t, append([]string{"--role", "ledger"}, common...)...),
	}
	const stock = 100000
	codes, tokens := setupOutlets(t, nodes[0], 4, stock)
	pub := start(t, append([]string{"--role", "public"}, common...)...)
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for i, s := range nodes {
			t.Logf("ledger node %d's log (end):\n%s", i, lastLines(s.Logs(), 40))
		}
		t.Logf("public node's log (end):\n%s", lastLines(pub.Logs(), 20))
		data, err := os.ReadFile(pg.log)
		if err != nil {
			t.Logf("PostgreSQL's log: %v", err)
			return
		}
		t.Logf("PostgreSQL's log (end):\n%s", lastLines(string(data), 60))
	})

	// Client w of node 0 and client w of node 1 sell to the same buyers in
	// the same order (born 1983: two masks a week, one purchase), so most
	// buyers are tried twice at once through the two nodes and one try is
	// refused: the quota is decided across nodes and across the crash.
	var mu sync.Mutex
	var outcomes []pgKillOutcome
	// The clients' requests sent and not yet answered: the stop waits for
	// some, so that it lands while sales are in flight even when the
	// machine has stalled the clients (CI, 2026-12-05: all twelve sat
	// between requests when the stop began).
	var inFlight atomic.Int32
	// The returned stop may be called again; a test that ends early (a
	// failure while the load runs) stops it in its clean-up.
	load := func(phase int) (stop func()) {
		done := make(chan struct{})
		var wg sync.WaitGroup
		for n, s := range nodes {
			for w := range pgKillWorkers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; ; i++ {
						select {
						case <-done:
							return
						default:
						}
						c := codes[(w+i)%len(codes)]
						// Serials are five digits: 10,000 per client, half per phase.
						a := acked{outlet: c, token: tokens[c], txn: fmt.Sprintf("k%d-%d-%d-%d", phase, n, w, i), buyer: born83(w*10000 + phase*5000 + i%5000), qty: 1 + i%2}
						inFlight.Add(1)
						o := pgKillOutcome{a: a, node: n, sent: time.Now()}
						o.code, o.a.saleID, o.errCode = saleAnswer(s, a)
						o.took = time.Since(o.sent)
						inFlight.Add(-1)
						mu.Lock()
						outcomes = append(outcomes, o)
						mu.Unlock()
						if o.code != 201 && o.code != 422 {
							time.Sleep(100 * time.Millisecond) // the store is away: do not spin
						}
					}
				}()
			}
		}
		var once sync.Once
		stop = func() { once.Do(func() { close(done); wg.Wait() }) }
		t.Cleanup(stop)
		return stop
	}
	snapshot := func() []pgKillOutcome {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(outcomes)
	}
	countAcks := func(all []pgKillOutcome) (n int) {
		for _, o := range all {
			if o.code == 201 {
				n++
			}
		}
		return n
	}
	pubVersion := func() int64 {
		var out struct {
			Version int64 `json:"version"`
		}
		pub.mustCall("GET", "/api/v2/outlets/near?lat=37.62&lng=127.0164&m=1000", "", nil, &out, 200)
		return out.Version
	}
	dbVersion := func() int64 {
		v, err := strconv.ParseInt(strings.TrimSpace(pg.psql("publicmask", "-c", "SELECT v FROM outlet_version WHERE id = 1")), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}

	stopLoad := load(0)
	time.Sleep(2 * time.Second)
	before := countAcks(snapshot())
	// What `pg_ctl stop -m immediate -w` does, without the time pg_ctl
	// takes to start: SIGQUIT to the postmaster, then wait until it is
	// gone. The moment the server died lies between stopping and stopped.
	pid := pgPostmasterPID(t, pg)
	// Half the clients mid-request; polled without sleeping so that the
	// stop follows at once (a sale takes milliseconds).
	for deadline := time.Now().Add(10 * time.Second); inFlight.Load() < pgKillWorkers; runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatalf("the clients never had %d sales in flight at once", pgKillWorkers)
		}
	}
	stopping := time.Now()
	if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
		t.Fatalf("SIGQUIT to the postmaster %d: %v", pid, err)
	}
	waitUntil(t, 30*time.Second, "the postmaster gone", func() bool {
		_, err := os.Stat(filepath.Join(pg.data, "postmaster.pid"))
		return errors.Is(err, fs.ErrNotExist) || syscall.Kill(pid, 0) == syscall.ESRCH
	})
	stopped := time.Now()
	var cutTook time.Duration
	if cut != nil {
		cut()
		cutTook = time.Since(stopped)
	}
	time.Sleep(300 * time.Millisecond)
	stopLoad()
	// Both nodes answer, and say that they cannot take durable writes.
	for i, s := range nodes {
		if code, err := s.get("/readyz"); err != nil || code != 503 {
			t.Errorf("node %d /readyz with PostgreSQL down: %d %v, want 503", i, code, err)
		}
	}
	// The public node keeps serving what it had. The change feed gave it
	// only flushed changes: the database, recovered, has every version it
	// saw (read before any node writes again: the clients have stopped).
	seen := pubVersion()
	pg.start()
	up := time.Now()
	recovered := dbVersion()
	if recovered < seen {
		t.Errorf("the public node saw version %d; the recovered database stops at %d: the feed handed out changes a crash took back", seen, recovered)
	}
	for i, s := range nodes {
		waitUntil(t, 30*time.Second, fmt.Sprintf("node %d ready again", i), func() bool {
			code, err := s.get("/readyz")
			return err == nil && code == 200
		})
	}
	readyAgain := time.Now()
	ready := readyAgain.Sub(up)
	// Sales succeed again through both nodes, and the public node follows.
	stopLoad = load(1)
	waitUntil(t, 30*time.Second, "sales after the restart on both nodes", func() bool {
		var ok [2]bool
		for _, o := range snapshot() {
			if o.code == 201 && o.sent.After(up) {
				ok[o.node] = true
			}
		}
		return ok[0] && ok[1]
	})
	time.Sleep(300 * time.Millisecond)
	stopLoad()
	final := dbVersion()
	waitUntil(t, 10*time.Second, fmt.Sprintf("the public node at version %d (it saw %d before the crash)", final, seen), func() bool { return pubVersion() >= final })
	all := snapshot()

	// Classify: acknowledged, refused (nothing recorded), or unknown (no
	// answer, or the store's error: the sale may or may not exist). An
	// unknown answer is expected only in the crash window: for a request
	// answered after the stop began (so sent at most a client timeout
	// before it) and sent before both nodes were ready again. Any other
	// fails the test.
	var acks, unknown []pgKillOutcome
	inWindow := func(o pgKillOutcome) bool {
		return !o.sent.Add(o.took).Before(stopping) && o.sent.Before(readyAgain)
	}
	for _, o := range all {
		switch {
		case o.code == 201:
			acks = append(acks, o)
		case o.code == 422 && o.errCode == "quota_exceeded":
		case (o.code == 0 || o.code == 503 || o.code == 500 || o.code == 504) && inWindow(o):
			unknown = append(unknown, o)
		default:
			t.Errorf("txn %s on node %d, sent %v after the stop began, answered after %v: %d %s (an unknown answer is expected only in the crash window)",
				o.a.txn, o.node, o.sent.Sub(stopping).Round(time.Millisecond), o.took.Round(time.Millisecond), o.code, o.errCode)
		}
	}
	// The requests in flight when the stop began: sent before it,
	// answered after. One of them answered with an error was in flight
	// when PostgreSQL died; often none is (a sale takes about a
	// millisecond, PostgreSQL some to die), and those sent during the stop
	// may have reached the node only once PostgreSQL was dead.
	atStop, straddling, inflight := map[string]int{}, 0, 0
	for _, o := range all {
		if o.sent.Before(stopping) && !o.sent.Add(o.took).Before(stopping) {
			atStop[strings.TrimSpace(fmt.Sprintf("%d %s", o.code, o.errCode))]++
			straddling++
			if o.code != 201 && o.code != 422 {
				inflight++
			}
		}
	}
	t.Logf("answers to the requests in flight when the stop began: %v (%d errors: in flight when PostgreSQL died)", atStop, inflight)
	t.Logf("%d sales acknowledged before the immediate stop, %d in all; %d answered with an error in the crash window; the stop took %v, the power cut %v; nodes ready %v after the restart",
		before, len(acks), len(unknown), stopped.Sub(stopping).Round(time.Millisecond), cutTook.Round(time.Millisecond), ready.Round(time.Millisecond))
	t.Logf("the public node had version %d at the crash; the database %d after recovery, %d at the end", seen, recovered, final)
	if before < 50 {
		t.Fatalf("only %d sales acknowledged before the stop; the test proves little", before)
	}
	if straddling == 0 {
		t.Fatal("no sale was in flight when the stop began: the load was not selling")
	}
	if len(unknown) == 0 {
		t.Fatal("no sale got an error in the crash window: the retries below test nothing")
	}
	if t.Failed() {
		t.FailNow()
	}

	// Every acknowledged sale is there: each replays on one node, the
	// two alternating by index.
	var halves [2][]acked
	for i, o := range acks {
		halves[i%2] = append(halves[i%2], o.a)
	}
	replayAll(t, nodes[0], halves[0])
	replayAll(t, nodes[1], halves[1])

	// A sale that got an error is retried with its txn_id, on the other
	// node and then on its own: one answer (a sale, both times the same, or
	// the same refusal).
	sales := []acked{}
	for _, o := range acks {
		sales = append(sales, o.a)
	}
	// Eight at a time: the two tries of a buyer may race, as they did.
	existed, recorded := 0, 0
	retried := map[string]int{} // txn → the status of its first retry
	jobs := make(chan pgKillOutcome)
	var rg sync.WaitGroup
	for range 8 {
		rg.Add(1)
		go func() {
			defer rg.Done()
			for o := range jobs {
				c1, id1, e1 := saleAnswer(nodes[1-o.node], o.a)
				c2, id2, e2 := saleAnswer(nodes[o.node], o.a)
				mu.Lock()
				retried[o.a.txn] = c1
				switch {
				case (c1 == 200 || c1 == 201) && c2 == 200 && id2 == id1:
					if c1 == 200 {
						existed++
					} else {
						recorded++
					}
					a := o.a
					a.saleID = id1
					sales = append(sales, a)
				case c1 == 422 && e1 == "quota_exceeded" && c2 == 422 && e2 == "quota_exceeded":
				default:
					t.Errorf("txn %s (an error at first) retried: %d %s %s, then %d %s %s", o.a.txn, c1, id1, e1, c2, id2, e2)
				}
				mu.Unlock()
			}
		}()
	}
	for _, o := range unknown {
		jobs <- o
	}
	close(jobs)
	rg.Wait()
	t.Logf("of the %d sales answered with an error, %d existed after the crash, %d were made by the retry", len(unknown), existed, recorded)

	// A refusal is answered only once the sale it saw is flushed (the
	// batch's flush covers what it read), so that sale survived: the other
	// try of the buyer (the only one) was acknowledged, or got an error
	// and existed when retried; never made by its retry, which would mean
	// the buyer was refused for a sale the crash took back. (The window is
	// narrow: a batch of refusals only, answered without a flush, was not
	// caught in 3 scratch runs of power_cut.)
	byTxn := make(map[string]pgKillOutcome, len(all))
	for _, o := range all {
		byTxn[o.a.txn] = o
	}
	refused := 0
	for _, o := range all {
		if o.code != 422 {
			continue
		}
		refused++
		p, ok := byTxn[pgKillPartner(o.a.txn)]
		switch {
		case !ok:
			t.Errorf("txn %s refused (%s), but the buyer's other try was never sent", o.a.txn, o.errCode)
		case p.code == 201:
		case p.code == 422:
			t.Errorf("txn %s and %s both refused: the buyer bought nothing", o.a.txn, p.a.txn)
		case retried[p.a.txn] != 200:
			t.Errorf("txn %s refused (%s, after %v) for its buyer's other try %s, which got %d and then, retried after the crash, %d: the refusal saw a sale the crash took back",
				o.a.txn, o.errCode, o.sent.Add(o.took).Sub(stopping).Round(time.Millisecond), p.a.txn, p.code, retried[p.a.txn])
		}
	}

	t.Logf("%d refusals (quota_exceeded), each for a sale that exists", refused)

	// Quota: no buyer has more than two masks, whatever the nodes and the
	// crash did.
	bought := map[string]int{}
	sold := map[string]int{}
	for _, a := range sales {
		bought[a.buyer] += a.qty
		sold[a.outlet] += a.qty
		if bought[a.buyer] > 2 {
			t.Errorf("buyer of txn %s has %d masks this week", a.txn, bought[a.buyer])
		}
	}
	// Stock: every sale that exists is now known (acknowledged, or found
	// by its retry), and nothing else was subtracted.
	for _, s := range nodes {
		for _, c := range codes {
			var o struct {
				Stock int `json:"stock"`
			}
			s.mustCall("GET", "/api/v2/outlet", tokens[c], nil, &o, 200)
			if o.Stock != stock-sold[c] {
				t.Errorf("outlet %s stock %d, want %d (delivery less the %d masks of its known sales)", c, o.Stock, stock-sold[c], sold[c])
			}
		}
	}
	for i, s := range nodes {
		s.mustVerify(t, fmt.Sprintf("on node %d after PostgreSQL's crash", i))
	}
}

// pgPostmasterPID is the postmaster's PID (the first line of its
// postmaster.pid).
func pgPostmasterPID(t *testing.T, pg *pgNode) int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(pg.data, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(data), "\n", 2)[0]))
	if err != nil {
		t.Fatalf("postmaster.pid: %v", err)
	}
	return pid
}

// pgKillPartner is the txn_id of the other try of the same buyer: the
// same client of the other node (k<phase>-<node>-<client>-<i>).
func pgKillPartner(txn string) string {
	f := strings.Split(txn, "-")
	f[1] = map[string]string{"0": "1", "1": "0"}[f[1]]
	return strings.Join(f, "-")
}

// saleAnswer sends a's sale through s and returns the status (0 without an
// answer), the sale ID (201, 200) and the error code.
func saleAnswer(s *server, a acked) (code int, saleID, errCode string) {
	code, _, data, err := s.send("POST", "/api/v2/outlet/sales", a.token, a.body())
	if err != nil {
		return 0, "", ""
	}
	var r struct {
		saleReceipt
		errBody
	}
	if json.Unmarshal(data, &r) == nil {
		saleID, errCode = r.SaleID, r.Error.Code
	}
	return code, saleID, errCode
}

// cutByDir counts the unsynced writes at a cut by directory (two levels
// under the mount; "unlinked" for files no longer there).
func cutByDir(rep powerloss.CutReport) string {
	n := map[string]int{}
	for _, f := range rep.Files {
		d := "unlinked"
		if f.Path != "" {
			d = filepath.Dir(f.Path)
			if p := strings.SplitN(d, "/", 3); len(p) == 3 {
				d = p[0] + "/" + p[1]
			}
		}
		n[d] += f.Dropped + f.Kept + f.Torn
	}
	var out []string
	for _, d := range slices.Sorted(maps.Keys(n)) {
		out = append(out, fmt.Sprintf("%s %d", d, n[d]))
	}
	return strings.Join(out, ", ")
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
