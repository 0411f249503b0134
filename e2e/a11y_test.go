package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

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

// axNodes returns Chromium's accessibility nodes (what a screen reader is
// given) as role, name and description.
func axNodes(t *testing.T, p *browsertest.Page) []axNode {
	t.Helper()
	res, err := chromedp.Call(p.Ctx, accessibility.GetFullAXTree, accessibility.GetFullAXTreeParams{})
	if err != nil {
		t.Fatal(err)
	}
	var out []axNode
	for _, n := range res.Nodes {
		if n.Ignored || n.Role == nil {
			continue
		}
		var a axNode
		json.Unmarshal(n.Role.Value, &a.role)
		if n.Name != nil {
			json.Unmarshal(n.Name.Value, &a.name)
		}
		if n.Description != nil {
			json.Unmarshal(n.Description.Value, &a.desc)
		}
		out = append(out, a)
	}
	return out
}

type axNode struct{ role, name, desc string }

// TestMapByKeyboard: a keyboard user on the map's list keeps the focus
// while the stream changes the list (on main every event rebuilt the list
// and the focus fell to the page's start), opens an outlet with Enter and
// lands in its popup, which a screen reader announces as a dialog named by
// the outlet with its status, kept focused while its outlet sells; Tab
// reaches its button, Esc closes it and returns to the list.
func TestMapByKeyboard(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	s := a11yGangbuk(t)
	p := browsertest.NewPage(t, 1280, 900)
	const seller, name = "11817488", "승약국" // 150 masks: stays plenty
	tok := s.outletToken(adminToken, seller)
	sale := 0
	sell := func(n int) {
		for range n {
			sale++
			s.mustCall("POST", "/api/v2/outlet/sales", tok, map[string]any{"txn_id": fmt.Sprintf("k%d", sale), "buyer": born83(sale), "quantity": 2}, nil, 201)
			time.Sleep(700 * time.Millisecond)
		}
	}
	button := `document.querySelector('#list li[data-code="` + seller + `"] .o-main')`
	for _, lang := range []string{"ko", "en"} {
		p.Run(browsertest.Navigate(s.base + gangbukMap + "&lang=" + lang))
		p.Wait(button+` && document.getElementById('live').classList.contains('ok')`, 15*time.Second)
		p.Eval(`(function () { var b = `+button+`; b.focus(); window.__f = b; return true; })()`, nil)
		sell(3)
		p.Wait(button+`.parentElement.querySelector('.o-forecast:not([hidden])')`, 10*time.Second) // the stream's news shown
		var kept bool
		p.Eval(`document.activeElement === window.__f`, &kept)
		if !kept {
			var at string
			p.Eval(`document.activeElement.tagName + '.' + document.activeElement.className`, &at)
			t.Fatalf("%s: the stream's news took the focus from the outlet's button to %s", lang, at)
		}
		p.Run(browsertest.Enter())
		dialog := `document.querySelector('.leaflet-popup .popup[role="dialog"]')`
		p.Wait(dialog+` && document.activeElement === `+dialog, 5*time.Second)
		label := map[string]string{"ko": "충분", "en": "Plenty"}[lang]
		found := false
		for _, n := range axNodes(t, p) {
			if n.role == "dialog" {
				t.Logf("%s: dialog %q, %q", lang, n.name, n.desc)
				found = found || n.name == name && strings.Contains(n.desc, label)
			}
		}
		if !found {
			t.Errorf("%s: no dialog named %q described with %q", lang, name, label)
		}
		p.Eval(`(window.__d = `+dialog+`, true)`, nil)
		sell(2)
		time.Sleep(500 * time.Millisecond)
		p.Eval(`document.activeElement === window.__d`, &kept)
		if !kept {
			t.Errorf("%s: the popup lost the focus while its outlet sold", lang)
		}
		p.Run(browsertest.Keys(kb.Tab))
		var inside bool
		p.Eval(`document.activeElement.matches('.leaflet-popup button.notify')`, &inside)
		if !inside {
			t.Errorf("%s: Tab from the popup does not reach its notify button", lang)
		}
		p.Run(browsertest.Keys(kb.Escape))
		p.Wait(`!document.querySelector('.leaflet-popup') && document.activeElement === `+button, 5*time.Second)
	}
}

