package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// The public pages as a screen-reader, keyboard-only, low-vision and phone
// user meets them (the counter page has its own tests): the real server
// with the 222 real Gangbuk pharmacies of 2020, in Korean and English.

// a11yGangbuk starts a server holding the Gangbuk pharmacies, stocked in
// turn with 150, 60, 10 and 1 masks (plenty, some, few, empty).
func a11yGangbuk(t *testing.T) *server {
	t.Helper()
	infos := gangbukStoreInfos(t)
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, map[string]any{"storeInfos": infos}, nil, 200)
	var lines []map[string]any
	for i, in := range infos {
		lines = append(lines, map[string]any{"outlet": in["code"], "quantity": []int{150, 60, 10, 1}[i%4], "txn_id": fmt.Sprintf("open-%d", i)})
	}
	s.mustCall("POST", "/api/v2/admin/deliveries", adminToken, lines, nil, 200)
	return s
}

const gangbukMap = "/?lat=37.6254369&lng=127.0164096"

// listenLive records what the page's live regions would make a screen
// reader say: each batch of changes to a live region (aria-live, or a role
// that implies it) that leaves words in it is one announcement, even when
// the words are the same as before (a rewritten region is read again).
const listenLive = `(function () {
  window.__said = [];
  document.querySelectorAll('[aria-live]:not([aria-live="off"]), [role="status"], [role="alert"], [role="log"], [role="timer"], [role="marquee"]').forEach(function (r) {
    new MutationObserver(function () {
      var t = r.textContent.trim().replace(/\s+/g, ' ');
      if (t) window.__said.push('#' + (r.id || r.className) + ': ' + t);
    }).observe(r, { subtree: true, childList: true, characterData: true });
  });
  return true;
})()`

// TestLiveRegionsDoNotFlood: while sales stream in (one a second, none of
// which changes how many outlets have stock), no page makes a screen reader
// speak: on main the map's list was a live region re-rendered at every
// event with ages ticking every second (26 announcements in 6 s), its
// summary and "Live" rewritten with the same words, /status's header line
// every 2 s and /overview's every 3 s. A change that matters — an outlet
// sold out, so one fewer with stock — is still said, once.
func TestLiveRegionsDoNotFlood(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	s := a11yGangbuk(t)
	p := browsertest.NewPage(t, 1280, 900)
	const seller = "11817488" // 승약국, 150 masks: stays plenty
	tok := s.outletToken(adminToken, seller)
	sale := 0
	sell := func(tok string, n int) {
		for range n {
			sale++
			s.mustCall("POST", "/api/v2/outlet/sales", tok, map[string]any{"txn_id": fmt.Sprintf("a%d", sale), "buyer": born83(sale), "quantity": 2}, nil, 201)
			time.Sleep(time.Second)
		}
	}
	said := func() []string {
		var out []string
		p.Eval(`window.__said`, &out)
		return out
	}
	pages := []struct{ name, path, ready string }{
		{"map", gangbukMap, `document.querySelector('#list li[data-code="` + seller + `"]') && document.getElementById('live').classList.contains('ok')`},
		{"status", "/status", `/\d/.test(document.getElementById('rates').textContent)`},
		{"overview", "/overview", `document.querySelectorAll('#sgg-rows tr').length > 0`},
	}
	for _, lang := range []string{"ko", "en"} {
		for _, pg := range pages {
			sep := map[bool]string{true: "&", false: "?"}[strings.Contains(pg.path, "?")]
			p.Run(browsertest.Navigate(s.base + pg.path + sep + "lang=" + lang))
			p.Wait(pg.ready, 15*time.Second)
			time.Sleep(1500 * time.Millisecond) // the first answers and their first words
			p.Eval(listenLive, nil)
			sell(tok, 6)
			if out := said(); len(out) > 0 {
				t.Errorf("%s %s: %d announcements in 6 s of sales that changed nothing a reader waits for: %q", pg.name, lang, len(out), out)
			}
			if pg.name != "map" {
				continue
			}
			// An outlet with few masks sells out: one fewer with stock, said once.
			var few string
			p.Eval(`document.querySelector('#list li.s-few').dataset.code`, &few)
			before := p.Text(`document.getElementById('summary')`)
			sell(s.outletToken(adminToken, few), 5)
			p.Wait(`document.querySelector('#list li[data-code="`+few+`"].s-empty')`, 10*time.Second)
			p.Wait(`window.__said.length > 0`, 20*time.Second)
			time.Sleep(2 * time.Second)
			out := said()
			t.Logf("%s: %q → %q", lang, before, out)
			if len(out) != 1 || !strings.HasPrefix(out[0], "#summary: ") || out[0] == "#summary: "+before {
				t.Errorf("%s: an outlet sold out in the circle; said %q, want the summary with one fewer with stock, once", lang, out)
			}
		}
	}
}
