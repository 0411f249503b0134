package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/publicmask/publicmask/internal/browsertest"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

// TestNoRawIDAfterARush: after `publicmask rush` drove a server (sales with
// valid, mistyped and repeated IDs), neither the server's output (at debug
// level) nor any of its database files holds anything shaped like a
// registration number with a valid check digit.
func TestNoRawIDAfterARush(t *testing.T) {
	dir := realRunDir(t, "runs a real server and a rush")
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--log-level", "debug", "--clock", "2020-03-11T08:00:00+09:00")
	rush := exec.Command(binary(t), "rush", "--target", s.base, "--admin-token", adminToken, "--duration", "5s",
		"--outlets", "200", "--sales-rate", "300", "--read-rate", "300", "--quiet", "--report", filepath.Join(t.TempDir(), "report"))
	if out, err := rush.CombinedOutput(); err != nil {
		t.Fatalf("rush: %v\n%s", err, out)
	}
	s.stop()
	check := func(where string, data []byte) {
		for _, m := range rrnShaped.FindAllSubmatch(data, -1) {
			if rrntest.HasCheckDigit(string(m[1]) + string(m[2])) {
				t.Fatalf("a registration number with a valid check digit in %s", where)
			}
		}
	}
	// The detector itself: it must see an ID in a log line or a record,
	// and must not see one inside a hex person key.
	for sample, want := range map[string]bool{
		`{"buyer":"830315-1234561"}`: true, "\x03" + "8303151234561" + "\x00": true,
		"9f8303151234561ab": false, `"830315-1234567"`: false, // a hex key; a bad check digit
	} {
		found := false
		for _, m := range rrnShaped.FindAllSubmatch([]byte(sample), -1) {
			found = found || rrntest.HasCheckDigit(string(m[1])+string(m[2]))
		}
		if found != want {
			t.Fatalf("detector on %q = %v, want %v", sample, found, want)
		}
	}
	check("the server's output", []byte(s.Logs()))
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) < 2 {
		t.Fatalf("database files: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(filepath.Base(f), data)
	}
}

// TestNoRawIDAsOutletCode: an outlet code is a client-supplied string that
// the store keeps, the open data API serves and the access log names
// (DESIGN.md §2: the raw number never reaches the store or a log; §6.4:
// refuse runs that parse as a registration number). An import row whose
// code is a registration number is rejected without echoing it, as a name
// or an address holding one is, and no token or delivery can name it.
func TestNoRawIDAsOutletCode(t *testing.T) {
	dir := realRunDir(t, "runs a real server")
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--log-level", "debug", "--clock", "2020-03-11T08:00:00+09:00")
	raw := id("830315", '1', 61)
	csv := "code,name,addr,type,lat,lng\n" +
		raw + ",가약국,서울특별시 강북구 솔매로 38 (미아동),01,37.62,127.0164\n" +
		"99000001,나약국,서울특별시 강북구 솔매로 40 (미아동),01,37.621,127.0164\n"
	var imp struct {
		Upserted int `json:"upserted"`
		Rejected []struct {
			Line   int    `json:"line"`
			Code   string `json:"code"`
			Reason string `json:"reason"`
		} `json:"rejected"`
	}
	code, _, body, err := s.send("PUT", "/api/v2/admin/outlets", adminToken, csv)
	if err != nil || code != 200 {
		t.Fatalf("import = %d, %v: %s", code, err, body)
	}
	if err := json.Unmarshal(body, &imp); err != nil {
		t.Fatal(err)
	}
	if imp.Upserted != 1 || len(imp.Rejected) != 1 || imp.Rejected[0].Line != 2 || imp.Rejected[0].Reason == "" {
		t.Fatalf("import with a registration number as a code: %s; want that row rejected, the other upserted", body)
	}
	// JSON (the 2020 storeInfos shape) too.
	code, _, body, err = s.send("PUT", "/api/v2/admin/outlets", adminToken, map[string]any{"storeInfos": []map[string]any{
		{"code": raw, "name": "다약국", "addr": "서울특별시 강북구 솔매로 42 (미아동)", "type": "01", "lat": 37.622, "lng": 127.0164}}})
	if err != nil || code != 200 || !strings.Contains(string(body), `"upserted":0`) {
		t.Fatalf("JSON import with a registration number as a code = %d, %v: %s", code, err, body)
	}
	// Nothing may name it.
	for _, c := range []struct {
		path string
		body any
	}{
		{"/api/v2/admin/tokens", map[string]string{"role": "outlet", "outlet": raw}},
		{"/api/v2/admin/tokens/bulk", map[string]any{"outlets": []string{raw}}},
		{"/api/v2/admin/deliveries", []map[string]any{{"outlet": raw, "quantity": 5, "txn_id": "d1"}}},
	} {
		code, _, body, err := s.send("POST", c.path, adminToken, c.body)
		if err != nil {
			t.Fatal(err)
		}
		if code < 400 && !strings.Contains(string(body), `"ok":false`) || strings.Contains(string(body), raw) {
			t.Errorf("POST %s naming a registration number as an outlet = %d: %s", c.path, code, body)
		}
	}
	code, _, body, _ = s.send("GET", "/corona19-masks/v1/stores/json", "", nil)
	if code != 200 || strings.Contains(string(body), raw) {
		t.Fatalf("stores/json = %d: %s", code, body)
	}
	s.stop()
	if strings.Contains(s.Logs(), raw) {
		t.Error("the server's log holds the registration number")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(raw)) {
			t.Errorf("%s holds the registration number", filepath.Base(f))
		}
	}
}

