package web

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn"
)

func catalogue(t *testing.T, lang string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile("i18n/outlet." + lang + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]string
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("outlet.%s.json: %v", lang, err)
	}
	return m
}

// Every string the counter page shows comes from its catalogue, and every
// catalogue has every key.
func TestCounterCatalogues(t *testing.T) {
	cats := map[string]map[string]string{}
	for _, l := range pageLangs {
		cats[l] = catalogue(t, l)
	}
	for k := range cats["ko"] {
		for _, l := range pageLangs {
			if _, ok := cats[l][k]; !ok {
				t.Errorf("%s: key %q missing", l, k)
			}
		}
	}
	for _, l := range pageLangs {
		if len(cats[l]) != len(cats["ko"]) {
			t.Errorf("%s has %d keys, ko %d", l, len(cats[l]), len(cats["ko"]))
		}
	}
	html, _ := os.ReadFile("pages/outlet.html")
	// The page's own modules: every counter asset under js/ but the shared ones.
	var js []byte
	scripts := map[string][]byte{}
	for _, n := range counterAssets {
		if strings.HasPrefix(n, "js/") && n != "js/common.js" && n != "js/i18n.js" && n != "js/idcheck.js" {
			b, err := os.ReadFile("static/" + n)
			if err != nil {
				t.Fatal(err)
			}
			scripts[n] = b
			js = append(js, b...)
		}
	}
	if len(scripts) < 5 {
		t.Fatalf("found %d counter modules", len(scripts))
	}
	var used []string
	for _, m := range regexp.MustCompile(`data-msg="([^"]+)"`).FindAllStringSubmatch(string(html), -1) {
		used = append(used, m[1])
	}
	for _, m := range regexp.MustCompile(`T\('([a-z_.]+)'[,)]`).FindAllStringSubmatch(string(js), -1) {
		used = append(used, m[1])
	}
	// Keys built at run time: one per category, reason code, status, typo.
	for _, c := range policy.Categories() {
		used = append(used, "cat."+c)
	}
	for _, c := range []string{"not_eligible_today", "quota_exceeded", "proxy_not_allowed", "sales_closed", "outlet_closed",
		"out_of_stock", "sales_suspended", "late_sale_too_old", "late_while_online", "invalid_id", "txn_conflict"} {
		used = append(used, "reason."+c)
	}
	for _, s := range []string{"plenty", "some", "few", "empty", "break", "unknown"} {
		used = append(used, "stat."+s)
	}
	for _, k := range []string{rrn.KindEmpty, rrn.KindChars, rrn.KindLength, rrn.KindHyphen, rrn.KindCentury, rrn.KindDate, rrn.KindCheck} {
		used = append(used, "typo."+k)
	}
	if len(used) < 100 {
		t.Fatalf("found only %d message uses: the patterns no longer match the page", len(used))
	}
	for _, k := range used {
		if _, ok := cats["ko"][k]; !ok {
			t.Errorf("message %q used by the counter page is not in the catalogue", k)
		}
	}
	// No Korean text outside the catalogue (the page's own strings).
	hangul := regexp.MustCompile(`[\x{AC00}-\x{D7A3}]`)
	scripts["outlet.html"] = html
	for name, b := range scripts {
		for i, line := range strings.Split(string(b), "\n") {
			if hangul.MatchString(line) && !strings.HasPrefix(strings.TrimSpace(line), "//") {
				t.Errorf("%s:%d: text outside the catalogue: %s", name, i+1, strings.TrimSpace(line))
			}
		}
	}
	if ko := cats["ko"]["typo.check"]; ko != "마지막 자리가 맞지 않습니다" {
		t.Errorf("typo.check = %q", ko)
	}
}

