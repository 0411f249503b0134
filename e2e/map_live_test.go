package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/chromedp"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// mapWatch records, in the page, each change of an outlet's status in the
// list and on its marker, with the page's clock: [where, code, stat, ms].
const mapWatch = `(function(){
  window.__log = [];
  var last = {};
  function note(where, code, cls) {
    var m = / s-(\w+)/.exec(' ' + cls);
    if (!code || !m) return;
    var k = where + code;
    if (last[k] === m[1]) return;
    last[k] = m[1];
    window.__log.push([where, code, m[1], Date.now()]);
  }
  function scan() {
    document.querySelectorAll('#list li[data-code]').forEach(function (li) { note('list', li.dataset.code, li.className); });
    document.querySelectorAll('.leaflet-marker-pane .pin').forEach(function (p) { note('pin', (p.getAttribute('title') || '').split(' · ')[0], p.className); });
  }
  scan();
  new MutationObserver(scan).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['class'] });
  return true;
})()`

type pageNote struct {
	where, code, stat string
	at                time.Time
}

func pageLog(t *testing.T, p *browsertest.Page) []pageNote {
	var raw [][]any
	p.Eval(`window.__log`, &raw)
	out := make([]pageNote, 0, len(raw))
	for _, r := range raw {
		ms, _ := r[3].(float64)
		out = append(out, pageNote{r[0].(string), r[1].(string), r[2].(string), time.UnixMilli(int64(ms))})
	}
	return out
}

