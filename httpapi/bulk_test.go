package httpapi

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/publicmask/publicmask/internal/testenv"
)

// An outlet import and a delivery list are each bracketed by BulkWrite, and
// its end runs after the ledger has committed them, before the answer.
func TestBulkWriteBracketsImportsAndDeliveries(t *testing.T) {
	env := testenv.New(t)
	var mu sync.Mutex // the handlers run on the server's goroutines
	var started, ended int
	var storedAtEnd []int
	srv := New(Config{Ledger: env.Ledger, BulkWrite: func() func(context.Context) error {
		mu.Lock()
		started++
		mu.Unlock()
		return func(ctx context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			ended++
			outlets, _, err := env.Store.Outlets(ctx)
			if err != nil {
				t.Error(err)
			}
			stock := 0
			for _, o := range outlets {
				stock += o.Stock
			}
			storedAtEnd = append(storedAtEnd, len(outlets)*1000+stock)
			return nil
		}
	}})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &liveAPI{t: t, env: env, url: ts.URL, logs: &syncBuffer{}, admin: env.AdminToken}
	r := e.call("PUT", "/api/v2/admin/outlets", e.admin, "text/csv",
		"code,name,addr,type,lat,lng\n11110001,가약국,서울특별시 강남구 논현동 1,01,37.51,127.03\n11110002,나약국,서울특별시 강남구 논현동 2,01,37.52,127.03\n")
	if r.status != 200 {
		t.Fatalf("import: %d %s", r.status, r.body)
	}
	r = e.post("/api/v2/admin/deliveries", e.admin, `[{"outlet":"11110001","quantity":40,"txn_id":"d1"}]`)
	if r.status != 200 {
		t.Fatalf("deliveries: %d %s", r.status, r.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if started != 2 || ended != 2 {
		t.Fatalf("BulkWrite started %d, ended %d; want 2 and 2", started, ended)
	}
	if storedAtEnd[0] != 2000 || storedAtEnd[1] != 2040 {
		t.Fatalf("the store at each end: %v, want the import (2 outlets) then the delivery (40 masks)", storedAtEnd)
	}
}

// A verify calls AfterScan once, before its answer is written.
func TestVerifyCallsAfterScan(t *testing.T) {
	env := testenv.New(t)
	var mu sync.Mutex
	scans := 0
	srv := New(Config{Ledger: env.Ledger, AfterScan: func() { mu.Lock(); scans++; mu.Unlock() }})
	ts := httptest.NewServer(srv.Handler())
	t.Cleanup(ts.Close)
	e := &liveAPI{t: t, env: env, url: ts.URL, logs: &syncBuffer{}, admin: env.AdminToken}
	if r := e.call("GET", "/api/v2/admin/verify", e.admin, "", ""); r.status != 200 {
		t.Fatalf("verify: %d %s", r.status, r.body)
	}
	mu.Lock()
	defer mu.Unlock()
	if scans != 1 {
		t.Fatalf("AfterScan called %d times, want 1", scans)
	}
}
