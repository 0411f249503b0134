package e2e

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/testdata"
)

// skipShort skips t under -short, saying what it would have run.
func skipShort(t *testing.T, what string) {
	t.Helper()
	if testing.Short() {
		t.Skip(what + "; skipped with -short")
	}
}

// realRunDir is the opening of a test that runs real processes: skipped
// under -short, and given a fresh directory for its database and files.
func realRunDir(t *testing.T, what string) string {
	t.Helper()
	skipShort(t, what)
	return t.TempDir()
}

// gangbukStoreInfos are the 222 real Gangbuk pharmacies of the 2020 sample
// (storesByGeo of 2020-07-03) as `storeInfos` rows for PUT
// /api/v2/admin/outlets.
func gangbukStoreInfos(t *testing.T) []map[string]any {
	t.Helper()
	raw, err := os.ReadFile(testdata.Path(t, "nia-v1/storesByGeo-2020-07-03-gangbuk.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sample struct {
		Stores []map[string]any `json:"stores"`
	}
	if err := json.Unmarshal(raw, &sample); err != nil {
		t.Fatal(err)
	}
	var infos []map[string]any
	for _, s := range sample.Stores {
		infos = append(infos, map[string]any{"code": s["code"], "name": s["name"], "addr": s["addr"], "type": s["type"], "lat": s["lat"], "lng": s["lng"]})
	}
	return infos
}

// mustVerify fails t unless GET /api/v2/admin/verify finds the ledger
// consistent; when says at which point of the test.
func (s *server) mustVerify(t *testing.T, when string) {
	t.Helper()
	s.mustVerifyAs(t, adminToken, when)
}

// mustVerifyAs is mustVerify with another admin token.
func (s *server) mustVerifyAs(t *testing.T, admin, when string) {
	t.Helper()
	var rep struct {
		OK         bool  `json:"ok"`
		Violations []any `json:"violations"`
	}
	code, _, data, err := s.sendWithin(auditTimeout, "GET", "/api/v2/admin/verify", admin, nil)
	if err != nil || code != 200 {
		t.Fatalf("verify %s: GET /api/v2/admin/verify = %d, %v: %s", when, code, err, data)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatalf("verify %s: %v: %s", when, err, data)
	}
	if !rep.OK {
		t.Fatalf("verify %s: %+v", when, rep.Violations)
	}
}

// metrics is the text of a node's /metrics.
func (s *server) metrics(t *testing.T) string {
	t.Helper()
	resp, err := client.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// outletToken issues, with the admin token admin, an outlet token for the
// outlet code.
func (s *server) outletToken(admin, code string) string {
	s.t.Helper()
	var tok struct {
		Token string `json:"token"`
	}
	s.mustCall("POST", "/api/v2/admin/tokens", admin, map[string]string{"role": "outlet", "outlet": code}, &tok, 201)
	return tok.Token
}

// oneEach has each of n buyers try four sales at once (attempt gives the
// node, the outlet token and the body of buyer i's try) and checks that
// exactly one per buyer is recorded and the three others are refused with
// quota_exceeded.
func oneEach(t *testing.T, n int, attempt func(i, try int) (*server, string, map[string]any)) {
	t.Helper()
	var ok, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range n {
		for try := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, token, body := attempt(i, try)
				var e errBody
				code, err := s.call("POST", "/api/v2/outlet/sales", token, body, &e)
				switch {
				case err != nil:
					t.Errorf("sale: %v", err)
				case code == 201:
					ok.Add(1)
				case code == 422 && e.Error.Code == "quota_exceeded":
					refused.Add(1)
				default:
					t.Errorf("unexpected %d %s %s", code, e.Error.Code, e.Error.Message)
				}
			}()
		}
	}
	wg.Wait()
	if ok.Load() != int64(n) || refused.Load() != 3*int64(n) {
		t.Fatalf("ok=%d refused=%d; want exactly one purchase per buyer", ok.Load(), refused.Load())
	}
}

// importInfos imports outlets as `storeInfos` rows and checks that every
// row was upserted.
func (s *server) importInfos(t *testing.T, infos []map[string]any) {
	t.Helper()
	var imp struct {
		Upserted int `json:"upserted"`
	}
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, map[string]any{"storeInfos": infos}, &imp, 200)
	if imp.Upserted != len(infos) {
		t.Fatalf("imported %d of %d", imp.Upserted, len(infos))
	}
}

// launch starts cmd and, at the end of the test, kills it if it still runs.
// dieWithTests has the kernel kill cmd's process when the test binary dies:
// a test run that panics on its timeout runs no Cleanup, and the servers it
// left would hold their ports and inherited file descriptors (a CI lock
// among them) for ever.
func dieWithTests(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}

func launch(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	dieWithTests(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
}

// waitUntil polls cond until it holds or the timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// on is s for the subtest t: its helpers fail t, not the test that
// started the server.
func (s *server) on(t *testing.T) *server {
	c := *s
	c.t = t
	return &c
}

// storeLine is the store's line of /api/v2/status.
type storeLine struct {
	OK    bool   `json:"ok"`
	Cause string `json:"cause"`
	Error string `json:"error"`
}

// storeStatus reads the store's line of s's /api/v2/status.
func (s *server) storeStatus() storeLine {
	var st struct {
		Store storeLine `json:"store"`
	}
	s.mustCall("GET", "/api/v2/status", "", nil, &st, 200)
	return st.Store
}
