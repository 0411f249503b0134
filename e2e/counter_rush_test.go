package e2e

import (
	"strings"
	"syscall"
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

// TestCounterTwoTabs: two tabs of one outlet in one browser (two windows at
// one counter). While the server is away, a buyer sold to in one tab is
// caught in the other before the masks are handed over again.
func TestCounterTwoTabs(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	a, _ := newCounter(t, 1280, 900)
	a.signIn()
	b := &counterPage{Page: a.NewTab(), t: t, s: a.s, tok: a.tok, dir: a.dir}
	b.signIn()
	for _, c := range []*counterPage{a, b} {
		c.Wait(`(JSON.parse(sessionStorage.getItem('publicmask.outlet.view') || '{}').rules || null) !== null`, 10*time.Second)
	}
	// Online, one sale in each tab.
	a.typeID(born83(71))
	a.waitResult("ok", "판매 완료 2개", 5*time.Second)
	b.typeID(born83(72))
	b.waitResult("ok", "판매 완료 2개", 5*time.Second)
	// The same buyer in the other tab: the server refuses.
	b.typeID(born83(71))
	b.waitResult("bad", "이번 주 구매 한도", 5*time.Second)

	a.s.cmd.Process.Signal(syscall.SIGSTOP)
	defer a.s.cmd.Process.Signal(syscall.SIGCONT)
	a.typeID(born83(73))
	a.waitResult("queued", "이 기기에 저장함 2개", 5*time.Second)
	// Tab b, offline too, is asked for the same buyer, and for the one
	// sold online in tab a.
	b.Eval(`document.getElementById('result').replaceChildren()`, nil)
	b.typeID(born83(73))
	b.Wait(`document.getElementById('result').textContent !== '' && !document.getElementById('result').classList.contains('wait')`, 5*time.Second)
	t.Logf("tab b, offline, the buyer of tab a's offline sale: %q", b.result())
	if !strings.Contains(b.result(), "이 기기에서 오늘 이미 판매했습니다") {
		t.Errorf("the second tab sold again to a buyer the first tab had just sold to offline: %q", b.result())
	}
	b.Eval(`document.getElementById('result').replaceChildren()`, nil)
	b.typeID(born83(71))
	b.Wait(`document.getElementById('result').textContent !== '' && !document.getElementById('result').classList.contains('wait')`, 5*time.Second)
	t.Logf("tab b, offline, the buyer of tab a's online sale: %q", b.result())
	if !strings.Contains(b.result(), "이 기기에서 오늘 이미 판매했습니다") {
		t.Errorf("the second tab sold offline to a buyer the first tab had sold to online: %q", b.result())
	}
}