// TestMapReducedMotion: a reader who asks for less motion gets a map that
// does not glide, zoom or fade: opening an outlet far in the list runs no
// animation (on main, Leaflet's zoom and fade ran regardless).
func TestMapReducedMotion(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	s := a11yGangbuk(t)
	p := browsertest.NewPage(t, 1280, 900)
	if _, err := chromedp.Call(p.Ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Features: []*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}}); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"ko", "en"} {
		p.Run(browsertest.Navigate(s.base + gangbukMap + "&lang=" + lang))
		p.Wait(`document.querySelectorAll('#list li .o-main').length > 12`, 15*time.Second)
		var moving []string
		// Sampled for half a second after the click: a zoom or a fade runs 250 ms.
		p.Eval(`new Promise(function (done) {
		  var seen = {};
		  document.querySelectorAll('#list li .o-main')[12].click();
		  var n = 0, iv = setInterval(function () {
		    document.getAnimations().forEach(function (a) {
		      var el = a.effect && a.effect.target;
		      seen[(a.transitionProperty || a.animationName) + ' on ' + (el ? el.className : '?')] = 1;
		    });
		    if (document.querySelector('#map.leaflet-zoom-anim')) seen['a zoom animation'] = 1;
		    if (++n === 25) { clearInterval(iv); done(Object.keys(seen)); }
		  }, 20);
		})`, &moving)
		p.Wait(`document.querySelector('.leaflet-popup')`, 5*time.Second)
		var fade bool
		p.Eval(`document.getElementById('map').classList.contains('leaflet-fade-anim')`, &fade)
		if len(moving) > 0 || fade {
			t.Errorf("%s: with prefers-reduced-motion the map still moves: %q (fade %v)", lang, moving, fade)
		}
	}
}

// TestNotFoundPage: a citizen who follows a stale link or mistypes an
// address gets a page in their language, with a title, a heading and the
// way back to the map (on main: the API's JSON error, in English, with no
// language, title or link); API clients still get the JSON error.
func TestNotFoundPage(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	axe := axeSource(t)
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none")
	p := browsertest.NewPage(t, 390, 800)
	want := map[string][2]string{"ko": {"페이지를 찾을 수 없습니다", "지도"}, "en": {"Page not found", "Map"}}
	for _, lang := range []string{"ko", "en"} {
		p.Run(browsertest.Navigate(s.base + "/overveiw?lang=" + lang))
		var got struct{ Lang, Title, H1, First string }
		p.Eval(`({lang: document.documentElement.lang, title: document.title, h1: (document.querySelector('h1') || {}).textContent || '',
			first: (document.querySelector('main a[href="/"]') || {}).textContent || ''})`, &got)
		if got.Lang != lang || !strings.HasPrefix(got.Title, want[lang][0]) || strings.TrimSpace(got.H1) != want[lang][0] || got.First != want[lang][1] {
			t.Errorf("%s: a mistyped address shows lang %q, title %q, heading %q, link to the map %q; want %s, %q, a link %q",
				lang, got.Lang, got.Title, got.H1, got.First, lang, want[lang][0], want[lang][1])
			continue
		}
		checkAxe(t, p, axe, "not found "+lang)
		var problems []string
		p.Eval(layoutProblems, &problems)
		for _, pr := range problems {
			t.Errorf("not found %s at 390 px: %s", lang, pr)
		}
	}
	// What a browser asks for, and what an API client asks for.
	for _, c := range []struct {
		path, accept, ctype string
	}{
		{"/overveiw", "text/html,application/xhtml+xml,*/*;q=0.8", "text/html"},
		{"/overveiw", "application/json", "application/json"},
		{"/overveiw", "", "application/json"},
		{"/api/v2/outletz", "text/html,*/*", "application/json"},
		{"/corona19-masks/v1/storez/json", "text/html,*/*", "application/json"},
	} {
		req, _ := http.NewRequest("GET", s.base+c.path, nil)
		if c.accept != "" {
			req.Header.Set("Accept", c.accept)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), c.ctype) {
			t.Errorf("GET %s (Accept %q): %d %s, want 404 %s: %.80s", c.path, c.accept, resp.StatusCode, resp.Header.Get("Content-Type"), c.ctype, b)
		}
		if c.ctype == "application/json" && !strings.Contains(string(b), `"not_found"`) {
			t.Errorf("GET %s (Accept %q): %s, want the not_found error", c.path, c.accept, b)
		}
	}
}