func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// TestMapFreshness measures what DESIGN.md §1 promises a citizen ("stock
// within a second", §5: ≤ 100 ms in one process, ≤ 1 s across processes):
// the time from a sale's acknowledgement by a ledger node to the new
// remain_stat in the list and on the marker of the map page in Chromium —
// on SQLite (one process) and on a public node fed by two PostgreSQL
// ledger nodes, with a plain stream client beside the page for the hop
// before the browser. Each sale takes an outlet from some (30) to few
// (29); a count then puts it back. PUBLICMASK_MAP_SALES sets how many
// sales (default 20). It fails only if a sale never shows (5 s): the
// figures are for BENCHMARKS.md, not a timed assertion.
func TestMapFreshness(t *testing.T) {
	skipShort(t, "runs four real processes and Chromium")
	n := 20
	if v, err := strconv.Atoi(os.Getenv("PUBLICMASK_MAP_SALES")); err == nil && v > 0 {
		n = v
	}
	deps := liveDeployments(t)
	for di, d := range deps {
		t.Run(d.name, func(t *testing.T) {
			const k = 20
			var rows []string
			var codes []string
			names := map[string]string{} // a marker is known by its title: the outlet's name
			for i := range k {
				code := fmt.Sprintf("94%06d", di*100+i)
				codes = append(codes, code)
				names[code] = fmt.Sprintf("시험약국%02d", i)
				rows = append(rows, fmt.Sprintf("%s,시험약국%02d,서울특별시 강북구 솔매로 %d (미아동),01,%.6f,%.6f", code, i, 10+i, liveLat+float64(i%5)*0.0004, liveLng+float64(i/5)*0.0005))
			}
			d.writer(0).mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(rows...), nil, 200)
			toks := map[string]string{}
			for _, c := range codes {
				toks[c] = d.writer(0).outletToken(adminToken, c)
				d.writer(0).mustCall("POST", "/api/v2/outlet/deliveries", toks[c], map[string]any{"txn_id": "open", "quantity": 30}, nil, 201)
			}
			lang := []string{"ko", "en"}[di%2]
			p := browsertest.NewPage(t, 1280, 900)
			p.Run(browsertest.Navigate(fmt.Sprintf("%s/?lat=%v&lng=%v&lang=%s", d.reader.base, liveLat, liveLng, lang)))
			p.Wait(fmt.Sprintf(`document.querySelectorAll('#list li[data-code^="94"]').length === %d && document.getElementById('live').classList.contains('ok')`, k), 15*time.Second)
			p.Eval(mapWatch, nil)
			st := openLive(t, d.reader, liveLat, liveLng, 1000, 0)
			// PUBLICMASK_MAP_LOAD=N: N clients sell meanwhile at ten other
			// outlets of the same circle (a neighbourhood at 08:00), through
			// the first ledger node.
			if w, _ := strconv.Atoi(os.Getenv("PUBLICMASK_MAP_LOAD")); w > 0 {
				lc, lt := setupOutlets(t, d.writer(0), 10, 100000)
				load := startSales(d.writer(0), lc, lt, w, "load")
				defer func() { t.Logf("background load: %d sales acknowledged", len(load.finish())) }()
			}
			var toStream, toList, toPin []time.Duration
			for i := range n {
				code := codes[i%k]
				// The outlet shows some again (its count of the round before).
				p.Wait(fmt.Sprintf(`document.querySelector('#list li[data-code="%s"].s-some')`, code), 5*time.Second)
				from := len(pageLog(t, p))
				evFrom := len(st.snapshot())
				d.writer(i).mustCall("POST", "/api/v2/outlet/sales", toks[code], map[string]any{"txn_id": fmt.Sprintf("s%d", i), "buyer": id("880315", "12"[i%2], 3000+i), "quantity": 1}, nil, 201)
				acked := time.Now()
				if ev := st.await(evFrom, code, 5*time.Second, func(e streamEvent) bool { return e.RemainStat == "few" }); ev == nil {
					t.Fatalf("sale %d: no stream event in 5 s", i)
				} else {
					toStream = append(toStream, ev.At.Sub(acked))
				}
				// (The page may show it a millisecond before this process
				// has read the acknowledgement: such a lag is negative.)
				var list, pin time.Duration
				var inList, onPin bool
				deadline := time.Now().Add(5 * time.Second)
				for !(inList && onPin) && time.Now().Before(deadline) {
					for _, x := range pageLog(t, p)[from:] {
						if (x.code == code || x.code == names[code]) && x.stat == "few" {
							if x.where == "list" && !inList {
								list, inList = x.at.Sub(acked), true
							}
							if x.where == "pin" && !onPin {
								pin, onPin = x.at.Sub(acked), true
							}
						}
					}
					time.Sleep(10 * time.Millisecond)
				}
				if !inList || !onPin {
					t.Fatalf("sale %d at %s: not on the page within 5 s (list %v, marker %v); the page says %q, its list item %q", i, code, list, pin,
						p.Text(`document.getElementById('live')`), p.Text(fmt.Sprintf(`document.querySelector('#list li[data-code="%s"]')`, code)))
				}
				toList, toPin = append(toList, list), append(toPin, pin)
				d.writer(i+1).mustCall("POST", "/api/v2/outlet/stock", toks[code], map[string]any{"txn_id": fmt.Sprintf("c%d", i), "count": 30}, nil, 201)
			}
			for _, x := range []struct {
				what string
				d    []time.Duration
			}{{"stream client", toStream}, {"page list", toList}, {"page marker", toPin}} {
				t.Logf("FRESHNESS %s lang=%s %s: n=%d p50=%v p99=%v max=%v", d.name, lang, x.what, len(x.d),
					quantile(x.d, 0.5).Round(time.Millisecond), quantile(x.d, 0.99).Round(time.Millisecond), slices.Max(x.d).Round(time.Millisecond))
			}
		})
	}
}

