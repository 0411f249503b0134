package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
)

// noteLog records how each request noted its outlet's activity.
type noteLog struct {
	instantSales
	mu    sync.Mutex
	notes []string // "ref:<n>" or "code:<outlet>"
}

func (l *noteLog) NoteActivity(outlet string) {
	l.mu.Lock()
	l.notes = append(l.notes, "code:"+outlet)
	l.mu.Unlock()
	l.instantSales.NoteActivity(outlet)
}

func (l *noteLog) NoteActivityRef(o ledger.OutletRef) {
	l.mu.Lock()
	l.notes = append(l.notes, "ref:"+strconv.Itoa(int(o)))
	l.mu.Unlock()
	l.instantSales.NoteActivityRef(o)
}

func (l *noteLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.notes
	l.notes = nil
	return n
}

// Each authenticated outlet request notes its own outlet once, by the
// token cache's reference when the token came from the cache — on a lean
// connection whose tokens change (A, B, A) and on net/http alike; a
// refused request notes nothing.
func TestOutletRequestsNoteTheirOwnOutlet(t *testing.T) {
	led, tokA := saleEnv(t)
	ctx := context.Background()
	if _, err := led.ImportOutlets(ctx, []publicmask.Outlet{{Code: "A0000002", Name: "B", Type: "01", Stock: 100}}); err != nil {
		t.Fatal(err)
	}
	tokB, err := led.IssueToken(ctx, publicmask.RoleOutlet, "A0000002")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := led.IssueToken(ctx, publicmask.RoleAdmin, "")
	if err != nil {
		t.Fatal(err)
	}
	ref := func(tok string) string {
		_, o, ok, err := led.CachedToken(tok)
		if !ok || err != nil || o == 0 {
			t.Fatalf("token not cached with its outlet: %d %v %v", o, ok, err)
		}
		return "ref:" + strconv.Itoa(int(o))
	}
	refA, refB := ref(tokA), ref(tokB)
	if refA == refB {
		t.Fatal("two outlets, one ref")
	}
	nl := &noteLog{instantSales: led}
	srv := newServer(Config{Logger: benchLogger()}, nl)
	body := `{"txn_id":"t-0000000001","buyer":"` + testenv.ID("830101", '1', 1) + `","quantity":2}`
	_, c, br := dialLean(t, srv)
	for _, tok := range []string{tokA, tokB, tokA, admin} {
		want := http.StatusCreated
		if tok == admin {
			want = http.StatusForbidden
		}
		exchangeOne(t, c, br, "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+tok+
			"\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body, want)
	}
	if got, want := strings.Join(nl.take(), " "), strings.Join([]string{refA, refB, refA}, " "); got != want {
		t.Fatalf("lean notes %q, want %q", got, want)
	}
	hs := httptest.NewServer(srv.Handler())
	defer hs.Close()
	post := func(tok string) {
		req, _ := http.NewRequest(http.MethodPost, hs.URL+"/api/v2/outlet/sales", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	post(tokB)
	post(tokA)
	if got, want := strings.Join(nl.take(), " "), refB+" "+refA; got != want {
		t.Fatalf("net/http notes %q, want %q", got, want)
	}
}

// uncachedLedger is noteLog whose token cache answers nothing: every
// request authenticates by a store read (a token issued on another node,
// the first request after a restart), so authenticate has no OutletRef.
type uncachedLedger struct{ *noteLog }

func (uncachedLedger) CachedToken(string) (publicmask.Token, ledger.OutletRef, bool, error) {
	return publicmask.Token{}, 0, false, nil
}

func (uncachedLedger) CachedTokenSum([32]byte) (publicmask.Token, ledger.OutletRef, bool, error) {
	return publicmask.Token{}, 0, false, nil
}

// A request the cache could not answer notes its outlet by code, and a
// note by code and one by the cache's ref both reach the late-sale
// judgement of that outlet (late_while_online), and no other outlet's.
func TestOutletNotesByRefAndByCodeReachTheLateSale(t *testing.T) {
	env := testenv.New(t)
	ctx := context.Background()
	for _, code := range []string{"A0000001", "A0000002", "A0000003"} {
		env.AddOutlet(t, code, publicmask.TypePharmacy, 100)
	}
	tokA, tokB := env.OutletToken(t, "A0000001"), env.OutletToken(t, "A0000002")
	t0 := env.Clock.Now()
	nl := &noteLog{instantSales: instantSales{Ledger: env.Ledger}}
	get := func(srv *Server, tok string) {
		hs := httptest.NewServer(srv.Handler())
		defer hs.Close()
		req, _ := http.NewRequest(http.MethodGet, hs.URL+"/api/v2/outlet", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := hs.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /api/v2/outlet: %d", resp.StatusCode)
		}
	}
	get(newServer(Config{Logger: benchLogger()}, uncachedLedger{nl}), tokA)
	get(newServer(Config{Logger: benchLogger()}, nl), tokB)
	notes := nl.take()
	if len(notes) != 2 || notes[0] != "code:A0000001" || !strings.HasPrefix(notes[1], "ref:") {
		t.Fatalf("notes %q, want code:A0000001 then ref:<n>", notes)
	}
	// Half an hour later, sales the counters held offline from five
	// minutes before those requests: A and B were online since, C was not.
	env.Clock.Set(t0.Add(30 * time.Minute))
	for i, c := range []struct {
		outlet string
		want   bool
	}{{"A0000001", true}, {"A0000002", true}, {"A0000003", false}} {
		r, _, err := env.Ledger.Sell(ctx, ledger.SaleRequest{Outlet: c.outlet, TxnID: "late-" + c.outlet,
			Buyer: testenv.Born(1988, 40+i), Quantity: 1, SoldAt: t0.Add(-5 * time.Minute), Offline: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(r.ConflictReasons, publicmask.ConflictLateWhileOnline); !r.Late || got != c.want {
			t.Errorf("%s: late %v, reasons %v; want late_while_online %v", c.outlet, r.Late, r.ConflictReasons, c.want)
		}
	}
}