// koreanWithoutLang lists the texts of an English page that hold Hangul
// but are not marked lang="ko" (a screen reader reads them with the
// English voice, which skips or spells out Hangul), leaving out hidden
// ones, scripts and the language link (which is marked).
const koreanWithoutLang = `(function () {
  var re = /[\u3131-\u318e\uac00-\ud7a3]/, out = [];
  var w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (var n = w.nextNode(); n; n = w.nextNode()) {
    var e = n.parentElement;
    if (!re.test(n.nodeValue) || e.closest('script, style, [hidden], [aria-hidden="true"]')) continue;
    var l = e.closest('[lang]');
    if (!l || l.getAttribute('lang') !== 'ko') out.push(e.tagName.toLowerCase() + '.' + e.className + ': ' + n.nodeValue.trim());
  }
  return out.slice(0, 10);
})()`

// TestKoreanNamesMarkedKorean: on the English pages, outlets' registered
// names and addresses, districts' names and the names of outlets not
// updated are Korean text: each is marked lang="ko", so that a screen
// reader switches to a Korean voice for them (on main none was, WCAG 3.1.2).
func TestKoreanNamesMarkedKorean(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	s := a11yGangbuk(t)
	p := browsertest.NewPage(t, 1280, 900)
	for _, pg := range []struct{ name, path, ready string }{
		{"map", gangbukMap + "&lang=en", `document.querySelector('#list li .o-name')`},
		{"overview", "/overview?lang=en", `document.querySelectorAll('#sgg-rows tr').length > 0`},
	} {
		p.Run(browsertest.Navigate(s.base + pg.path))
		p.Wait(pg.ready, 15*time.Second)
		if pg.name == "map" {
			p.Eval(`document.querySelector('#list li .o-main').click()`, nil)
			p.Wait(`document.querySelector('.leaflet-popup .popup')`, 5*time.Second)
		}
		var bare []string
		p.Eval(koreanWithoutLang, &bare)
		if len(bare) > 0 {
			t.Errorf("%s in English: Korean text not marked lang=\"ko\": %q", pg.name, bare)
		}
	}
}

// TestLivePagesSayWhenUnreachable: a server frozen or cut off by the
// network answers nothing; /status and /overview then say, within seconds,
// that it cannot be reached, and a screen reader hears it once (on main
// their polls waited forever: /status kept its "✔ as of …" and /overview
// its figures as current for as long as the server was away).
func TestLivePagesSayWhenUnreachable(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	s := a11yGangbuk(t)
	p := browsertest.NewPage(t, 1280, 900)
	ov := p.NewTab()
	off := map[string][2]string{"ko": {"연결할 수 없", "서버에 연결할 수 없습니다"}, "en": {"reach", "Cannot reach the server"}}
	for _, lang := range []string{"ko", "en"} {
		p.Run(browsertest.Navigate(s.base + "/status?lang=" + lang))
		ov.Run(browsertest.Navigate(s.base + "/overview?lang=" + lang))
		p.Wait(`document.getElementById('meta').className === 'meta ok'`, 15*time.Second)
		ov.Wait(`/\d/.test(document.getElementById('meta').textContent) && document.getElementById('meta').className === 'meta'`, 15*time.Second)
		s.cmd.Process.Signal(syscall.SIGSTOP)
		took := p.Wait(`document.getElementById('meta').className === 'meta bad' && document.getElementById('meta').textContent.indexOf(`+jsString(off[lang][0])+`) >= 0`, 15*time.Second)
		ov.Wait(`document.getElementById('meta').className === 'meta bad' && document.getElementById('meta').textContent.indexOf(`+jsString(off[lang][1])+`) === 0`, 15*time.Second)
		t.Logf("%s: /status says %q after %v; /overview %q", lang, p.Text(`document.getElementById('meta')`), took.Round(time.Second), ov.Text(`document.getElementById('meta')`))
		for _, pg := range []*browsertest.Page{p, ov} {
			if said := pg.Text(`document.getElementById('meta-say')`); !strings.Contains(said, off[lang][0]) && !strings.Contains(said, off[lang][1]) {
				t.Errorf("%s: a screen reader was told %q", lang, said)
			}
		}
		s.cmd.Process.Signal(syscall.SIGCONT)
		p.Wait(`document.getElementById('meta').className === 'meta ok'`, 20*time.Second)
		ov.Wait(`document.getElementById('meta').className === 'meta'`, 20*time.Second)
	}
}

