package e2e

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestCounterOffersNoIDToThePasswordManager: Chromium's password manager
// takes the value of a type=password field for a password, whatever its
// autocomplete="off". On main (session 43) the buyer's and the proxies'
// ID fields were password fields: an ID typed and the page then left (the
// language link, a reload) made Chromium 156 decide "ASK the user" — a
// "save password?" bubble holding a buyer's registration number, one click
// from its password store (and the account it syncs to). The fields are
// now text fields masked by CSS. The sign-in token stays a password.
//
// What Chromium decides is read from chrome://password-manager-internals,
// in a browser without --enable-automation (with it, saving is disabled).
// The existing TestCounterLeavesNoIDInTheBrowser scans the profile for IDs
// at rest; this one adds the password manager's view and a profile of a
// browser not under automation.
func TestCounterOffersNoIDToThePasswordManager(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	c, _ := newCounterOn(t, browsertest.NewPageAsAUser(t, 1280, 900))
	internals := c.NewTab()
	internals.Run(chromedp.Navigate("chrome://password-manager-internals/"))
	internals.Wait(`document.body && document.body.innerText.indexOf('Password Manager Internals') >= 0`, 10*time.Second)

	var ids []string
	use := func(v string) string { ids = append(ids, v); return v }
	c.signIn()
	// Hidden as typed, shown with Alt+V.
	var masked string
	c.Eval(`getComputedStyle(document.getElementById('buyer')).webkitTextSecurity`, &masked)
	if masked != "disc" {
		t.Errorf("the buyer's ID field: -webkit-text-security %q, want disc (hidden as typed)", masked)
	}
	c.typeID(use(born83(40)))
	c.waitResult("ok", "판매 완료 2개", 5*time.Second)
	// A parent buying for a child: the proxy's ID field too.
	c.Clear("buyer")
	c.Run(browsertest.Keys(use(id("840315", '1', 42))))
	c.Clear("qty")
	c.Run(chromedp.SendKeys(chromedp.CSS(`#qty`), "0"))
	c.Run(chromedp.Click(chromedp.CSS(`#add-proxy`)))
	c.Wait(`document.activeElement && document.activeElement.classList.contains('p-id')`, 2*time.Second)
	c.Eval(`getComputedStyle(document.activeElement).webkitTextSecurity`, &masked)
	if masked != "disc" {
		t.Errorf("a proxy's ID field: -webkit-text-security %q, want disc", masked)
	}
	c.Run(browsertest.Keys(use(id("130301", '3', 43))))
	// The page left with IDs typed, unsold: the buyer's and a proxy's.
	c.Run(chromedp.Focus(chromedp.CSS(`#buyer`)), browsertest.Keys(use(born83(41))))
	c.Run(chromedp.Click(chromedp.CSS(`#lang`)))
	c.Wait(`document.documentElement.lang === 'en' && !document.getElementById('app').hidden`, 10*time.Second)
	c.Run(chromedp.Focus(chromedp.CSS(`#buyer`)), browsertest.Keys(use(born83(44))))
	c.key("v", chromedp.ModifierAlt) // shown, then hidden again
	c.key("v", chromedp.ModifierAlt)
	c.Run(chromedp.Reload())
	c.Wait(`!document.getElementById('app').hidden`, 10*time.Second)
	time.Sleep(time.Second) // the internals page receives its logs asynchronously

	log := internals.Text(`document.body`)
	// The control: the sign-in form is seen as the password form it is.
	if !strings.Contains(log, "Password element :  token") {
		t.Fatalf("password-manager-internals shows no password form for the sign-in token: the log is not what this test reads (%d bytes)", len(log))
	}
	if m := regexp.MustCompile(`(?m)^\s*(buyer|pid\d+): signature=\d+, type=password.*$`).FindAllString(log, 3); len(m) > 0 {
		t.Errorf("Chromium's password manager sees a buyer's ID field as a password field: %q", m)
	}
	if strings.Contains(log, "Password element :  buyer") || regexp.MustCompile(`Password element :  pid\d`).MatchString(log) {
		t.Errorf("Chromium's password manager parsed a buyer's ID field as the password of a form it may offer to save")
	}
	// Nor is any of them kept by Chromium's autocomplete, now that the
	// fields are text fields (autocomplete="off"): the profile, closed as
	// a user closes it, holds none.
	c.Close()
	scanProfile(t, c.Page.Dir, ids)
}
