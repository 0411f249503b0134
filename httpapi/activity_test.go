package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

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