// The counter and everything it loads are under /outlet/, its service
// worker may control /outlet, and the map's files are not served there.
func TestCounterServedUnderOutlet(t *testing.T) {
	h := Handler(Options{})
	page := body(t, get(t, h, "/outlet"))
	refs := regexp.MustCompile(`(?:src|href)="(/[^"]+)"`).FindAllStringSubmatch(page, -1)
	if len(refs) < 6 {
		t.Fatalf("page references %d assets", len(refs))
	}
	for _, m := range refs {
		if !strings.HasPrefix(m[1], "/outlet/v-") {
			t.Errorf("counter asset outside /outlet/: %s", m[1])
		}
		r := get(t, h, m[1])
		if r.StatusCode != 200 || !strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("%s: %d %q", m[1], r.StatusCode, r.Header.Get("Cache-Control"))
		}
	}
	sw := get(t, h, "/outlet/sw.js")
	swb := body(t, sw)
	if sw.StatusCode != 200 || sw.Header.Get("Service-Worker-Allowed") != "/outlet" || sw.Header.Get("Cache-Control") != "no-cache" ||
		!strings.HasPrefix(sw.Header.Get("Content-Type"), "text/javascript") {
		t.Fatalf("sw.js: %d %v", sw.StatusCode, sw.Header)
	}
	for _, m := range refs {
		if !strings.Contains(swb, `"`+m[1]+`"`) {
			t.Errorf("the service worker does not cache %s", m[1])
		}
	}
	if !strings.Contains(swb, `"/outlet"`) {
		t.Error("the service worker does not cache the page")
	}
	for _, p := range []string{"/outlet/js/map.js", "/outlet/vendor/leaflet/leaflet.js", "/outlet/v-x/js/status.js"} {
		if r := get(t, h, p); r.StatusCode != 404 {
			t.Errorf("%s: %d, want 404 (not a counter asset)", p, r.StatusCode)
		}
	}
	if r := get(t, h, "/outlet/js/outlet.js"); r.StatusCode != 200 || strings.Contains(r.Header.Get("Cache-Control"), "immutable") {
		t.Errorf("unversioned asset: %d %q", r.StatusCode, r.Header.Get("Cache-Control"))
	}
}

// The browser's ID check (idcheck.js, driven by rrn.CheckRules as served)
// gives every vector of rrn/testdata/vectors.json the result rrn.Parse
// gives it.
func TestIDCheckJSVectors(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("node not found: the JavaScript ID check is tested under CI=true (apt-get install nodejs)")
		}
		t.Skip("node not found")
	}
	on, _ := json.Marshal(rrn.CheckRules(true))
	off, _ := json.Marshal(rrn.CheckRules(false))
	abs, _ := filepath.Abs("static/js/idcheck.js")
	vec, _ := filepath.Abs("../rrn/testdata/vectors.json")
	script := `
require(` + jsString(abs) + `);
const v = require(` + jsString(vec) + `);
const rules = {true: ` + string(on) + `, false: ` + string(off) + `};
const out = v.cases.map(c => {
  const r = globalThis.IDCheck.parse(c.id, rules[c.verify_check_digit]);
  const bd = r.ok ? [r.year, String(r.month).padStart(2, '0'), String(r.day).padStart(2, '0')].join('-') : '';
  return {id: c.id, ok: r.ok, kind: r.ok ? '' : r.kind, birth_date: bd, foreign: !!r.foreign};
});
console.log(JSON.stringify(out));
`
	outb, err := exec.Command(node, "-e", script).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s", err, outb)
	}
	var got []struct {
		ID        string `json:"id"`
		OK        bool   `json:"ok"`
		Kind      string `json:"kind"`
		BirthDate string `json:"birth_date"`
		Foreign   bool   `json:"foreign"`
	}
	if err := json.Unmarshal(outb, &got); err != nil {
		t.Fatalf("%v: %s", err, outb)
	}
	raw, _ := os.ReadFile(vec)
	var want struct {
		Cases []struct {
			ID        string `json:"id"`
			Verify    bool   `json:"verify_check_digit"`
			Valid     bool   `json:"valid"`
			Kind      string `json:"kind"`
			BirthDate string `json:"birth_date"`
			Note      string `json:"note"`
		} `json:"cases"`
	}
	json.Unmarshal(raw, &want)
	if len(got) != len(want.Cases) || len(got) < 40 {
		t.Fatalf("%d results for %d vectors", len(got), len(want.Cases))
	}
	kinds := map[string]bool{}
	for i, w := range want.Cases {
		g := got[i]
		// The Go side: the same vector through rrn.Parse.
		_, perr := rrn.Parse(w.ID, w.Verify)
		if (perr == nil) != w.Valid || rrn.Kind(perr) != w.Kind {
			t.Errorf("Go %q (%s): err %v, want valid %v kind %q", w.ID, w.Note, perr, w.Valid, w.Kind)
		}
		if g.OK != w.Valid || g.Kind != w.Kind || (w.Valid && g.BirthDate != w.BirthDate) {
			t.Errorf("JS %q (%s): ok %v kind %q born %s; want valid %v kind %q born %s", w.ID, w.Note, g.OK, g.Kind, g.BirthDate, w.Valid, w.Kind, w.BirthDate)
		}
		kinds[w.Kind] = true
	}
	var ks []string
	for k := range kinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range []string{rrn.KindLength, rrn.KindChars, rrn.KindDate, rrn.KindCheck} {
		if !kinds[k] {
			t.Errorf("no vector of kind %q (have %v)", k, ks)
		}
	}
}

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }
