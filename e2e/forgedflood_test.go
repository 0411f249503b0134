package e2e

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestForgedFloodSparesUnseenToken: DESIGN.md §6.5 — the failed-
// authentication limit counts only look-ups of tokens missing from the
// cache, and post offices share one egress address, so a neighbour's flood
// of made-up tokens must not refuse a valid token. After a restart no token
// is cached; the node must still know its valid tokens (it loads them at
// start) and answer each of them 200 while 16 clients from the same
// address flood it with forged ones. On main (e1e8b3d) the limit spared
// only tokens seen valid since the start, and some of them got 429
// (audit40a measured 1 of 10; this test 30 of 30).
func TestForgedFloodSparesUnseenToken(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "pm.db")
	args := []string{"--db", db, "--clock", "2020-03-11T09:00:00+09:00"}
	s := start(t, args...)
	codes, tokens := setupOutlets(t, s, 30, 100)
	s.stop()
	s = start(t, args...)
	floodWhileValid(t, s, codes, tokens)
}

// TestPostgresForgedFloodSparesOtherNodesToken: the same on PostgreSQL, for
// tokens issued on another ledger node after this one started: the node
// learns of them from the token count (checked every 2 s), before their
// counters' first request here.
func TestPostgresForgedFloodSparesOtherNodesToken(t *testing.T) {
	skipShort(t, "runs two real processes")
	dsn := pgDSN(t)
	common := []string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir()), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	l1 := start(t, append([]string{"--role", "ledger"}, common...)...)
	l2 := start(t, append([]string{"--role", "ledger"}, common...)...)
	codes, tokens := setupOutlets(t, l1, 20, 100)
	time.Sleep(3 * time.Second) // one count check of l2 and its listing
	floodWhileValid(t, l2, codes, tokens)
}

// TestPostgresForgedFloodSparesJustIssuedToken: a token issued on another
// ledger node is used here at once (within ~100 ms: before this node's next
// count check, 2 s) while 16 clients from the same address flood it with
// forged tokens: each must be 200. The node catches up with the tokens
// issued since its last listing before the guard refuses one. On main
// (b2477f5) 10 of 10 got 429.
func TestPostgresForgedFloodSparesJustIssuedToken(t *testing.T) {
	skipShort(t, "runs two real processes")
	dsn := pgDSN(t)
	common := []string{"--db", dsn, "--secret-file", secretFile(t, t.TempDir()), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	l1 := start(t, append([]string{"--role", "ledger"}, common...)...)
	l2 := start(t, append([]string{"--role", "ledger"}, common...)...)
	codes, _ := setupOutlets(t, l1, 10, 100)
	time.Sleep(3 * time.Second) // l2 has listed the tokens so far
	f := startFlood(t, l2)
	defer f.end(t)
	refused := 0
	var slowest time.Duration
	for _, c := range codes {
		tok := l1.outletToken(adminToken, c)
		issued := time.Now()
		code, err := l2.call("GET", "/api/v2/outlet", tok, nil, nil)
		if d := time.Since(issued); d > slowest {
			slowest = d
		}
		if err != nil || code != 200 {
			refused++
			t.Errorf("token of %s issued on the other node, used at once during the flood: %d %v", c, code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d of %d just-issued tokens refused; slowest answer %v", refused, len(codes), slowest.Round(time.Millisecond))
}

// flood is 16 clients sending made-up tokens to a server until ended.
type flood struct {
	stop            atomic.Bool
	forged, limited atomic.Int64
	wg              sync.WaitGroup
}

// startFlood floods s until it limits the flood (429): the address's
// budget of failed look-ups is then used up.
func startFlood(t *testing.T, s *server) *flood {
	t.Helper()
	f := &flood{}
	for g := range 16 {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			for i := 0; !f.stop.Load(); i++ {
				code, err := s.call("GET", "/api/v2/outlet", fmt.Sprintf("pm_o_forged%02d%08d", g, i), nil, nil)
				if err == nil {
					f.forged.Add(1)
					if code == 429 {
						f.limited.Add(1)
					}
				}
			}
		}()
	}
	waitUntil(t, 20*time.Second, "the flood to be limited", func() bool { return f.limited.Load() > 0 })
	return f
}

func (f *flood) end(t *testing.T) {
	f.stop.Store(true)
	f.wg.Wait()
	t.Logf("%d forged requests (%d × 429)", f.forged.Load(), f.limited.Load())
}

// floodWhileValid floods s from 16 clients with made-up tokens until they
// are limited (429), then asks it with each outlet's token, 50 ms
// apart, while the flood goes on: each must be 200.
func floodWhileValid(t *testing.T, s *server, codes []string, tokens map[string]string) {
	t.Helper()
	f := startFlood(t, s)
	defer f.end(t)
	refused := 0
	for _, c := range codes {
		code, err := s.call("GET", "/api/v2/outlet", tokens[c], nil, nil)
		if err != nil || code != 200 {
			refused++
			t.Errorf("valid token of %s during the flood: %d %v", c, code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("%d of %d valid tokens refused", refused, len(codes))
}