// TestMapFollowsTheRegistryAndTime: the map page on a real server keeps
// its markers true when outlets move (a marker follows its outlet; an
// outlet moved out of the view leaves the map and the list), hides a
// sell-out time that has passed in an open popup as in the list (DESIGN.md
// §6.7), shows the stream's loss while the server is away and catches up
// after a restart, and keeps nothing in the browser's storage but the
// language.
func TestMapFollowsTheRegistryAndTime(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	dir := t.TempDir()
	addr := freeAddr(t)
	args := []string{"--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	s := startOn(t, addr, args...)
	const a, b, c = "95000001", "95000002", "95000003"
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(a, "01", liveLat), liveRow(b, "01", liveLat+0.001), liveRow(c, "01", liveLat+0.002)), nil, 200)
	toks := map[string]string{}
	for _, code := range []string{a, b, c} {
		toks[code] = s.outletToken(adminToken, code)
		s.mustCall("POST", "/api/v2/outlet/deliveries", toks[code], map[string]any{"txn_id": "open", "quantity": 200}, nil, 201)
	}
	p := browsertest.NewPage(t, 1280, 900)
	p.Run(browsertest.Navigate(fmt.Sprintf("%s/?lat=%v&lng=%v&lang=en", s.base, liveLat, liveLng)))
	item := func(code string) string { return `document.querySelector('#list li[data-code="` + code + `"]')` }
	pin := func(code string) string {
		return `Array.prototype.find.call(document.querySelectorAll('.leaflet-marker-pane .pin'), function (p) { return (p.getAttribute('title') || '').indexOf('시험약국` + code[len(code)-2:] + ` ') === 0; })`
	}
	p.Wait(item(a)+` && `+item(b)+` && `+item(c)+` && document.getElementById('live').classList.contains('ok')`, 15*time.Second)

	// A marker follows its outlet moved 333 m south within the view
	// (its distance in the list goes from 111 m to 222 m).
	var y0, y1 float64
	p.Eval(`(`+pin(b)+`)._leaflet_pos.y`, &y0)
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(b, "01", liveLat-0.002)), nil, 200)
	p.Wait(`(function(){ var e = `+item(b)+`; return e && e.querySelector('.o-dist') && e.querySelector('.o-dist').textContent.trim() === '222m'; })()`, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	p.Eval(`(`+pin(b)+`)._leaflet_pos.y`, &y1)
	if y1-y0 < 100 {
		t.Errorf("marker of %s moved %.0f px down the screen after the outlet moved 333 m south; want about 175 (1.9 m a pixel at zoom 16)", b, y1-y0)
	}
	// An outlet moved 3 km away leaves the list and the map.
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(c, "01", liveFar)), nil, 200)
	gone := `!` + item(c) + ` && !(` + pin(c) + `)`
	deadline := time.Now().Add(3 * time.Second)
	var ok bool
	for !ok && time.Now().Before(deadline) {
		p.Eval(gone, &ok)
		time.Sleep(50 * time.Millisecond)
	}
	if !ok {
		t.Errorf("outlet %s moved 3 km out of the view is still on the page: %q", c, p.Text(item(c)))
	}

	// Selling: a forecast in the list and in the open popup.
	for i := range 5 {
		s.mustCall("POST", "/api/v2/outlet/sales", toks[a], map[string]any{"txn_id": fmt.Sprintf("f%d", i), "buyer": born83(i + 1), "quantity": 2}, nil, 201)
		time.Sleep(200 * time.Millisecond)
	}
	fc := item(a) + `.querySelector('.o-forecast')`
	p.Wait(fc+` && !`+fc+`.hidden`, 10*time.Second)
	p.Eval(item(a)+`.querySelector('.o-main').click()`, nil)
	pop := `document.querySelector('.leaflet-popup-pane .o-forecast')`
	p.Wait(pop+` && !`+pop+`.hidden && `+pop+`.textContent.trim() !== ''`, 5*time.Second)
	t.Logf("forecast in the popup: %q", p.Text(pop))
	// Ten hours later (the page's clock), both are past and hidden.
	// Both clocks move, as when time passes: the page reads the time since
	// the server's last answer from the monotonic one.
	p.Eval(`(function(){ var now = Date.now, mono = performance.now.bind(performance); Date.now = function () { return now.call(Date) + 36e6; }; performance.now = function () { return mono() + 36e6; }; return true; })()`, nil)
	p.Wait(fc+`.hidden`, 5*time.Second)
	time.Sleep(1500 * time.Millisecond)
	var popHidden bool
	p.Eval(`(function(){ var e = `+pop+`; return !e || e.hidden || e.textContent.trim() === ''; })()`, &popHidden)
	if !popHidden {
		t.Errorf("the open popup still shows a sell-out time that has passed: %q", p.Text(pop))
	}
	p.Eval(`(function(){ var now = Date.now, mono = performance.now.bind(performance); Date.now = function () { return now.call(Date) - 36e6; }; performance.now = function () { return mono() - 36e6; }; return true; })()`, nil)

	// The server goes away: the page says its data is not live; back on
	// the same address, a change made meanwhile and one made after show.
	s.stop()
	p.Wait(`document.getElementById('live').classList.contains('down')`, 10*time.Second)
	t.Logf("while the server is away the page says %q", p.Text(`document.getElementById('live')`))
	s = startOn(t, addr, args...)
	s.mustCall("POST", "/api/v2/outlet/suspend", toks[b], map[string]any{}, nil, 200)
	p.Wait(item(b)+` && /\bs-break\b/.test(`+item(b)+`.className) && document.getElementById('live').classList.contains('ok')`, 40*time.Second)
	s.mustCall("POST", "/api/v2/outlet/resume", toks[b], map[string]any{}, nil, 200)
	p.Wait(item(b)+` && !/\bs-break\b/.test(`+item(b)+`.className)`, 5*time.Second)

	// Storage: the language choice, nothing about outlets or the person.
	var stored string
	p.Eval(`JSON.stringify({local: Object.keys(localStorage), session: Object.keys(sessionStorage), cookie: document.cookie})`, &stored)
	t.Logf("storage: %s", stored)
	if strings.Contains(stored, "950000") || strings.Contains(stored, "lat") {
		t.Errorf("the map keeps outlet or place data in storage: %s", stored)
	}
}

