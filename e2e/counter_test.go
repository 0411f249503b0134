package e2e

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestCounterPageAgainstRealServer: a pharmacist signs in at /outlet with a
// real outlet token, checks a buyer on the wrong day (the reason in
// Korean), checks and sells to the right one with the keyboard, sees the
// new stock and cancels. Then the server goes away: the next sale is kept
// in the page's outbox, and when the server is back on the same address it
// is sent and recorded exactly once.
func TestCounterPageAgainstRealServer(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a real server and Chromium; skipped with -short")
	}
	p := browsertest.NewPage(t, 1280, 900)
	dir := t.TempDir()
	addr := freeAddr(t)
	args := []string{"--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	s := startOn(t, addr, args...)
	codes, tokens := setupOutlets(t, s, 1, 150)
	tok := tokens[codes[0]]
	view := func(srv *server) (stock, sold int) {
		var v struct {
			Stock     int `json:"stock"`
			SoldToday int `json:"sold_today"`
		}
		srv.mustCall("GET", "/api/v2/outlet", tok, nil, &v, 200)
		return v.Stock, v.SoldToday
	}

	p.Run(chromedp.Navigate(s.base + "/outlet"))
	p.Wait(`!document.getElementById('signin').hidden`, 5*time.Second)
	p.Run(chromedp.SendKeys(chromedp.CSS(`#token`), tok), chromedp.KeyEvent(kb.Enter))
	p.Wait(`!document.getElementById('app').hidden && document.getElementById('stock').textContent === '150개'`, 5*time.Second)

	// Born 1984 on a Wednesday: refused, with the next date in Korean.
	p.Run(chromedp.SendKeys(chromedp.CSS(`#buyer`), id("840315", '1', 7)), chromedp.KeyEvent(kb.Enter))
	p.Wait(`document.getElementById('result').textContent.indexOf('오늘 구매 요일이 아닙니다') >= 0`, 5*time.Second)
	p.Clear("buyer")
	// Born 1983: check, then sell with a second Enter.
	p.Run(chromedp.SendKeys(chromedp.CSS(`#buyer`), born83(11)), chromedp.KeyEvent(kb.Enter))
	p.Wait(`document.getElementById('result').textContent.indexOf('판매 가능') >= 0`, 5*time.Second)
	p.Run(chromedp.KeyEvent(kb.Enter))
	p.Wait(`document.getElementById('stock').textContent === '148개'`, 5*time.Second)
	if stock, sold := view(s); stock != 148 || sold != 2 {
		t.Fatalf("after the counter sale the server has stock %d, sold today %d", stock, sold)
	}
	// Cancel it from the recent sales.
	p.Wait(`document.querySelectorAll('#recent tr button').length === 1`, 5*time.Second)
	p.Run(chromedp.Click(chromedp.CSS(`#recent tr button`)))
	p.Wait(`document.querySelector('#recent tr button').textContent === '정말 취소?'`, 2*time.Second)
	p.Run(chromedp.Click(chromedp.CSS(`#recent tr button`)))
	p.Wait(`document.getElementById('stock').textContent === '150개'`, 5*time.Second)

	// Offline: the server goes away, the sale waits in the outbox.
	s.stop()
	p.Clear("buyer")
	p.Run(chromedp.SendKeys(chromedp.CSS(`#buyer`), born83(12)),
		chromedp.KeyEvent(kb.Enter, chromedp.KeyModifiers(chromedp.ModifierCtrl)))
	p.Wait(`!document.getElementById('outbox-card').hidden && document.querySelectorAll('#outbox li').length === 1`, 10*time.Second)
	var stored string
	p.Eval(`new Promise(function (ok) {
		var r = indexedDB.open('publicmask');
		r.onsuccess = function () {
			var db = r.result, names = Array.from(db.objectStoreNames);
			if (!names.length) { ok(''); return; }
			var q = db.transaction(names[0]).objectStore(names[0]).getAll();
			q.onsuccess = function () { ok(JSON.stringify(q.result)); };
		};
		r.onerror = function () { ok('error'); };
	})`, &stored)
	if !strings.Contains(stored, born83(12)) {
		t.Fatalf("the queued sale is not in IndexedDB (%d bytes)", len(stored))
	}

	// Back on the same address: sent once, the outbox empties, the raw ID
	// leaves the browser's storage.
	s2 := startOn(t, addr, args...)
	p.Wait(`document.querySelectorAll('#outbox li').length === 0`, 30*time.Second)
	if stock, sold := view(s2); stock != 148 || sold != 2 {
		t.Fatalf("after the outbox was sent the server has stock %d, sold today %d; want 148 and 2 (exactly once)", stock, sold)
	}
	p.Eval(`new Promise(function (ok) {
		var r = indexedDB.open('publicmask');
		r.onsuccess = function () {
			var db = r.result, names = Array.from(db.objectStoreNames);
			if (!names.length) { ok(''); return; }
			var q = db.transaction(names[0]).objectStore(names[0]).getAll();
			q.onsuccess = function () { ok(JSON.stringify(q.result)); };
		};
	})`, &stored)
	if strings.Contains(stored, born83(12)) {
		t.Fatal("the raw ID stayed in IndexedDB after the sale was acknowledged")
	}
	var rep struct {
		OK bool `json:"ok"`
	}
	s2.mustCall("GET", "/api/v2/admin/verify", adminToken, nil, &rep, 200)
	if !rep.OK {
		t.Fatal("verify not ok")
	}
}
