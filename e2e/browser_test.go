package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestBrowserAgainstRealServer: the 222 real Gangbuk pharmacies of the 2020
// sample imported into a real server; the map at 승약국's location lists it
// first with its status in words; a sale through the API changes the list
// within a second without a reload; /outlet shows a sign-in; /status shows
// freshness figures.
func TestBrowserAgainstRealServer(t *testing.T) {
	skipShort(t, "runs a real server and Chromium")
	infos := gangbukStoreInfos(t)
	p := browsertest.NewPage(t, 1280, 860) // skips without Chromium (fails under CI)
	dir := t.TempDir()
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	s.importInfos(t, infos)
	// Stock them: 승약국 plenty, its neighbour 대지약국 exactly 100 (one sale
	// of 2 takes it from plenty to some).
	var lines []map[string]any
	for i, in := range infos {
		q := []int{150, 60, 10, 1}[i%4]
		switch in["code"] {
		case "11817488":
			q = 150
		case "12856941":
			q = 100
		}
		lines = append(lines, map[string]any{"outlet": in["code"], "quantity": q, "txn_id": fmt.Sprintf("open-%d", i)})
	}
	s.mustCall("POST", "/api/v2/admin/deliveries", adminToken, lines, nil, 200)

	p.Run(browsertest.Navigate(s.base + "/?lat=37.6254369&lng=127.0164096"))
	p.Wait(`document.querySelector('#list li .o-name')`, 15*time.Second)
	if first := p.Text(`document.querySelector('#list li .o-name')`); first != "승약국" {
		t.Fatalf("first outlet listed is %q, want 승약국", first)
	}
	if st := p.Text(`document.querySelector('#list li')`); !strings.Contains(st, "충분") {
		t.Fatalf("승약국's status not in words: %q", st)
	}
	item := `document.querySelector('#list li[data-code="12856941"]')`
	p.Wait(item, 5*time.Second)
	if st := p.Text(item); !strings.Contains(st, "충분") {
		t.Fatalf("대지약국 before the sale: %q", st)
	}
	tok := s.outletToken(adminToken, "12856941")
	sold := time.Now()
	s.mustCall("POST", "/api/v2/outlet/sales", tok, map[string]any{"txn_id": "b1", "buyer": born83(1), "quantity": 2}, nil, 201)
	took := p.Wait(item+` && `+item+`.textContent.indexOf('보통') >= 0`, 5*time.Second)
	t.Logf("sale visible on the map page %v after the request was sent (%v after acknowledgement)", time.Since(sold).Round(time.Millisecond), took.Round(time.Millisecond))
	if took > time.Second {
		t.Fatalf("the sale took %v to show on the map; want within a second", took)
	}
	shot := p.Screenshot("map-gangbuk.png")
	copyTo(t, shot, filepath.Join(os.TempDir(), "publicmask-e2e-map.png"))

	p.Run(browsertest.Navigate(s.base + "/outlet"))
	p.Wait(`document.getElementById('token') && !document.getElementById('signin').hidden`, 5*time.Second)

	p.Run(browsertest.Navigate(s.base + "/status"))
	p.Wait(`document.getElementById('fresh') && /\d/.test(document.getElementById('fresh').textContent)`, 10*time.Second)
	p.Wait(`document.getElementById('rates') && /\d/.test(document.getElementById('rates').textContent)`, 10*time.Second)
	copyTo(t, p.Screenshot("status.png"), filepath.Join(os.TempDir(), "publicmask-e2e-status.png"))
}

func copyTo(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err == nil {
		os.WriteFile(to, b, 0o644)
	}
}
