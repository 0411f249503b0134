package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestCounterOfflineProxyDay: from 27 April 2020 a proxy may buy on either
// person's weekday (POLICY-2020.md), and the server sells so. The counter's
// offline verdict, while the server is away, must not refuse what the
// server would accept: a 1983 parent on Wednesday 29 April buying for a
// child born 2012 (a Tuesday person) is kept in the outbox, not refused
// "not your day".
func TestCounterOfflineProxyDay(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c := korea2020Counter(t, "2020-04-29T10:00:00+09:00")
	parent, child := id("830315", '1', 1), id("120301", '3', 2)

	// Online, the server sells it (either person's day).
	var chk struct {
		Eligible bool `json:"eligible"`
	}
	c.s.mustCall("POST", "/api/v2/outlet/check", c.tok, map[string]any{"buyer": parent, "quantity": 1,
		"on_behalf_of": []map[string]any{{"id": child, "category": "child", "quantity": 1}}}, &chk, 200)
	if !chk.Eligible {
		t.Fatal("the server refuses the parent's purchase for the child on the parent's day")
	}

	c.signInOn("2020-04-29")
	c.s.stop()

	c.Clear("buyer")
	c.Run(browsertest.Keys(parent))
	c.Clear("qty")
	c.Run(chromedp.SendKeys(chromedp.CSS(`#qty`), "1"))
	c.Run(chromedp.Click(chromedp.CSS(`#add-proxy`)))
	c.Wait(`document.activeElement && document.activeElement.classList.contains('p-id')`, 2*time.Second)
	c.Run(browsertest.Keys(child))
	c.Eval(`(function () { var s = document.querySelector('.p-cat'); s.value = 'child'; s.dispatchEvent(new Event('change')); return s.value; })()`, nil)
	c.Run(chromedp.Focus(chromedp.CSS(`#buyer`)), browsertest.Enter())
	c.Wait(`/이 기기에 저장함|판매 불가|판매할 수 없|오늘은 구매 요일이 아닙니다/.test(document.getElementById('result').textContent)`, 10*time.Second)
	if r := c.result(); !strings.Contains(r, "이 기기에 저장함") {
		t.Fatalf("offline, the counter refused what the server sells: %q", r)
	}
}

// TestCounterOfflineFreeDays: on 8–11 July 2020 no check is in force
// (DESIGN.md §6.11): the counter's offline verdict must not refuse a buyer
// it already sold to that day, as the server would not.
func TestCounterOfflineFreeDays(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c := korea2020Counter(t, "2020-07-08T10:00:00+09:00")
	buyer := id("830315", '1', 1)

	c.signInOn("2020-07-08")
	c.typeID(buyer)
	c.waitResult("ok", "판매 완료", 5*time.Second)
	// Online, the server sells to the same buyer again.
	var chk struct {
		Eligible bool `json:"eligible"`
	}
	c.s.mustCall("POST", "/api/v2/outlet/check", c.tok, map[string]any{"buyer": buyer, "quantity": 2}, &chk, 200)
	if !chk.Eligible {
		t.Fatal("the server refuses a second purchase on a free day")
	}
	c.s.stop()
	c.typeID(buyer)
	c.Wait(`/이 기기에 저장함|판매 불가/.test(document.getElementById('result').textContent)`, 10*time.Second)
	if r := c.result(); !strings.Contains(r, "이 기기에 저장함") {
		t.Fatalf("offline on a free day, the counter refused what the server sells: %q", r)
	}
}

// korea2020Counter starts a server under korea-2020 at clock with one
// stocked outlet, and a counter page for it (not signed in).
func korea2020Counter(t *testing.T, clock string) *counterPage {
	t.Helper()
	p := browsertest.NewPage(t, 1280, 900)
	dir := t.TempDir()
	s := startOn(t, freeAddr(t), "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--tiles", "none",
		"--policy", "korea-2020", "--clock", clock)
	codes, tokens := setupOutlets(t, s, 1, 150)
	return &counterPage{Page: p, t: t, s: s, tok: tokens[codes[0]], dir: dir}
}

// signInOn signs in and waits for the service worker and for the rules of
// day (YYYY-MM-DD), so that the page can judge offline.
func (c *counterPage) signInOn(day string) {
	c.signIn()
	c.Wait(`navigator.serviceWorker.controller !== null || navigator.serviceWorker.ready.then(function () { return true; })`, 10*time.Second)
	c.Wait(`(JSON.parse(sessionStorage.getItem('publicmask.outlet.view') || '{}').rules || {}).today === '`+day+`'`, 10*time.Second)
}