// rrnShaped: 6 + 7 digits, optionally hyphenated, not inside a longer run of
// letters or digits (person keys are hex and may hold long digit runs).
var rrnShaped = regexp.MustCompile(`(?:^|[^0-9A-Za-z])(\d{6})-?([1-8]\d{6})(?:[^0-9A-Za-z]|$)`)

// TestCounterLeavesNoIDInTheBrowser: no raw ID at rest anywhere, the
// counter's offline outbox in the browser included (DESIGN.md §2). A
// pharmacist sells online with the digits hidden and shown, for a proxy,
// checks only, sells offline into the outbox, reloads during the outage,
// leaves an ID typed but not sold, and the outbox is sent when the server
// is back. Then the browser is closed as a user would close it, and no file
// of its profile on disk (IndexedDB, local and session storage, Cache
// Storage, the HTTP cache, the autofill and password databases, the
// session-restore files) holds any of those IDs, in ASCII or in UTF-16.
func TestCounterLeavesNoIDInTheBrowser(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, addr := newCounter(t, 1280, 900)
	c.signIn()
	c.Wait(`navigator.serviceWorker.controller !== null || navigator.serviceWorker.ready.then(function () { return true; })`, 10*time.Second)
	var ids []string
	use := func(v string) string { ids = append(ids, v); return v }

	c.typeID(use(born83(40)))
	c.waitResult("ok", "판매 완료 2개", 5*time.Second)
	c.key("v", chromedp.ModifierAlt) // the digits shown: a text field
	c.Clear("buyer")
	hyphened := use(born83(41))
	c.Run(browsertest.Keys(hyphened[:6]+"-"+hyphened[6:]), browsertest.Enter())
	c.waitResult("ok", "판매 완료", 5*time.Second)
	// A parent on the wrong day buys only for a child (born 2013).
	c.Clear("buyer")
	c.Run(browsertest.Keys(use(id("840315", '1', 42))))
	c.Clear("qty")
	c.Run(chromedp.SendKeys(chromedp.CSS(`#qty`), "0"))
	c.Run(chromedp.Click(chromedp.CSS(`#add-proxy`)))
	c.Wait(`document.activeElement && document.activeElement.classList.contains('p-id')`, 2*time.Second)
	c.Run(browsertest.Keys(use(id("130301", '3', 43))))
	c.Run(chromedp.Focus(chromedp.CSS(`#buyer`)), browsertest.Enter())
	c.waitResult("ok", "판매 완료", 5*time.Second)
	c.Clear("buyer")
	c.Run(browsertest.Keys(use(born83(44))))
	c.key("k", chromedp.ModifierAlt)
	c.Wait(`/판매 가능|판매 불가/.test(document.getElementById('result').textContent)`, 5*time.Second)

	c.s.stop()
	c.typeID(use(born83(45)))
	c.waitResult("queued", "이 기기에 저장함", 5*time.Second)
	c.Run(chromedp.Reload())
	c.Wait(`!document.getElementById('app').hidden && document.getElementById('conn').textContent.indexOf('연결 안 됨') >= 0`, 10*time.Second)
	c.typeID(use(born83(46)))
	c.waitResult("queued", "이 기기에 저장함", 5*time.Second)
	c.Clear("buyer")
	c.Run(browsertest.Keys(use(born83(47)))) // typed, never sold

	c.s = startOn(t, addr, counterArgs(c.dir)...)
	c.Wait(`document.querySelectorAll('#outbox li').length === 0 && document.getElementById('sync-summary').textContent.indexOf('전송 2건') >= 0`, 20*time.Second)
	c.Run(chromedp.Navigate(c.s.base + "/outlet?lang=en"))
	c.Wait(`document.documentElement.lang === 'en' && !document.getElementById('app').hidden`, 10*time.Second)
	c.typeID(use(born83(48)))
	c.waitResult("ok", "Sold 2 masks", 5*time.Second)
	c.Close()

	scanProfile(t, c.Page.Dir, ids)
}

