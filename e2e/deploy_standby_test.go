package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

type standbyAck struct {
	code    string
	version int64
	at      time.Time
}

// TestHotStandby: a primary and a streaming standby (pg_basebackup -R), two
// ledger nodes on the primary under publicmask_ledger, two public nodes on
// the standby under the read-only publicmask_public and without the secret
// (deploy/postgres/roles.sql). Sales through the ledger nodes show on both
// public nodes' streams: every acknowledged change, versions strictly in
// order, none twice, p99 ≤ 250 ms from acknowledgement. With the standby
// stopped the public nodes keep serving their last snapshot, its growing
// age in X-Data-As-Of and /api/v2/status; when it returns they catch up.
func TestHotStandby(t *testing.T) {
	skipShort(t, "runs two PostgreSQL clusters and four nodes")
	dir := sharedTempDir(t, "pm-standby")
	primary := newPrimary(t, dir)
	primary.psql("postgres", "-c", "CREATE DATABASE publicmask")
	roles := sharedCopy(t, dir, repoFile("deploy/postgres/roles.sql"))
	if out := primary.psql("publicmask", "-f", roles); !strings.Contains(out, "not migrated yet") {
		t.Fatalf("roles.sql on a new database: %q", out)
	}
	ledgerDSN := primary.dsn("publicmask_ledger", "publicmask")
	if out, err := execBinary(t, "migrate", "--db", ledgerDSN); err != nil {
		t.Fatalf("migrate as publicmask_ledger: %v\n%s", err, out)
	}
	primary.psql("publicmask", "-f", roles) // the grants, now that the tables exist

	// The public role may read outlets and nothing personal, and not write.
	ctx := context.Background()
	pc, err := pgx.Connect(ctx, primary.dsn("publicmask_public", "publicmask"))
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := pc.QueryRow(ctx, "SELECT count(*) FROM outlets").Scan(&n); err != nil {
		t.Fatalf("public role cannot read outlets: %v", err)
	}
	for _, q := range []string{
		"SELECT count(*) FROM person_weeks", "SELECT count(*) FROM sale_items", "SELECT count(*) FROM tokens", "SELECT count(*) FROM meta",
		"UPDATE outlets SET stock = 0", "CREATE TABLE x (y int)",
	} {
		if _, err := pc.Exec(ctx, q); err == nil {
			t.Errorf("publicmask_public may run %q", q)
		}
	}
	pc.Close(ctx)

	standby := primary.standby(dir)
	publicDSN := standby.dsn("publicmask_public", "publicmask")
	common := []string{"--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	secret := secretFile(t, t.TempDir())
	l1 := start(t, append([]string{"--role", "ledger", "--db", ledgerDSN, "--secret-file", secret}, common...)...)
	l2 := start(t, append([]string{"--role", "ledger", "--db", ledgerDSN, "--secret-file", secret}, common...)...)
	pubs := []*server{
		start(t, append([]string{"--role", "public", "--db", publicDSN}, common...)...),
		start(t, append([]string{"--role", "public", "--db", publicDSN}, common...)...),
	}

	const outlets = 4
	codes, tokens := setupOutlets(t, l1, outlets, 100000)
	streamURL := "/api/v2/stream?lat=37.62&lng=127.0164&m=5000"
	var streams []*sseClient
	for _, p := range pubs {
		streams = append(streams, openStream(t, p.base+streamURL))
	}

	watch, err := pgx.Connect(ctx, primary.dsn("postgres", "publicmask"))
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close(ctx)
	sell := func(phase string, d time.Duration, perOutlet int) []standbyAck {
		var mu sync.Mutex
		var acks []standbyAck
		var wg sync.WaitGroup
		deadline := time.Now().Add(d)
		for w, c := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				conn, err := pgx.Connect(ctx, primary.dsn("postgres", "publicmask"))
				if err != nil {
					t.Error(err)
					return
				}
				defer conn.Close(ctx)
				for i := 0; (perOutlet == 0 && time.Now().Before(deadline)) || i < perOutlet; i++ {
					node := []*server{l1, l2}[i%2]
					body := map[string]any{"txn_id": fmt.Sprintf("%s-%d-%d", phase, w, i), "buyer": born83(10000*(w+1) + 5000*strings.Index("ab", phase) + i), "quantity": 1}
					code, err := node.call("POST", "/api/v2/outlet/sales", tokens[c], body, nil)
					at := time.Now()
					if err != nil || code != 201 {
						t.Errorf("sale %v: %d %v", body, code, err)
						return
					}
					// One client per outlet: the outlet's version now is this sale's.
					var v int64
					if err := conn.QueryRow(ctx, "SELECT version FROM publicmask.outlets WHERE code = $1", c).Scan(&v); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					acks = append(acks, standbyAck{c, v, at})
					mu.Unlock()
					time.Sleep(40 * time.Millisecond) // a counter's pace, not a flood
				}
			}()
		}
		wg.Wait()
		return acks
	}
	stall0, began := cpuStall(), time.Now()
	acks := sell("a", 6*time.Second, 0)
	if t.Failed() || len(acks) < 50 {
		t.Fatalf("%d sales acknowledged", len(acks))
	}
	var lat []float64
	for i, s := range streams {
		evs := waitSeen(t, s, acks, 10*time.Second)
		checkOrder(t, fmt.Sprintf("public node %d", i+1), evs)
		for _, a := range acks {
			for _, e := range evs {
				if e.code == a.code && e.id >= a.version {
					lat = append(lat, max(e.at.Sub(a.at).Seconds()*1000, 0))
					break
				}
			}
		}
	}
	slices.Sort(lat)
	p50, p99 := lat[len(lat)/2], lat[int(math.Ceil(0.99*float64(len(lat))))-1]
	t.Logf("freshness through the standby (sale acknowledged → event on a public node's stream): %d sales, %d observations, p50 %.0f ms, p99 %.0f ms, max %.0f ms",
		len(acks), len(lat), p50, p99, lat[len(lat)-1])
	stalled := -1.0 // unknown without /proc/pressure/cpu
	if s0, s1 := stall0, cpuStall(); s0 >= 0 && s1 >= s0 {
		stalled = (s1 - s0) / time.Since(began).Seconds()
	}
	if bound, why := freshnessBound(stalled); p99 > bound {
		t.Errorf("freshness p99 %.0f ms through the standby, want ≤ %.0f ms%s", p99, bound, why)
	} else if why != "" {
		t.Logf("freshness bound %.0f ms%s", bound, why)
	}

	// The standby stops: the public nodes keep serving their last snapshot.
	standby.stop()
	during := sell("b", 0, 2)
	asOf := make([]string, len(pubs))
	for i, p := range pubs {
		code, h, err := p.callHeader("GET", "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=5000", "", nil, nil)
		if err != nil || code != 200 {
			t.Fatalf("public node %d without its standby: %d %v", i+1, code, err)
		}
		asOf[i] = h.Get("X-Data-As-Of")
	}
	for i, p := range pubs {
		age := waitStatusAge(t, p, func(ms float64) bool { return ms > 2500 }, 15*time.Second)
		code, h, err := p.callHeader("GET", "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=5000", "", nil, nil)
		if err != nil || code != 200 {
			t.Fatalf("public node %d without its standby: %d %v", i+1, code, err)
		}
		if h.Get("X-Data-As-Of") != asOf[i] {
			t.Errorf("public node %d: X-Data-As-Of moved from %s to %s while its standby was down", i+1, asOf[i], h.Get("X-Data-As-Of"))
		}
		p.mustCall("GET", "/readyz", "", nil, nil, 200)
		t.Logf("public node %d, standby down: snapshot age %.1f s, X-Data-As-Of %s", i+1, age/1000, asOf[i])
	}
	for _, s := range streams {
		for _, e := range s.snapshot() {
			for _, a := range during {
				if e.code == a.code && e.id >= a.version {
					t.Fatalf("a sale made while the standby was down showed on a public node of that standby")
				}
			}
		}
	}

	// The standby returns: the public nodes catch up on the same streams.
	standby.start()
	for i, s := range streams {
		checkOrder(t, fmt.Sprintf("public node %d after the outage", i+1), waitSeen(t, s, during, 30*time.Second))
		waitStatusAge(t, pubs[i], func(ms float64) bool { return ms < 2000 }, 15*time.Second)
	}
}