// TestMapSaysWhenTheStreamGoesSilent: a server frozen, or a phone's network
// that drops the connection without closing it, leaves the map's stream
// open and silent; the map then stops saying "Live" within a minute (the
// server's heartbeat brings an event every 15 s) and says so to a screen
// reader once; it is live again when the server is back. On main it said
// "Live" for as long as the server was away.
func TestMapSaysWhenTheStreamGoesSilent(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	s := a11yGangbuk(t)
	ko := browsertest.NewPage(t, 390, 800)
	en := ko.NewTab()
	pages := map[string]*browsertest.Page{"ko": ko, "en": en}
	for lang, p := range pages {
		p.Run(browsertest.Navigate(s.base + gangbukMap + "&lang=" + lang))
		p.Wait(`document.getElementById('live').classList.contains('ok')`, 15*time.Second)
	}
	s.cmd.Process.Signal(syscall.SIGSTOP)
	start := time.Now()
	for lang, p := range pages {
		p.Wait(`document.getElementById('live').classList.contains('down')`, 70*time.Second-time.Since(start))
		t.Logf("%s: %q after %v; said %q", lang, p.Text(`document.getElementById('live')`), time.Since(start).Round(time.Second), p.Text(`document.getElementById('live-say')`))
		if said := p.Text(`document.getElementById('live-say')`); said != p.Text(`document.getElementById('live-text')`) {
			t.Errorf("%s: the page says %q but a screen reader was told %q", lang, p.Text(`document.getElementById('live-text')`), said)
		}
	}
	s.cmd.Process.Signal(syscall.SIGCONT)
	for _, p := range pages {
		p.Wait(`document.getElementById('live').classList.contains('ok')`, 40*time.Second)
	}
}

// TestStatusNodesTableByKeyboardAtNarrowWidth: at 320 px /status's nodes table is
// wider than its card and scrolls sideways; a keyboard user can only scroll
// a region that takes the focus (axe's scrollable-region-focusable), so the
// scrolling box must be focusable and named, in both languages; /overview
// at 320 px passes axe too.
func TestStatusNodesTableByKeyboardAtNarrowWidth(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	axe := axeSource(t)
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	p := browsertest.NewPage(t, 320, 800)
	for _, lang := range []string{"ko", "en"} {
		p.Run(browsertest.Navigate(s.base + "/status?lang=" + lang))
		p.Wait(`!document.getElementById('nodes-card').hidden && document.querySelectorAll('#nodes tr').length > 0`, 15*time.Second)
		var overflows bool
		p.Eval(`(function(){ var b = document.querySelector('.nodes-scroll'); return b.scrollWidth > b.clientWidth; })()`, &overflows)
		if !overflows {
			t.Fatalf("%s: the nodes table fits 320 px: the test no longer checks its scrolling", lang)
		}
		var name string
		p.Eval(`(function(){ var b = document.querySelector('.nodes-scroll'), l = document.getElementById(b.getAttribute('aria-labelledby') || ''); b.focus(); return document.activeElement === b && l ? l.textContent : ''; })()`, &name)
		if name == "" {
			t.Errorf("%s: the nodes table's scrolling box takes no focus or has no name", lang)
		}
		checkAxe(t, p, axe, "status 320 px "+lang)
		p.Run(browsertest.Navigate(s.base + "/overview?lang=" + lang))
		p.Wait(`document.querySelectorAll('#sido-rows tr').length === 17`, 15*time.Second)
		checkAxe(t, p, axe, "overview 320 px "+lang)
	}
}
