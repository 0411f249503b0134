package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// Citizens' pages against the real server (DESIGN.md §4.2, §4.5): the
// "may I buy today?" panel on korea-2020 dates, the sell-out forecast and
// "notify me" on the map, /overview live, both languages, axe-core, and
// screenshots into $PUBLICMASK_SCREENSHOTS.

// TestCitizensRulesPanel: the panel answers for a birth year under the
// korea-2020 timeline on a date before the rotation, one during it and one
// after sales closed on 12 July.
func TestCitizensRulesPanel(t *testing.T) {
	skipShort(t, "runs real servers and Chromium")
	p := browsertest.NewPage(t, 1280, 900)
	cases := []struct {
		clock, lang string
		year        int
		mayBuy      string // data-may-buy of the answer
		next        string // data-next
		text        []string
	}{
		// Saturday 7 March, before the rotation: anyone, 2 masks.
		{"2020-03-07T10:00:00+09:00", "ko", 1984, "true", "2020-03-08", []string{"오늘 구매할 수 있습니다", "2개"}},
		// Wednesday 11 March: 1984 buys on Thursdays, 1983 on Wednesdays.
		{"2020-03-11T10:00:00+09:00", "ko", 1984, "false", "2020-03-12", []string{"오늘은 구매할 수 없습니다", "3월 12일"}},
		{"2020-03-11T10:00:00+09:00", "en", 1983, "true", "2020-03-14", []string{"You may buy today", "2 masks"}},
		// 13 July: the system has ended.
		{"2020-07-13T10:00:00+09:00", "en", 1983, "closed", "", []string{"sales have ended", "none"}},
	}
	var s *server
	clock := ""
	for _, c := range cases {
		if c.clock != clock {
			if s != nil {
				s.cmd.Process.Kill()
				s.cmd.Wait()
			}
			s = start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none",
				"--policy", "korea-2020", "--clock", c.clock)
			clock = c.clock
		}
		p.Run(browsertest.Navigate(s.base + "/?lang=" + c.lang))
		p.Wait(`document.getElementById('rules-year')`, 10*time.Second)
		p.Eval(fmt.Sprintf(`(function(){ document.getElementById('rules-year').value = '%d'; document.getElementById('rules-cat').value = '';
			document.getElementById('rules-form').requestSubmit(); return true; })()`, c.year), nil)
		// The answer for this year (the page first answers for the remembered one).
		sel := fmt.Sprintf(`document.querySelector('#rules-out .rules-answer[data-who="me"][data-year="%d"]')`, c.year)
		p.Wait(sel, 10*time.Second)
		var got struct{ May, Next, Text, Date string }
		p.Eval(`(function(){ var a = `+sel+`; return {May: a.getAttribute('data-may-buy'), Next: a.getAttribute('data-next'),
			Text: document.getElementById('rules-out').textContent, Date: document.getElementById('rules-out').getAttribute('data-date')}; })()`, &got)
		if got.May != c.mayBuy || got.Next != c.next || got.Date != c.clock[:10] {
			t.Errorf("%s born %d: may_buy %q next %q on %q, want %q %q", c.clock[:10], c.year, got.May, got.Next, got.Date, c.mayBuy, c.next)
		}
		for _, w := range c.text {
			if !strings.Contains(got.Text, w) {
				t.Errorf("%s born %d (%s): %q lacks %q", c.clock[:10], c.year, c.lang, got.Text, w)
			}
		}
		// The year is remembered in this browser only.
		var kept string
		p.Eval(`localStorage.getItem('publicmask.birthYear') || ''`, &kept)
		if kept != fmt.Sprint(c.year) {
			t.Errorf("birth year kept as %q", kept)
		}
	}
	// Buying for a child: the child's own answer beside the buyer's.
	p.Run(browsertest.Navigate(s.base + "/?lang=ko"))
	p.Wait(`document.querySelector('#rules-out .rules-answer')`, 10*time.Second) // answered from the remembered year
	p.Eval(`(function(){ document.getElementById('rules-cat').value = 'child'; document.getElementById('rules-cat').dispatchEvent(new Event('change'));
		document.getElementById('rules-other').value = '2012'; document.getElementById('rules-form').requestSubmit(); return true; })()`, nil)
	p.Wait(`document.querySelector('#rules-out .rules-answer[data-who="other"]')`, 10*time.Second)
}

// TestCitizensMapAndOverview: on the real server, the forecast text appears
// for an outlet that is selling and disappears when it is suspended; a
// watched outlet restocked raises a notification; /overview draws the 17
// 시도 and follows a delivery; every page in both languages passes axe-core
// and, in English, shows no Hangul outside registered names and addresses.
func TestCitizensMapAndOverview(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	infos := gangbukStoreInfos(t)
	p := browsertest.NewPage(t, 1280, 1000)
	shots := os.Getenv("PUBLICMASK_SCREENSHOTS")
	axe := axeSource(t)
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, map[string]any{"storeInfos": infos}, nil, 200)
	const selling, watched, fresh = "11817488", "12856941", "11885947" // 승약국, 대지약국, 대우약국 (never stocked)
	var lines []map[string]any
	for i, in := range infos {
		q := []int{150, 60, 10, 1}[i%4]
		switch in["code"] {
		case selling:
			q = 200
		case watched:
			q = 10
		case fresh:
			continue
		}
		lines = append(lines, map[string]any{"outlet": in["code"], "quantity": q, "txn_id": fmt.Sprintf("open-%d", i)})
	}
	s.mustCall("POST", "/api/v2/admin/deliveries", adminToken, lines, nil, 200)
	token := func(code string) string { return s.outletToken(adminToken, code) }
	sellTok := token(selling)

	p.Run(browsertest.Navigate(s.base + "/?lat=37.6254369&lng=127.0164096&lang=ko"))
	item := func(code string) string { return `document.querySelector('#list li[data-code="` + code + `"]')` }
	p.Wait(item(selling), 15*time.Second)
	// Selling: five sales of 2 in a second.
	for i := range 5 {
		s.mustCall("POST", "/api/v2/outlet/sales", sellTok, map[string]any{"txn_id": fmt.Sprintf("f%d", i), "buyer": born83(i + 1), "quantity": 2}, nil, 201)
		time.Sleep(200 * time.Millisecond)
	}
	fc := item(selling) + `.querySelector('.o-forecast')`
	p.Wait(fc+` && !`+fc+`.hidden && /소진 예상/.test(`+fc+`.textContent)`, 10*time.Second)
	t.Logf("forecast shown: %q", p.Text(fc))
	citizensShot(t, p, shots, "map-forecast-ko-1280.png")
	// Suspended: the forecast goes away.
	s.mustCall("POST", "/api/v2/outlet/suspend", sellTok, map[string]any{}, nil, 200)
	p.Wait(item(selling)+` && /판매중지/.test(`+item(selling)+`.textContent) && `+fc+`.hidden`, 10*time.Second)

	// Notify me: watch 대지약국 (few), let the page hold notification
	// permission, restock it to plenty.
	p.Eval(`(function(){ window.__notes = []; function N(title, opts) { window.__notes.push(title); }
		N.permission = 'granted'; N.requestPermission = function () { return Promise.resolve('granted'); }; window.Notification = N; return true; })()`, nil)
	btn := item(watched) + `.querySelector('button.notify')`
	p.Wait(btn, 5*time.Second)
	// By keyboard: focus the button and press Enter.
	p.Eval(btn+`.focus()`, nil)
	p.Run(browsertest.Enter())
	p.Wait(item(watched)+`.querySelector('button.notify[aria-pressed="true"]')`, 5*time.Second)
	s.mustCall("POST", "/api/v2/admin/deliveries", adminToken, []map[string]any{{"outlet": watched, "quantity": 100, "txn_id": "restock-1"}}, nil, 200)
	p.Wait(`window.__notes.length === 1 && document.querySelector('#alerts .alert[data-code="`+watched+`"][data-notified="system"]')`, 10*time.Second)

	// /overview: 17 시도, and a delivery to a never-stocked outlet shows.
	p.Run(browsertest.Navigate(s.base + "/overview?lang=ko"))
	p.Wait(`document.querySelectorAll('#choro path.prov[data-sido]').length === 17 && document.querySelectorAll('#sido-rows tr').length === 17`, 15*time.Second)
	seoul := `document.querySelector('#sido-rows tr[data-sido="서울특별시"]')`
	p.Wait(seoul+` && /\d/.test(`+seoul+`.textContent)`, 10*time.Second)
	before := p.Text(seoul)
	p.Wait(`document.querySelectorAll('#sgg-rows tr').length > 0`, 5*time.Second)
	s.mustCall("POST", "/api/v2/admin/deliveries", adminToken, []map[string]any{{"outlet": fresh, "quantity": 120, "txn_id": "fresh-1"}}, nil, 200)
	p.Wait(seoul+`.textContent !== `+jsString(before), 10*time.Second)
	t.Logf("서울특별시 row %q → %q", before, p.Text(seoul))
	// The sales chart counted the ten masks sold.
	p.Wait(`document.querySelectorAll('#sales-chart rect.bar').length >= 1`, 5*time.Second)
	// Sort and search the 시군구 table by keyboard.
	p.Eval(`document.querySelector('#sgg-head th[data-key="total"] button').click()`, nil)
	p.Wait(`document.querySelector('#sgg-head th[data-key="total"]').getAttribute('aria-sort') === 'descending'`, 5*time.Second)
	p.Eval(`(function(){ var q = document.getElementById('sgg-q'); q.value = '강북'; q.dispatchEvent(new Event('input')); return true; })()`, nil)
	p.Wait(`document.querySelectorAll('#sgg-rows tr').length === 1 && /강북구/.test(document.getElementById('sgg-rows').textContent)`, 5*time.Second)
	p.Eval(`(function(){ var q = document.getElementById('sgg-q'); q.value = ''; q.dispatchEvent(new Event('input')); return true; })()`, nil)

	// Every page, both languages: axe, Hangul, screenshots.
	pages := []struct{ name, path, ready string }{
		{"map", "/?lat=37.6254369&lng=127.0164096", `document.querySelector('#list li .o-name')`},
		{"status", "/status", `document.getElementById('rates') && /\d/.test(document.getElementById('rates').textContent)`},
		{"overview", "/overview", `document.querySelectorAll('#sgg-rows tr').length > 0 && document.querySelectorAll('#sido-rows tr').length === 17`},
	}
	for _, lang := range []string{"ko", "en"} {
		for _, pg := range pages {
			sep := "?"
			if strings.Contains(pg.path, "?") {
				sep = "&"
			}
			p.Run(browsertest.Navigate(s.base + pg.path + sep + "lang=" + lang))
			p.Wait(pg.ready, 15*time.Second)
			if pg.name == "map" {
				p.Eval(`(function(){ document.getElementById('rules-year').value = '1984'; document.getElementById('rules-form').requestSubmit(); return true; })()`, nil)
				p.Wait(`document.querySelector('#rules-out .rules-answer')`, 10*time.Second)
			}
			var htmlLang string
			p.Eval(`document.documentElement.lang`, &htmlLang)
			if htmlLang != lang {
				t.Errorf("%s?lang=%s: <html lang=%q>", pg.name, lang, htmlLang)
			}
			if lang == "en" {
				var hangul []string
				p.Eval(hangulOutsideNames, &hangul)
				if len(hangul) > 0 {
					t.Errorf("%s in English shows Hangul outside names and addresses: %q", pg.name, hangul)
				}
			}
			checkAxe(t, p, axe, pg.name+" "+lang)
			citizensShot(t, p, shots, fmt.Sprintf("%s-%s-1280.png", pg.name, lang))
		}
	}
	// The choice is remembered: no ?lang, English from localStorage.
	p.Run(browsertest.Navigate(s.base + "/overview"))
	p.Wait(`document.documentElement.lang === 'en'`, 5*time.Second)
}

// hangulOutsideNames lists the texts (and labels) of the page that contain
// Hangul, leaving out what stays as registered: outlet names, addresses,
// 시군구 names (marked .reg), the link to the Korean page (lang="ko") and
// the example placeholder of a search box.
const hangulOutsideNames = `(function(){
  var re = /[\u3131-\u318e\uac00-\ud7a3]/, out = [];
  var skip = function (e) { return e.closest && e.closest('.reg, [lang="ko"]:not(html), script, style, .leaflet-marker-pane, .leaflet-popup-pane'); };
  var w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (var n = w.nextNode(); n; n = w.nextNode()) {
    if (re.test(n.nodeValue) && !skip(n.parentElement) && n.parentElement.closest('[hidden]') == null) out.push(n.nodeValue.trim());
  }
  document.querySelectorAll('[aria-label], [title], [alt]').forEach(function (e) {
    ['aria-label', 'title', 'alt'].forEach(function (a) { var v = e.getAttribute(a); if (v && re.test(v) && !skip(e) && !e.classList.contains('reg-label')) out.push(a + '=' + v); });
  });
  if (re.test(document.title)) out.push('title=' + document.title);
  return out.slice(0, 20);
})()`

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func citizensShot(t *testing.T, p *browsertest.Page, dir, name string) {
	t.Helper()
	if dir == "" {
		return
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	copyTo(t, p.Screenshot(name), filepath.Join(dir, name))
}
