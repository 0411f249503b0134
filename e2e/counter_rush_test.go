package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

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
	c.rulesLoaded()
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
		c.rulesLoaded()
	}
	// Online, one sale in each tab.
	a.typeID(born83(71))
	a.waitResult("ok", "판매 완료 2개", 5*time.Second)
	b.typeID(born83(72))
	b.waitResult("ok", "판매 완료 2개", 5*time.Second)
	// The same buyer in the other tab: the server refuses.
	b.typeID(born83(71))
	b.waitResult("bad", "이번 주 구매 한도", 5*time.Second)

	a.hang()
	a.typeID(born83(73))
	a.waitResult("queued", "이 기기에 저장함 2개", 5*time.Second)
	// Tab b, offline too, is asked for the same buyer, and for the one
	// sold online in tab a.
	caught := func(buyer, what string) {
		t.Helper()
		b.Eval(`document.getElementById('result').replaceChildren()`, nil)
		b.typeID(buyer)
		b.Wait(`document.getElementById('result').textContent !== '' && !document.getElementById('result').classList.contains('wait')`, 5*time.Second)
		t.Logf("tab b, offline, %s: %q", what, b.result())
		if !strings.Contains(b.result(), "이 기기에서 오늘 이미 판매했습니다") {
			t.Errorf("the second tab, offline, sold again to %s: %q", what, b.result())
		}
	}
	caught(born83(73), "the buyer of tab a's offline sale")
	caught(born83(71), "the buyer of tab a's online sale")
}

// What the network does to the answer of a sale request the server has
// handled (interceptSales).
const (
	answerPass        = iota
	answerLose        // the answer is lost on the way back
	answerUnavailable // it arrives as 503 store_unavailable
	answerOverloaded  // 503 overloaded, before it reaches the server
)

// interceptSales lets the test change what happens to the next sale
// request as the returned value says (then back to answerPass): its answer
// after the server has handled it, or (answerOverloaded) the request
// before it reaches the server.
func (c *counterPage) interceptSales() *atomic.Int32 {
	c.t.Helper()
	var mode atomic.Int32
	go func() {
		for ev, err := range chromedp.Events(c.Ctx, fetch.RequestPaused) {
			if err != nil {
				return
			}
			m := int32(answerPass)
			switch {
			case ev.Request.Method != "POST":
			case ev.ResponseStatusCode == 0 && ev.ResponseErrorReason == "": // before the server
				if mode.CompareAndSwap(answerOverloaded, answerPass) {
					m = answerOverloaded
				}
			default:
				m = mode.Swap(answerPass)
			}
			switch m {
			case answerLose:
				chromedp.Call(c.Ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonConnectionReset})
			case answerUnavailable:
				chromedp.Call(c.Ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 503,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}, {Name: "Retry-After", Value: "1"}},
					Body:            []byte(`{"error":{"code":"store_unavailable","message":"the store did not answer in time; retry with the same txn_id"}}`)})
			case answerOverloaded:
				chromedp.Call(c.Ctx, fetch.FulfillRequest, fetch.FulfillRequestParams{RequestID: ev.RequestID, ResponseCode: 503,
					ResponseHeaders: []*fetch.HeaderEntry{{Name: "Content-Type", Value: "application/json"}, {Name: "Retry-After", Value: "1"}},
					Body:            []byte(`{"error":{"code":"overloaded","message":"the server is busy, retry shortly"}}`)})
			default:
				chromedp.Call(c.Ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
			}
		}
	}()
	if _, err := chromedp.Call(c.Ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
		{URLPattern: "*/api/v2/outlet/sales", RequestStage: fetch.RequestStageRequest},
		{URLPattern: "*/api/v2/outlet/sales", RequestStage: fetch.RequestStageResponse}}}); err != nil {
		c.t.Fatal(err)
	}
	return &mode
}