// TestMapMissesNothingBeforeItsStreamOpens: the map loads the outlets near
// it, then opens the stream; a change made between the two (here the
// stream's request is held by the browser while an outlet is suspended,
// as a slow network or a busy node would hold it) must still show.
func TestMapMissesNothingBeforeItsStreamOpens(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	const a = "96000001"
	s.mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(a, "01", liveLat)), nil, 200)
	tok := s.outletToken(adminToken, a)
	s.mustCall("POST", "/api/v2/outlet/deliveries", tok, map[string]any{"txn_id": "open", "quantity": 200}, nil, 201)

	p := browsertest.NewPage(t, 1280, 900)
	paused := make(chan fetch.RequestID, 4)
	go func() {
		for ev, err := range chromedp.Events(p.Ctx, fetch.RequestPaused) {
			if err != nil {
				return
			}
			paused <- ev.RequestID
		}
	}()
	if _, err := chromedp.Call(p.Ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{{URLPattern: "*/api/v2/stream*"}}}); err != nil {
		t.Fatal(err)
	}
	p.Run(browsertest.Navigate(fmt.Sprintf("%s/?lat=%v&lng=%v&lang=ko", s.base, liveLat, liveLng)))
	var held fetch.RequestID
	select {
	case held = <-paused:
	case <-time.After(15 * time.Second):
		t.Fatal("the page opened no stream")
	}
	item := `document.querySelector('#list li[data-code="` + a + `"]')`
	p.Wait(item+` && /\bs-plenty\b/.test(`+item+`.className)`, 10*time.Second)
	s.mustCall("POST", "/api/v2/outlet/suspend", tok, map[string]any{}, nil, 200)
	if _, err := chromedp.Call(p.Ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: held}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(p.Ctx, fetch.Disable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	p.Wait(`document.getElementById('live').classList.contains('ok')`, 10*time.Second)
	deadline := time.Now().Add(3 * time.Second)
	var shown bool
	for !shown && time.Now().Before(deadline) {
		p.Eval(item+` && /\bs-break\b/.test(`+item+`.className)`, &shown)
		time.Sleep(50 * time.Millisecond)
	}
	if !shown {
		t.Errorf("an outlet suspended after the page loaded and before its stream opened still shows %q 3 s after the stream opened", p.Text(item))
	}
}