// scanProfile fails t for each file of a browser's profile dir (closed as
// a user closes it) that holds one of ids, in ASCII or UTF-16, with or
// without the hyphen.
func scanProfile(t *testing.T, dir string, ids []string) {
	t.Helper()
	var forms [][]byte
	for _, v := range ids {
		for _, s := range []string{v, v[:6] + "-" + v[6:]} {
			forms = append(forms, []byte(s), utf16le(s))
		}
	}
	n := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !d.Type().IsRegular() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil // a lock or socket file
		}
		n++
		for _, f := range forms {
			if bytes.Contains(data, f) {
				rel, _ := filepath.Rel(dir, path)
				t.Errorf("the browser's profile holds a buyer's ID in %s", rel)
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 20 {
		t.Fatalf("only %d files in the browser's profile: not the profile?", n)
	}
	t.Logf("%d files of the browser's profile scanned for %d IDs", n, len(ids))
}

func utf16le(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		b = append(b, s[i], 0)
	}
	return b
}

// TestErrorBodiesEchoNoRegistrationNumber: an error answer may quote what
// the client sent (an address typed into the map's search), but never a
// registration number in it — the answer passes proxies and lands in
// clients' logs. Every refusal still says what was wrong.
func TestErrorBodiesEchoNoRegistrationNumber(t *testing.T) {
	dir := realRunDir(t, "runs a real server")
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--clock", "2020-03-11T08:00:00+09:00")
	codes, tokens := setupOutlets(t, s, 1, 100)
	tok := tokens[codes[0]]
	raw := born83(9)
	hyph := raw[:6] + "-" + raw[6:]
	for _, c := range []struct {
		method, path, token string
		body                any
		status              int
	}{
		{"GET", "/corona19-masks/v1/storesByAddr/json?address=" + raw, "", nil, 400},
		{"GET", "/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape("서울특별시 "+hyph), "", nil, 400},
		{"GET", "/corona19-masks/v1/storesByAddr/json?address=" + url.QueryEscape("강북구 "+raw+"동"), "", nil, 400},
		{"GET", "/api/v2/rules?date=" + raw, "", nil, 400},
		{"GET", "/api/v2/outlets/near?lat=37&lng=127&status=" + raw, "", nil, 400},
		{"POST", "/api/v2/outlet/sales", tok, map[string]any{raw: 1}, 400},
		{"POST", "/api/v2/outlet/sales", tok, map[string]any{"txn_id": raw, "buyer": raw, "quantity": 1}, 400},
		{"POST", "/api/v2/outlet/sales", tok, map[string]any{"txn_id": "e1", "buyer": raw, "quantity": 1,
			"on_behalf_of": []map[string]any{{"id": raw, "category": raw, "quantity": 1}}}, 400},
		{"POST", "/api/v2/outlet/sales/" + raw + "/cancel", tok, nil, 400},
		{"POST", "/api/v2/admin/tokens", adminToken, map[string]any{"role": raw}, 400},
	} {
		code, _, body, err := s.send(c.method, c.path, c.token, c.body)
		if err != nil {
			t.Fatal(err)
		}
		var e struct {
			Error struct{ Code, Message string }
		}
		json.Unmarshal(body, &e)
		if code != c.status || e.Error.Code == "" || e.Error.Message == "" {
			t.Errorf("%s %s = %d %s, want %d with a JSON error", c.method, c.path, code, body, c.status)
		}
		if strings.Contains(string(body), raw[6:]) {
			t.Errorf("%s %s echoes the registration number: %s", c.method, c.path, body)
		}
	}
}

// formsQuery is what a native submission of every form of the page would
// put into a URL: what the browser sends, and keeps in its history, when a
// form is submitted before the page's script has taken it over (a slow
// phone, a script that failed to load).
const formsQuery = `Array.from(document.forms).map(function (f) {
	return new URLSearchParams(new FormData(f)).toString(); }).join('&')`

// TestFormsPutNoTypedIDInAURL: an ID typed into a field of the map or the
// counter is never a named form field, so that a native submission (Enter
// before the script has loaded) cannot put it into the URL, the browser's
// history, the Referer of the page's requests and the proxies' logs.
func TestFormsPutNoTypedIDInAURL(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounter(t, 1280, 900)
	raw := born83(60)

	c.Run(chromedp.Navigate(c.s.base + "/?lang=ko"))
	c.Wait(`document.getElementById('addr') !== null`, 10*time.Second)
	// A citizen who types their number into the search box, and a birth
	// year into the rules form.
	c.Run(chromedp.SendKeys(chromedp.CSS(`#addr`), raw), chromedp.SendKeys(chromedp.CSS(`#rules-year`), "1983"))
	var q string
	c.Eval(formsQuery, &q)
	if strings.Contains(q, raw[6:]) {
		t.Errorf("the map's forms would submit %q", q)
	}

	c.signIn()
	c.Clear("buyer")
	c.Run(browsertest.Keys(raw))
	c.Run(chromedp.Click(chromedp.CSS(`#add-proxy`)))
	c.Wait(`document.activeElement && document.activeElement.classList.contains('p-id')`, 2*time.Second)
	c.Run(browsertest.Keys(id("130301", '3', 61)))
	c.Eval(formsQuery, &q)
	if strings.Contains(q, raw[6:]) || strings.Contains(q, id("130301", '3', 61)[6:]) {
		t.Errorf("the counter's forms would submit %q", q)
	}
}

// TestDatabasePasswordShownNowhere: a PostgreSQL password given in --db —
// in the URL's user information or, as libpq and pgx also take it, as a
// query parameter — appears neither in the node's output (the journal,
// under systemd) nor in /debug/pprof/cmdline; and a libpq key=value string,
// which --db does not read as PostgreSQL, is refused before anything is
// written, rather than becoming the name of a SQLite file holding it.
func TestDatabasePasswordShownNowhere(t *testing.T) {
	skipShort(t, "runs a real server")
	u, err := url.Parse(pgDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	pw, _ := u.User.Password()
	if pw == "" {
		t.Skip("the test database's DSN has no password")
	}
	u.User = url.User(u.User.Username())
	q := u.Query()
	q.Set("password", pw)
	u.RawQuery = q.Encode()
	dir := t.TempDir()
	dbg := freeAddr(t)
	s := start(t, "--db", u.String(), "--secret-file", secretFile(t, dir), "--seed", "none", "--debug-addr", dbg)
	waitUntil(t, 5*time.Second, "the debug listener", func() bool {
		resp, err := http.Get("http://" + dbg + "/debug/pprof/cmdline")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.Contains(string(b), "password="+pw) || !strings.Contains(string(b), "password=REDACTED") {
			t.Fatalf("/debug/pprof/cmdline: %q", b)
		}
		return true
	})
	s.stop()
	if strings.Contains(s.Logs(), "password="+pw) {
		t.Errorf("the node's output holds the database password:\n%s", s.Logs())
	}

	work := t.TempDir()
	kv := fmt.Sprintf("host=%s port=%s user=%s password=%s dbname=%s", u.Hostname(), u.Port(), u.User.Username(), pw, strings.TrimPrefix(u.Path, "/"))
	cmd := exec.Command(binary(t), "serve", "--addr", freeAddr(t), "--db", kv, "--seed", "none", "--admin-token", adminToken)
	cmd.Dir = work
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "postgres://") || strings.Contains(string(out), "password="+pw) {
		t.Errorf("--db with a key=value string: %v\n%s", err, out)
	}
	if files, _ := os.ReadDir(work); len(files) != 0 {
		t.Errorf("--db with a key=value string wrote %d files, the first %q", len(files), files[0].Name())
	}
}