// sharedCopy copies a file into dir, where the postgres user can read it.
func sharedCopy(t *testing.T, dir, src string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	dst := dir + "/" + src[strings.LastIndexByte(src, '/')+1:]
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// waitSeen waits until the stream has shown every acknowledged change (an
// event of the outlet at or above the sale's version) and returns its events.
func waitSeen(t *testing.T, s *sseClient, acks []standbyAck, within time.Duration) []sseEvent {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		evs := s.snapshot()
		missing := 0
		for _, a := range acks {
			if !slices.ContainsFunc(evs, func(e sseEvent) bool { return e.code == a.code && e.id >= a.version }) {
				missing++
			}
		}
		if missing == 0 {
			return evs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d acknowledged sales never showed on the stream", missing, len(acks))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// checkOrder: event ids (versions) strictly increase: in order, none twice.
func checkOrder(t *testing.T, who string, evs []sseEvent) {
	t.Helper()
	for i := 1; i < len(evs); i++ {
		if evs[i].id <= evs[i-1].id {
			t.Errorf("%s: version %d after %d (outlet %s)", who, evs[i].id, evs[i-1].id, evs[i].code)
			return
		}
	}
}

// waitStatusAge polls /api/v2/status until the snapshot's age satisfies ok.
func waitStatusAge(t *testing.T, s *server, ok func(ms float64) bool, within time.Duration) float64 {
	t.Helper()
	deadline := time.Now().Add(within)
	var st struct {
		Snapshot struct {
			AgeMs float64 `json:"age_ms"`
		} `json:"snapshot"`
	}
	for {
		code, err := s.call("GET", "/api/v2/status", "", nil, &st)
		if err == nil && code == http.StatusOK && ok(st.Snapshot.AgeMs) {
			return st.Snapshot.AgeMs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: snapshot age %.0f ms (status %d, %v) did not reach the expected range", s.base, st.Snapshot.AgeMs, code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freshnessBound is the freshness p99 the standby test asserts: 250 ms, as
// measured on a machine that is not oversubscribed (110–150 ms). On one
// whose processes wait for a core for much of the measurement (parallel test
// packages, other builds) every process waits its turn several times per
// hop, and the test asserts DESIGN.md §5's cross-process bound of 1 s
// instead, saying so. stalled is the share of the measurement during which
// some task waited for a core (the kernel's CPU pressure, negative when
// unknown); the load average, which lags a minute behind, is the fallback
// and a second witness.
func freshnessBound(stalled float64) (float64, string) {
	if stalled >= 0.5 {
		return 1000, fmt.Sprintf(" (some task waited for a core %.0f%% of the measurement: §5's cross-process bound instead of 250 ms)", stalled*100)
	}
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 250, ""
	}
	var load float64
	fmt.Sscan(string(b), &load)
	if per := load / float64(runtime.NumCPU()); per > 2 {
		return 1000, fmt.Sprintf(" (load average %.1f on %d CPUs: §5's cross-process bound instead of 250 ms)", load, runtime.NumCPU())
	}
	return 250, ""
}

// cpuStall is the seconds during which some task on this machine waited
// for a core since boot (/proc/pressure/cpu's "some" total), or -1 where
// the kernel does not report pressure.
func cpuStall() float64 {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	_, total, ok := strings.Cut(line, "total=")
	if !strings.HasPrefix(line, "some ") || !ok {
		return -1
	}
	us, err := strconv.ParseUint(strings.TrimSpace(total), 10, 64)
	if err != nil {
		return -1
	}
	return float64(us) / 1e6
}

// The standby test's bound: 250 ms unless the machine was short of cores
// during the measurement; the pressure reading grows where the kernel has it.
func TestFreshnessBoundByCPUPressure(t *testing.T) {
	if b, why := freshnessBound(0.6); b != 1000 || why == "" {
		t.Errorf("stalled 60%% of the time: bound %v %q, want 1000 ms and a reason", b, why)
	}
	a := cpuStall()
	if a < 0 {
		if _, err := os.Stat("/proc/pressure/cpu"); err == nil {
			t.Fatal("/proc/pressure/cpu exists but was not read")
		}
		t.Skip("no CPU pressure on this kernel")
	}
	// Two busy threads more than the cores make some task wait.
	var stop atomic.Bool
	var wg sync.WaitGroup
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU() + 2))
	for range runtime.NumCPU() + 2 {
		wg.Go(func() {
			for x := 0; !stop.Load(); x++ {
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if b := cpuStall(); b <= a {
		t.Errorf("CPU pressure %v s then %v s across 0.2 s of more busy threads than cores", a, b)
	}
}
