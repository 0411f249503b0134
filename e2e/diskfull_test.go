package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/powerloss"
)

// TestDiskFullMakesTheNodeUnready fills the disk under the SQLite store (the
// powerloss file system's quota): sales then fail with 503
// store_unavailable, /readyz answers 503 store_unavailable, /api/v2/status
// and the metrics say the disk is full. Once space is freed, a probe write
// succeeds, the node is ready again and sells; nothing acknowledged was lost.
func TestDiskFullMakesTheNodeUnready(t *testing.T) {
	skipShort(t, "runs a real process")
	fsys := powerloss.MountTest(t)
	s := start(t, "--db", filepath.Join(fsys.Dir(), "pm.db"), "--seed", "none", "--clock", "2020-03-11T10:00:00+09:00")
	codes, tokens := setupOutlets(t, s, 2, 5000)

	fsys.SetQuota(fsys.Usage() + 256<<10) // a little room left
	var acks []acked
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d sales acknowledged on a full disk and none refused", len(acks))
		}
		c := codes[i%len(codes)]
		a := acked{outlet: c, token: tokens[c], txn: fmt.Sprintf("full-%d", i), buyer: born83(i), qty: 1}
		var r struct {
			saleReceipt
			errBody
		}
		code, hdr, err := s.callHeader("POST", "/api/v2/outlet/sales", a.token, a.body(), &r)
		if err != nil {
			t.Fatal(err)
		}
		if code == 201 {
			a.saleID = r.SaleID
			acks = append(acks, a)
			continue
		}
		if code != 503 || r.Error.Code != "store_unavailable" || hdr.Get("Retry-After") == "" {
			t.Fatalf("sale on a full disk = %d %+v (Retry-After %q), want 503 store_unavailable", code, r.Error, hdr.Get("Retry-After"))
		}
		break
	}
	fsys.SetQuota(fsys.Usage()) // and then completely full
	t.Logf("%d sales acknowledged before the disk was full (%d writes refused)", len(acks), fsys.Refused())
	if len(acks) == 0 {
		t.Fatal("no sale acknowledged before the disk was full: nothing to lose, the test proves less")
	}

	var ready errBody
	if code, err := s.call("GET", "/readyz", "", nil, &ready); err != nil || code != 503 || ready.Error.Code != "store_unavailable" {
		t.Fatalf("/readyz on a full disk = %d %+v, %v; want 503 store_unavailable", code, ready.Error, err)
	}
	if st := s.storeStatus(); st.OK || st.Cause != "disk_full" {
		t.Fatalf("status on a full disk: %+v", st)
	}
	if n := metric(t, s, `publicmask_store_write_errors_total{cause="disk_full"}`); n < 1 {
		t.Fatalf("disk_full write errors = %v", n)
	}
	// Probe writes keep failing while the disk stays full.
	for metric(t, s, "publicmask_store_write_probes_total") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no probe writes; server output:\n%s", s.Logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, _ := s.call("GET", "/readyz", "", nil, nil); code != 503 {
		t.Fatalf("/readyz = %d after failed probes on a full disk", code)
	}
	if metric(t, s, "publicmask_store_writable") != 0 {
		t.Fatal("publicmask_store_writable is not 0 on a full disk")
	}

	fsys.SetQuota(0) // space freed
	for {
		code, err := s.call("GET", "/readyz", "", nil, nil)
		if err == nil && code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz = %d, %v long after space was freed", code, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if st := s.storeStatus(); !st.OK || metric(t, s, "publicmask_store_writable") != 1 {
		t.Fatalf("status after recovery: %+v", st)
	}
	a := acked{outlet: codes[0], token: tokens[codes[0]], txn: "after-full", buyer: born83(90000), qty: 2}
	s.mustCall("POST", "/api/v2/outlet/sales", a.token, a.body(), nil, 201)
	replayAll(t, s, acks)
	s.mustVerify(t, "after the full disk")
}

// metric reads one sample (name with its labels, as exposed) from /metrics.
func metric(t *testing.T, s *server, sample string) float64 {
	t.Helper()
	body := []byte(s.metrics(t))
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no %s in /metrics", sample)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
