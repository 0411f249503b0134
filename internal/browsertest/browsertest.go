// Package browsertest drives Debian's Chromium through chromedp for the
// browser tests of the pages (package web, against a fake API) and of the
// real server (package e2e). Without a browser the tests skip, except under
// CI=true, where a missing browser is a failure.
package browsertest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser tests drive Debian's Chromium through chromedp against Handler
// plus a fake API. Without a browser they skip, except under CI=true, where a
// missing browser is a failure.

func ChromePath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROME"); p != "" {
		return p
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("Chromium not found (install with: apt-get install -y chromium); browser tests are required under CI=true")
	}
	t.Skip("Chromium not found: skipping browser tests (apt-get install -y chromium)")
	return ""
}

// Page is one browser tab plus what it reported: uncaught exceptions and
// CSP violations fail the test.
type Page struct {
	t   *testing.T
	Ctx context.Context
	// Dir is the browser's profile directory (its storage on disk).
	Dir  string
	mu   sync.Mutex
	errs []string
}

// NewPage starts a headless Chromium tab of w×h pixels, closed when the
// test ends; it skips when Chromium is missing (fails under CI=true).
func NewPage(t *testing.T, w, h int) *Page {
	t.Helper()
	return newPage(t, w, h)
}

// NewPageAsAUser is NewPage without --enable-automation, with which
// Chromium's password manager saves nothing and offers nothing: a test of
// what it would offer a user to save needs it off.
func NewPageAsAUser(t *testing.T, w, h int) *Page {
	t.Helper()
	return newPage(t, w, h, chromedp.Flag("enable-automation", false))
}

func newPage(t *testing.T, w, h int, extra ...chromedp.ExecAllocatorOption) *Page {
	t.Helper()
	exe := ChromePath(t)
	if testing.Short() {
		t.Skip("browser test in -short mode")
	}
	dir := t.TempDir() // before the cancel below, so Chromium is gone when it is removed
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe), chromedp.UserDataDir(dir), chromedp.WindowSize(w, h),
		chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true), chromedp.Flag("lang", "ko-KR"), chromedp.Flag("accept-lang", "ko-KR,ko"),
	)
	opts = append(opts, extra...)
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	ctx, tcancel := context.WithTimeout(ctx, 120*time.Second)
	t.Cleanup(func() { tcancel(); cancel(); acancel() })
	p := &Page{t: t, Ctx: ctx, Dir: dir}
	exceptions := chromedp.Events(ctx, runtime.ExceptionThrown)
	logs := chromedp.Events(ctx, cdplog.EntryAdded)
	go func() {
		for ev, err := range exceptions {
			if err != nil {
				return
			}
			d := ev.ExceptionDetails
			msg := d.Text
			if d.Exception != nil {
				msg += " " + d.Exception.Description + " " + string(d.Exception.Value)
			}
			if d.StackTrace != nil {
				for _, f := range d.StackTrace.CallFrames {
					msg += fmt.Sprintf("\n    at %s (%s:%d:%d)", f.FunctionName, f.URL, f.LineNumber, f.ColumnNumber)
				}
			}
			p.Fail(fmt.Sprintf("JS exception: %s (%s:%d)", msg, d.URL, d.LineNumber))
		}
	}()
	go func() {
		for ev, err := range logs {
			if err != nil {
				return
			}
			if strings.Contains(ev.Entry.Text, "Content Security Policy") || strings.Contains(ev.Entry.Text, "Refused to") {
				p.Fail("CSP: " + ev.Entry.Text)
			}
		}
	}()
	if _, err := chromedp.Call(ctx, cdplog.Enable, cdp.Empty{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		time.Sleep(100 * time.Millisecond) // late log entries
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, e := range p.errs {
			t.Error(e)
		}
	})
	return p
}

// Close shuts the browser down as a user would, so that it writes what it
// keeps to its profile (Dir); the page cannot be used after.
func (p *Page) Close() {
	p.t.Helper()
	if err := chromedp.Cancel(p.Ctx); err != nil {
		p.t.Fatal(err)
	}
}

func (p *Page) Fail(s string) {
	p.mu.Lock()
	p.errs = append(p.errs, s)
	p.mu.Unlock()
}

func (p *Page) Run(actions ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.Ctx, actions...); err != nil {
		p.t.Fatal(err)
	}
}

// Eval evaluates a JS expression (promises awaited) into out (nil: ignored).
func (p *Page) Eval(expr string, out any) {
	p.t.Helper()
	if out == nil {
		if err := chromedp.Do(p.Ctx, chromedp.Evaluate[chromedp.Void](expr, chromedp.EvalAwaitPromise)); err != nil {
			p.t.Fatal(err)
		}
		return
	}
	raw, err := chromedp.Run(p.Ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err != nil {
		p.t.Fatalf("%s: %v", expr, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		p.t.Fatalf("%s: %v (%s)", expr, err, raw)
	}
}

func (p *Page) Text(expr string) string {
	p.t.Helper()
	var s string
	p.Eval(`(function(){ var e = `+expr+`; return e ? e.textContent.trim() : ''; })()`, &s)
	return s
}

// Wait polls a boolean JS expression until it holds; it returns how long that took.
func (p *Page) Wait(expr string, timeout time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	for {
		ok, err := chromedp.Run(p.Ctx, chromedp.Evaluate[bool](`Promise.resolve(`+expr+`).then(function (v) { return !!v; })`, chromedp.EvalAwaitPromise))
		if err == nil && ok {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			txt, _ := chromedp.Run(p.Ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 3000) : ''`))
			p.t.Fatalf("timed out after %v waiting for %s (%v)\npage text:\n%s", timeout, expr, err, txt)
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// Clear empties a text field as a user would, with an input event.
func (p *Page) Clear(id string) {
	p.t.Helper()
	p.Eval(`(function(){ var e = document.getElementById('`+id+`'); e.value = ''; e.dispatchEvent(new Event('input')); })()`, nil)
}

func (p *Page) Screenshot(name string) string {
	p.t.Helper()
	buf, err := chromedp.Run(p.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatal(err)
	}
	path := filepath.Join(p.t.TempDir(), name)
	if err := os.WriteFile(path, buf, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot %s", path)
	return path
}

// Navigate loads a URL in the tab.
func Navigate(url string) chromedp.Action[chromedp.Void] { return chromedp.Navigate(url) }

// NewTab opens a second tab in the same browser (same profile, storage and
// service worker), closed with the browser.
func (p *Page) NewTab() *Page {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.Ctx)
	p.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		p.t.Fatal(err)
	}
	return &Page{t: p.t, Ctx: ctx, Dir: p.Dir}
}
