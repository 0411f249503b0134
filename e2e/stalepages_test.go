package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestStaleSnapshotMarkedOnPages: a public node whose store is unreachable
// keeps serving its last snapshot (§4.5), and its pages must say so. The
// operations page showed "✔ as of <now>" in green over a snapshot minutes
// old (the age a plain number among the others), and /overview "as of
// <time>" with nothing to tell a reader that the figures had stopped.
// Beyond the PublicmaskSnapshotStale alert's 10 s, both mark it, in each
// language; with the store up neither does.
func TestStaleSnapshotMarkedOnPages(t *testing.T) {
	skipShort(t, "runs real processes, PostgreSQL and Chromium")
	pub, ctl := publicNodeOnOwnPG(t)
	p := browsertest.NewPage(t, 1280, 900) // skips without Chromium (fails under CI)

	str := func(js string) string {
		t.Helper()
		var v string
		p.Eval(`String(`+js+`)`, &v)
		return v
	}
	metaOf := `document.getElementById('meta')`
	age := `document.querySelector('[data-metric=snapshot_age]')`
	p.Run(browsertest.Navigate(pub.base + "/status?lang=en"))
	p.Wait(age+` && /\d/.test(`+age+`.textContent)`, 10*time.Second)
	if cls, meta := str(age+`.className`), str(metaOf+`.textContent`); strings.Contains(cls, "bad") || !strings.HasPrefix(meta, "✔") {
		t.Fatalf("store up: snapshot age %q (class %q), header %q; want neither marked", str(age+`.textContent`), cls, meta)
	}

	ctl("stop")
	waitStatusAge(t, pub, func(ms float64) bool { return ms > 12000 }, 30*time.Second)
	pub.mustCall("GET", "/readyz", "", nil, nil, 200) // it keeps serving (§4.5)

	words := map[string]struct{ status, overview string }{
		"en": {"not confirmed", "out of date"},
		"ko": {"확인하지 못했습니다", "최신이 아닐 수"},
	}
	for _, lang := range []string{"en", "ko"} {
		w := words[lang]
		p.Run(browsertest.Navigate(pub.base + "/status?lang=" + lang))
		p.Wait(age+` && /\d/.test(`+age+`.textContent)`, 10*time.Second)
		cls, meta := str(age+`.className`), str(metaOf+`.textContent`)
		metaCls := str(metaOf + `.className`)
		if !strings.Contains(cls, "bad") || strings.HasPrefix(meta, "✔") || !strings.Contains(metaCls, "bad") || !strings.Contains(meta, w.status) {
			t.Errorf("/status?lang=%s, store down: snapshot age %q (class %q), header %q (class %q); want both marked stale (%q)",
				lang, str(age+`.textContent`), cls, meta, metaCls, w.status)
		}
		p.Run(browsertest.Navigate(pub.base + "/overview?lang=" + lang))
		p.Wait(metaOf+` && /\d/.test(`+metaOf+`.textContent)`, 10*time.Second)
		// The stale mark needs the server's time (from /api/v2/status).
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(str(metaOf+`.textContent`), w.overview) && time.Now().Before(deadline) {
			time.Sleep(200 * time.Millisecond)
		}
		if meta, metaCls := str(metaOf+`.textContent`), str(metaOf+`.className`); !strings.Contains(meta, w.overview) || !strings.Contains(metaCls, "bad") {
			t.Errorf("/overview?lang=%s, store down: header %q (class %q); want it marked stale (%q)", lang, meta, metaCls, w.overview)
		}
	}
	if t.Failed() {
		fmt.Println(pub.Logs()[:min(len(pub.Logs()), 2000)])
	}
}

// TestNoStaleMarkOnAFastClock: a healthy node on a simulated clock
// (--clock-rate 60: a minute of service time a second) confirms its
// snapshot every second of real time, so its pages must not call its data
// stale: the mark is judged in real time, not by comparing clocks.
func TestNoStaleMarkOnAFastClock(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	p := browsertest.NewPage(t, 1280, 900) // skips without Chromium (fails under CI)
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none",
		"--clock", "2020-03-11T08:00:00+09:00", "--clock-rate", "60")
	setupOutlets(t, s, 2, 500)
	str := func(js string) string {
		t.Helper()
		var v string
		p.Eval(`String(`+js+`)`, &v)
		return v
	}
	metaOf := `document.getElementById('meta')`
	for _, page := range []string{"/overview?lang=en", "/status?lang=en"} {
		p.Run(browsertest.Navigate(s.base + page))
		p.Wait(metaOf+` && /\d/.test(`+metaOf+`.textContent)`, 10*time.Second)
		for end := time.Now().Add(13 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
			if meta, cls := str(metaOf+`.textContent`), str(metaOf+`.className`); strings.Contains(cls, "bad") || strings.Contains(meta, "⚠") {
				t.Fatalf("%s on a healthy node at --clock-rate 60: header %q (class %q)", page, meta, cls)
			}
		}
	}
}

// publicNodeOnOwnPG starts a ledger node with three outlets of 500 masks
// and a public node on a PostgreSQL cluster of the test's own, which ctl
// stops and starts.
func publicNodeOnOwnPG(t *testing.T) (*server, func(cmd string)) {
	t.Helper()
	dsn, ctl := pgCluster(t)
	secret := secretFile(t, t.TempDir())
	clock := []string{"--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	al := freeAddr(t)
	l := startExact(t, al, append([]string{"serve", "--addr", al, "--role", "ledger", "--db", dsn, "--secret-file", secret, "--admin-token", adminToken}, clock...)...)
	setupOutlets(t, l, 3, 500)
	ap := freeAddr(t)
	pub := startExact(t, ap, append([]string{"serve", "--addr", ap, "--role", "public", "--db", dsn}, clock...)...)
	return pub, ctl
}
