package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestCounterSlowNetwork: a network that answers every request in 4 s
// (longer than the sale's 2.5 s fail-fast). The sale goes to the outbox
// (the masks are handed over), and the outbox must still reach the server:
// the first attempt was recorded, the retry gets its first receipt, and the
// sale is on the server exactly once.
func TestCounterSlowNetwork(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounter(t, 1280, 900)
	c.signIn()
	c.Wait(`(JSON.parse(sessionStorage.getItem('publicmask.outlet.view') || '{}').rules || null) !== null`, 10*time.Second)
	c.latency(4000)
	c.Clear("buyer")
	c.Run(browsertest.Keys(born83(61)), browsertest.Enter())
	c.waitResult("queued", "이 기기에 저장함 2개", 5*time.Second)
	c.focused()
	took := c.Wait(`document.querySelectorAll('#outbox li').length === 0 && document.getElementById('sync-summary').textContent.indexOf('전송 1건') >= 0`, 40*time.Second)
	t.Logf("outbox sent %v after the sale was queued", took.Round(100*time.Millisecond))
	rows := c.sales()
	if len(rows) != 1 || rows[0].Quantity != 2 || rows[0].Cancelled {
		t.Fatalf("the server has %+v; want the one sale of 2", rows)
	}
	if s := c.result(); !strings.Contains(s, "이 기기에 저장함") && !strings.Contains(s, "판매 완료") {
		t.Fatalf("result %q", s)
	}
}