// liveSales waits until the server has want sales not cancelled at the
// outlet, and fails after 20 s.
func (c *counterPage) liveSales(want int, what string) {
	c.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		live := 0
		rows := c.sales()
		for _, r := range rows {
			if !r.Cancelled {
				live++
			}
		}
		if live == want {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: the server has %d live sales (%+v), want %d", what, live, rows, want)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestCounterAnswerLost: the sale reaches the server and its answer is
// lost. The page keeps it (the masks are handed over) and the outbox's
// retry gets the first receipt: one sale on the server. Undone at once
// (the buyer gives the masks back), it must not stay on the server.
func TestCounterAnswerLost(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounter(t, 1280, 900)
	c.signIn()
	c.rulesLoaded()
	answer := c.interceptSales()
	answer.Store(answerLose)
	c.typeID(born83(81))
	c.waitResult("queued", "이 기기에 저장함 2개", 5*time.Second)
	c.secondEnterKeeps("이 기기에 저장함")
	c.Wait(`document.querySelectorAll('#outbox li').length === 0 && document.getElementById('sync-summary').textContent.indexOf('전송 1건') >= 0`, 20*time.Second)
	if rows := c.sales(); len(rows) != 1 || rows[0].Cancelled || rows[0].Quantity != 2 {
		t.Fatalf("after a lost answer and the outbox's retry the server has %+v; want one sale of 2", rows)
	}

	// Sold and at once undone: none of the two may stay on the server.
	undoneAt := func(mode int32, buyer, what string) {
		t.Helper()
		answer.Store(mode)
		c.typeID(buyer)
		c.waitResult("queued", "이 기기에 저장함 2개", 5*time.Second)
		c.key(kb.Escape)
		c.waitResult("info", "판매를 취소했습니다", 3*time.Second)
		t.Logf("undo of a sale %s: %q", what, c.result())
		c.liveSales(1, "20 s after the undo of a sale "+what)
	}
	undoneAt(answerLose, born83(82), "whose answer was lost")

	// 503 store_unavailable: the server's deadline passed with the sale
	// queued for its commit, which may still happen (ledger/batch.go). The
	// page hands the masks over and keeps the sale; undone, it must not
	// stay on the server either.
	undoneAt(answerUnavailable, born83(83), "answered 503 store_unavailable")
	c.Wait(`document.querySelectorAll('#outbox li').length === 0 && document.getElementById('conn').textContent.indexOf('✔') === 0`, 20*time.Second)

	// 503 overloaded: refused before it was queued, so not recorded; the
	// outbox sends it later, once.
	answer.Store(answerOverloaded)
	c.typeID(born83(84))
	c.waitResult("queued", "이 기기에 저장함 2개", 5*time.Second)
	c.liveSales(2, "after a sale answered 503 overloaded and kept")
	if _, sold := c.view(); sold != 4 {
		t.Fatalf("sold today %d, want 4", sold)
	}
	c.noIDInLogs()
}

// TestCounterWeekBoundary: signed in on Sunday night, the server goes away
// before midnight. On Monday the weekday rule is back (only births ending
// in 1 or 6), and the counter, offline, must not hand masks to a buyer
// born in 1983 (Wednesday) because it knew only last week's rules.
func TestCounterWeekBoundary(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	p := browsertest.NewPage(t, 1280, 900)
	dir := t.TempDir()
	s := startOn(t, freeAddr(t), "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--tiles", "none",
		"--clock", "2020-03-15T23:59:40+09:00")
	codes, tokens := setupOutlets(t, s, 1, 150)
	c := &counterPage{Page: p, t: t, s: s, tok: tokens[codes[0]], dir: dir}
	c.signInOn("2020-03-15")
	// Sunday: anyone who has not bought this week.
	c.typeID(born83(91))
	c.waitResult("ok", "판매 완료 2개", 5*time.Second)
	c.hang()
	time.Sleep(22 * time.Second) // past midnight on the service clock
	c.typeID(born83(92))
	c.Wait(`/이 기기에 저장함|판매 불가/.test(document.getElementById('result').textContent)`, 6*time.Second)
	if r := c.result(); !strings.Contains(r, "오늘은 구매 요일이 아닙니다") {
		t.Errorf("offline after midnight into Monday, a buyer born in 1983 got %q; want a refusal (Monday is for births ending in 1 or 6)", r)
	}
	// One born in 1981 (Monday) is sold to.
	c.typeID(id("810315", '1', 93))
	c.waitResult("queued", "이 기기에 저장함 2개", 6*time.Second)
}

// TestCounterMorningEnglish: a morning's refusals in English, as a foreign
// resident's pharmacist reads them, and a token the operator revokes.
func TestCounterMorningEnglish(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounter(t, 1280, 900)
	elsewhere := born83(101)
	c.s.mustCall("POST", "/api/v2/outlet/sales", c.other, map[string]any{"txn_id": "elsewhere", "buyer": elsewhere, "quantity": 2}, nil, 201)
	c.openIn("en")
	c.rulesLoaded()

	foreign := id("830315", '5', 102)
	c.Clear("buyer")
	c.Run(browsertest.Keys(foreign))
	c.Wait(`document.getElementById('buyer-summary').textContent !== ''`, 2*time.Second)
	t.Logf("foreign summary: %q", c.Text(`document.getElementById('buyer-summary')`))
	c.Run(browsertest.Enter())
	c.waitResult("ok", "Sold 2 masks · born 1983", 5*time.Second)
	t.Logf("foreign sale: %q", c.result())

	c.typeID(id("840315", '1', 103))
	c.waitResult("bad", "Not sold", 5*time.Second)
	t.Logf("wrong day: %q", c.result())
	c.typeID(elsewhere)
	c.waitResult("bad", "Not sold", 5*time.Second)
	t.Logf("bought elsewhere: %q", c.result())
	good := born83(104)
	c.typeID(good[:12] + string('0'+(good[12]-'0'+1)%10))
	c.waitResult("typo", "", 5*time.Second)
	t.Logf("check digit: %q", c.result())

	c.s.mustCall("POST", "/api/v2/admin/tokens/revoke", adminToken, map[string]any{"token": c.tok}, nil, 200)
	c.typeID(born83(105))
	c.Wait(`!document.getElementById('signin').hidden`, 5*time.Second)
	t.Logf("revoked: signin msg %q, result %q", c.Text(`document.getElementById('signin-msg')`), c.result())
	c.noIDInLogs()
}

// noIDInLogs fails if the server's logs hold a registration number, plain
// or hyphenated.
func (c *counterPage) noIDInLogs() {
	c.t.Helper()
	logs := c.s.Logs()
	if m := regexp.MustCompile(`\d{13}|\d{6}-\d{7}`).FindString(logs); m != "" {
		c.t.Errorf("the server's logs hold %q", m)
	}
	if len(logs) < 100 {
		c.t.Errorf("the server logged %d bytes: not its logs?", len(logs))
	}
}

// TestCounterPhoneStates: on a 390 px phone, in both languages, the states
// the other tests leave out — two proxy rows being filled, the outbox with
// a refused sale, the confirmation dialog, a wrong token — fit the width
// and pass axe-core.
func TestCounterPhoneStates(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	axe := axeSource(t)
	c, _ := newCounter(t, 390, 844)
	c.Run(chromedp.EmulateViewport(390, 844)) // a window is at least 500 px wide
	for _, lang := range []string{"ko", "en"} {
		c.openIn(lang)
		fits := func(state string) {
			t.Helper()
			var over []string
			c.Eval(`(function () {
				var out = [], w = document.documentElement.clientWidth;
				if (document.documentElement.scrollWidth > w + 1) out.push('page ' + document.documentElement.scrollWidth + ' > ' + w);
				document.querySelectorAll('#app *, #signin *, dialog[open] *').forEach(function (e) {
					var r = e.getBoundingClientRect();
					if (r.width > 0 && (r.right > w + 1 || r.left < -1)) out.push((e.id || e.className || e.tagName) + ' ' + Math.round(r.left) + '..' + Math.round(r.right));
				});
				return out.slice(0, 8);
			})()`, &over)
			if len(over) > 0 {
				t.Errorf("%s at 390 px (%s): outside the screen: %v", state, lang, over)
			}
			c.axe(axe, lang+" 390 "+state)
		}
		c.key("p", chromedp.ModifierAlt)
		c.Wait(`document.activeElement && document.activeElement.classList.contains('p-id')`, 2*time.Second)
		c.Run(browsertest.Keys(id("130301", '3', 111)))
		c.key("p", chromedp.ModifierAlt)
		c.Wait(`document.querySelectorAll('.proxy-row').length === 2`, 2*time.Second)
		c.Run(browsertest.Keys(id("150301", '4', 112)))
		fits("two proxy rows")
		c.shot(os.Getenv("PUBLICMASK_SCREENSHOTS"), "counter-proxies-"+lang+"-390.png")
		c.Eval(`(async function () {
			const db = await new Promise((ok, no) => { const r = indexedDB.open('publicmask-counter', 2); r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); });
			await new Promise((ok) => { const t = db.transaction('outbox', 'readwrite'); t.objectStore('outbox').put({txn_id: 'refused-`+lang+`', outlet: document.getElementById('outlet-name').textContent.replace(/.*\((\d+)\)$/, '$1'), sold_at: '2020-03-11T01:00:00Z', quantity: 2, masked: '830315-1******', state: 'refused', code: 'late_sale_too_old'}); t.oncomplete = ok; });
			db.close(); return true;
		})()`, nil)
		c.Wait(`document.querySelectorAll('#outbox li.refused').length > 0`, 5*time.Second)
		fits("outbox with a refused sale")
		c.key("s", chromedp.ModifierAlt)
		c.Wait(`document.getElementById('confirm').open`, 2*time.Second)
		fits("confirm dialog")
		c.Run(browsertest.Keys(kb.Escape))
		c.Run(chromedp.Click(chromedp.CSS(`#signout`)))
		c.Wait(`!document.getElementById('signin').hidden`, 5*time.Second)
		c.Run(chromedp.SendKeys(chromedp.CSS(`#token`), "not-a-token"), browsertest.Enter())
		c.Wait(`/[^…]$/.test(document.getElementById('signin-msg').textContent)`, 5*time.Second)
		fits("wrong token")
		c.shot(os.Getenv("PUBLICMASK_SCREENSHOTS"), "counter-signin-bad-"+lang+"-390.png")
	}
}

// TestCounterClockJump: the PC's clock is put right (3 hours forward)
// while the server is away. The sales kept meanwhile must carry the
// service time, not the new wall clock: 3 hours ahead, the server refuses
// them as "in the future", and masks handed over are never recorded.
func TestCounterClockJump(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounter(t, 1280, 900)
	c.signIn()
	c.rulesLoaded()
	wake := c.hang()
	c.typeID(born83(121))
	c.waitResult("queued", "이 기기에 저장함 2개", 5*time.Second)
	c.Eval(`(function () { var now = Date.now; Date.now = function () { return now.call(Date) + 3 * 3600 * 1000; }; return true; })()`, nil)
	c.typeID(born83(122))
	c.waitResult("queued", "이 기기에 저장함 2개", 5*time.Second)
	wake()
	c.Wait(`document.getElementById('sync-summary').textContent.indexOf('전송') >= 0 && document.querySelectorAll('#outbox li.pending').length === 0`, 20*time.Second)
	t.Logf("after the clock jump: %q, outbox %q", c.Text(`document.getElementById('sync-summary')`), c.Text(`document.getElementById('outbox')`))
	if rows := c.sales(); len(rows) != 2 {
		t.Fatalf("the server has %d sales (%+v); want both sales kept offline, the one after the clock jump too", len(rows), rows)
	}
}

// axNames returns the accessible names Chromium computes for the page's
// buttons and fields (what a screen reader announces), by role.
func (c *counterPage) axNames() map[string][]string {
	c.t.Helper()
	res, err := chromedp.Call(c.Ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		c.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, n := range res.Nodes {
		if n.Ignored || n.Role == nil || n.Name == nil {
			continue
		}
		var role, name string
		json.Unmarshal(n.Role.Value, &role)
		json.Unmarshal(n.Name.Value, &name)
		switch role {
		case "button", "spinbutton", "textbox", "combobox":
			out[role] = append(out[role], name)
		}
	}
	return out
}

// TestCounterScreenReaderNames: the names a screen reader announces for the
// counter's controls are words, not words glued to their shortcut
// ("판매Enter", "SellEnter"); the shortcut is announced as one
// (aria-keyshortcuts). The proxies' Remove buttons say whose row they remove.
func TestCounterScreenReaderNames(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounter(t, 1280, 900)
	glued := regexp.MustCompile(`\S(Enter|Esc|Alt\+[A-Z])\b`)
	for li, lang := range []string{"ko", "en"} {
		c.openIn(lang)
		c.typeID(born83(131 + li))
		c.waitResult("ok", map[string]string{"ko": "판매 완료", "en": "Sold"}[lang], 5*time.Second)
		c.key("p", chromedp.ModifierAlt)
		c.key("p", chromedp.ModifierAlt)
		c.Wait(`document.querySelectorAll('.proxy-row').length === 2`, 2*time.Second)
		names := c.axNames()
		t.Logf("%s: %q", lang, names)
		for role, ns := range names {
			for _, n := range ns {
				if glued.MatchString(n) {
					t.Errorf("%s: a %s is announced as %q: its shortcut glued to its name", lang, role, n)
				}
			}
		}
		var removes []string
		for _, n := range names["button"] {
			if n == map[string]string{"ko": "삭제", "en": "Remove"}[lang] {
				removes = append(removes, n)
			}
		}
		if len(removes) > 0 {
			t.Errorf("%s: %d proxy rows' Remove buttons are all announced as %q: which row?", lang, len(removes), removes[0])
		}
		var keys string
		c.Eval(`document.getElementById('sell').getAttribute('aria-keyshortcuts') + '|' + document.getElementById('check').getAttribute('aria-keyshortcuts')`, &keys)
		if keys != "Enter|Alt+K" {
			t.Errorf("%s: aria-keyshortcuts of sell and check %q, want Enter|Alt+K", lang, keys)
		}
		// The first row removed, the one left is proxy 1, as the messages
		// about it say.
		c.Run(chromedp.Click(chromedp.CSS(`.proxy-row .p-rm`)))
		c.Wait(`document.querySelectorAll('.proxy-row').length === 1`, 2*time.Second)
		c.Run(chromedp.Focus(chromedp.CSS(`.proxy-row .p-id`)), browsertest.Keys("12345"))
		c.Run(chromedp.Focus(chromedp.CSS(`#buyer`)), browsertest.Keys(born83(139)), browsertest.Enter())
		c.waitResult("typo", "", 3*time.Second)
		label := c.Text(`document.querySelector('.proxy-row label')`)
		msg := c.result()
		wantLabel := map[string]string{"ko": "대리 구매 1 ", "en": "Proxy 1:"}[lang]
		wantMsg := map[string]string{"ko": "⚠대리 1 ", "en": "⚠Proxy 1 "}[lang]
		t.Logf("%s: the row left is labelled %q; the message says %q", lang, label, msg)
		if !strings.HasPrefix(label, wantLabel) || !strings.HasPrefix(msg, wantMsg) {
			t.Errorf("%s: the row left is labelled %q and the message about it says %q: want %q and %q", lang, label, msg, wantLabel, wantMsg)
		}
		c.Eval(`(function () { document.getElementById('proxy-rows').replaceChildren(); return true; })()`, nil)
	}
}

// TestCounterHotkeysOnAMac: on a Mac, Option (Alt) with a letter types
// another character, so the key event says "π" for Alt+P, "˚" for Alt+K
// and "√" for Alt+V; the shortcuts must follow the key pressed.
func TestCounterHotkeysOnAMac(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounter(t, 1280, 900)
	c.signIn()
	press := func(key, code string, vk int64) {
		t.Helper()
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeRawKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := chromedp.Call(c.Ctx, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Key: key, Code: code,
				Modifiers:             1, // Alt
				WindowsVirtualKeyCode: vk}); err != nil {
				t.Fatal(err)
			}
		}
	}
	press("π", "KeyP", 80)
	c.Wait(`document.querySelectorAll('.proxy-row').length === 1`, 2*time.Second)
	press("√", "KeyV", 86)
	c.Wait(`!document.getElementById('buyer').classList.contains('masked')`, 2*time.Second)
	c.Eval(`(function () { document.getElementById('proxy-rows').replaceChildren(); return true; })()`, nil)
	c.Clear("buyer")
	c.Run(chromedp.Focus(chromedp.CSS(`#buyer`)), browsertest.Keys(born83(141)))
	press("˚", "KeyK", 75)
	c.waitResult("info", "판매 가능", 5*time.Second)
}

// TestCounterStockRunsOut: the last masks go mid-queue. Online, the next
// buyer is refused with the reason and the stock on screen is the
// server's; a sale kept offline while the server was away, beyond the
// stock, is recorded and flagged, and stock never goes below zero.
func TestCounterStockRunsOut(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounter(t, 1280, 900)
	c.s.mustCall("POST", "/api/v2/outlet/stock", c.tok, map[string]any{"txn_id": "count3", "count": 3}, nil, 201)
	c.signIn()
	c.rulesLoaded()
	c.typeID(born83(151))
	c.waitResult("ok", "판매 완료 2개", 5*time.Second)
	c.Wait(`document.getElementById('stock').textContent === '1개'`, 3*time.Second)
	c.typeID(born83(152))
	c.waitResult("bad", "재고가 부족합니다", 5*time.Second)
	t.Logf("out of stock: %q", c.result())
	c.focused()

	wake := c.hang()
	c.typeID(born83(153))
	c.waitResult("queued", "이 기기에 저장함 2개", 5*time.Second)
	wake()
	c.Wait(`document.querySelectorAll('#outbox li').length === 0 && document.getElementById('sync-summary').textContent.indexOf('규칙 위반으로 표시되어 기록됨 1건') >= 0`, 20*time.Second)
	c.Wait(`document.getElementById('stock').textContent === '0개'`, 12*time.Second)
	if stock, sold := c.view(); stock != 0 || sold != 4 {
		t.Fatalf("after the offline sale beyond the stock the server has stock %d, sold %d; want 0 and 4", stock, sold)
	}
	c.s.mustVerify(t, "after a late sale beyond the stock")
}

// hang stops the server (SIGSTOP: requests reach it and wait) until the
// returned wake is called, or the test ends.
func (c *counterPage) hang() (wake func()) {
	c.s.cmd.Process.Signal(syscall.SIGSTOP)
	var once sync.Once
	wake = func() { once.Do(func() { c.s.cmd.Process.Signal(syscall.SIGCONT) }) }
	c.t.Cleanup(wake)
	return wake
}

// rulesLoaded waits until the page holds the rules it judges by offline.
func (c *counterPage) rulesLoaded() {
	c.t.Helper()
	c.Wait(`(JSON.parse(sessionStorage.getItem('publicmask.outlet.view') || '{}').rules || null) !== null`, 10*time.Second)
}

// openIn opens the counter in lang, signing in unless this tab already is.
func (c *counterPage) openIn(lang string) {
	c.t.Helper()
	c.Run(chromedp.Navigate(c.s.base + "/outlet?lang=" + lang))
	c.Wait(`document.documentElement.lang === '`+lang+`' && (!document.getElementById('signin').hidden || !document.getElementById('app').hidden)`, 10*time.Second)
	var signedIn bool
	c.Eval(`!document.getElementById('app').hidden`, &signedIn)
	if !signedIn {
		c.Run(chromedp.SendKeys(chromedp.CSS(`#token`), c.tok), browsertest.Enter())
		c.Wait(`!document.getElementById('app').hidden && /\d/.test(document.getElementById('stock').textContent)`, 10*time.Second)
	}
}

// TestCounterSlowSignIn: on a network that takes 10 s a request, signing
// in must still succeed (the pharmacist waits on "확인 중…"), not fail
// every time as "cannot reach the server".
func TestCounterSlowSignIn(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounter(t, 1280, 900)
	c.Run(chromedp.Navigate(c.s.base + "/outlet"))
	c.Wait(`!document.getElementById('signin').hidden`, 10*time.Second)
	c.latency(10000)
	c.Run(chromedp.SendKeys(chromedp.CSS(`#token`), c.tok), browsertest.Enter())
	took := c.Wait(`!document.getElementById('app').hidden || /연결할 수 없습니다/.test(document.getElementById('signin-msg').textContent)`, 25*time.Second)
	if msg := c.Text(`document.getElementById('signin-msg')`); msg != "" && !strings.Contains(msg, "확인 중") {
		t.Fatalf("signing in over a 10 s network: %q after %v", msg, took.Round(100*time.Millisecond))
	}
	t.Logf("signed in over a 10 s network in %v", took.Round(100*time.Millisecond))
}
