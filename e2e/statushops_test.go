package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestStatusShowsLedgerHops: the operations page of a node that records
// sales shows the hop sale → ledger commit (DESIGN.md §1.7: every hop's
// freshness, so that no one guesses whose server is slow). It showed the
// outlet API's latency as a whole and, on a ledger node, a freshness card
// of dashes: whether a slow sale waited for a writer or for the store's
// commit was on /metrics only (publicmask_ledger_wait_seconds{hop}).
func TestStatusShowsLedgerHops(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	p := browsertest.NewPage(t, 1280, 900) // skips without Chromium (fails under CI)
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	codes, tokens := setupOutlets(t, s, 2, 500)
	for i := range 20 {
		c := codes[i%len(codes)]
		s.mustCall("POST", "/api/v2/outlet/sales", tokens[c], map[string]any{"txn_id": fmt.Sprintf("h-%d", i), "buyer": born83(i), "quantity": 1}, nil, 201)
	}
	type hop struct {
		P50 *float64 `json:"p50_ms"`
		P99 *float64 `json:"p99_ms"`
	}
	var st struct {
		Ledger map[string]hop `json:"ledger"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.mustCall("GET", "/api/v2/status", "", nil, &st, 200)
		if c, ok := st.Ledger["commit"]; ok && c.P99 != nil && *c.P99 > 0 {
			if q, ok := st.Ledger["queue"]; !ok || q.P99 == nil {
				t.Fatalf("status ledger hops %+v: no queue", st.Ledger)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/api/v2/status after 20 sales: ledger hops %+v; want commit and queue p50/p99", st.Ledger)
		}
		time.Sleep(200 * time.Millisecond)
	}
	labels := map[string]string{"en": "ledger commit", "ko": "원장 커밋"}
	for _, lang := range []string{"en", "ko"} {
		p.Run(browsertest.Navigate(s.base + "/status?lang=" + lang))
		box := `document.querySelector('[data-metric=ledger_commit]')`
		p.Wait(box+` && /\d/.test(`+box+`.querySelector('.m-value').textContent)`, 10*time.Second)
		if got := p.Text(box); !strings.Contains(got, labels[lang]) {
			t.Errorf("/status?lang=%s: ledger commit box %q, want its label (%q)", lang, got, labels[lang])
		}
	}
}
