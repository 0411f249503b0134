package postgres

import (
	"context"
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// proxy is a TCP proxy in front of the test server that the test can take
// down and bring back, as if the database server stopped and restarted,
// without disturbing other users of the shared test server.
type proxy struct {
	t      testing.TB
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
}

func newProxy(t testing.TB, target string) *proxy {
	p := &proxy{t: t, target: target, conns: make(map[net.Conn]bool)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.addr = ln.Addr().String()
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.pipe(c)
		}
	}()
}

func (p *proxy) pipe(c net.Conn) {
	s, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns[c], p.conns[s] = true, true
	p.mu.Unlock()
	go func() { io.Copy(s, c); s.Close() }()
	io.Copy(c, s)
	c.Close()
}

// down closes the listener and every open connection: the server is gone.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// up listens again on the same address: the server is back.
func (p *proxy) up() {
	var ln net.Listener
	var err error
	for range 50 {
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		p.t.Fatal(err)
	}
	p.serve(ln)
}

func sellOne(ctx context.Context, s publicmask.Store, code string) error {
	return s.Write(ctx, func(tx publicmask.Tx) error { return bump(tx, 1, code) })
}

// TestConnectionLoss: with the server gone, writes and reads fail fast with
// store_unavailable; when it is back, the same Store works again.
func TestConnectionLoss(t *testing.T) {
	dsn := testDSN(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	p := newProxy(t, u.Host)
	u.Host = p.addr
	schema := newSchema(t, dsn)
	s, err := Open(context.Background(), u.String(), Options{Schema: schema, ConnectTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	seedOutlets(t, s, "A")
	if err := sellOne(ctx, s, "A"); err != nil {
		t.Fatal(err)
	}

	p.down()
	start := time.Now()
	err = sellOne(ctx, s, "A")
	if code := publicmask.ErrorCode(err); code != publicmask.EStoreUnavailable {
		t.Fatalf("write with the server down: %v (code %q), want store_unavailable", err, code)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("write took %v to fail", d)
	}
	if _, err := s.Outlet(ctx, "A"); publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		t.Fatalf("read with the server down: %v", err)
	}
	if err := s.Ping(ctx); publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		t.Fatalf("ping with the server down: %v", err)
	}

	// The server disappears in the middle of a transaction.
	p.up()
	err = s.Write(ctx, func(tx publicmask.Tx) error {
		if err := bump(tx, 1, "A"); err != nil {
			return err
		}
		p.down()
		return nil
	})
	if publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		t.Fatalf("write losing its connection: %v", err)
	}

	p.up()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := sellOne(ctx, s, "A")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("store did not recover: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	o, err := s.Outlet(ctx, "A")
	if err != nil {
		t.Fatal(err)
	}
	if o.Stock != 2 {
		t.Fatalf("stock %d, want 2 (the interrupted write must not have committed)", o.Stock)
	}
}

// TestBackendTerminated: pg_terminate_backend on every session of the store
// (what a failover or an operator does). The next write gets a fresh
// connection and succeeds; a read may fail once with store_unavailable and
// the next one succeeds.
func TestBackendTerminated(t *testing.T) {
	dsn := testDSN(t)
	schema := newSchema(t, dsn)
	// A name of its own, so that only this store's sessions are terminated
	// on a server that others may be using.
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", schema)
	u.RawQuery = q.Encode()
	ctx := context.Background()
	s, err := Open(ctx, u.String(), Options{Schema: schema, MaxConns: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seedOutlets(t, s, "A")
	if err := sellOne(ctx, s, "A"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Outlet(ctx, "A"); err != nil {
		t.Fatal(err)
	}
	admin, err := Open(ctx, dsn, Options{Schema: schema, MaxConns: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	var killed int
	if err := admin.pool.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, schema).Scan(&killed); err != nil {
		t.Fatal(err)
	}
	if killed == 0 {
		t.Fatal("no backend terminated")
	}
	time.Sleep(100 * time.Millisecond)
	// The pooled session is dead; Write notices before anything was
	// committed and runs once more on a fresh connection.
	if err := sellOne(ctx, s, "A"); err != nil {
		t.Fatalf("write after terminate: %v", err)
	}
	if _, err := s.Outlet(ctx, "A"); err != nil && publicmask.ErrorCode(err) != publicmask.EStoreUnavailable {
		t.Fatalf("read after terminate: %v", err)
	}
	if _, err := s.Outlet(ctx, "A"); err != nil {
		t.Fatalf("reads did not recover: %v", err)
	}
	t.Logf("terminated %d sessions", killed)
}
