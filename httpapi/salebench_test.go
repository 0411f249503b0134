package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testenv"
	"github.com/publicmask/publicmask/ledger"
)

// instantSales is the real ledger (token cache, authentication) whose Sell
// answers at once with one receipt recorded by the real ledger: what the
// HTTP path of a sale costs without the writer.
type instantSales struct {
	*ledger.Ledger
	rec *ledger.Receipt
}

func (l instantSales) Sell(ctx context.Context, req ledger.SaleRequest) (*ledger.Receipt, bool, error) {
	if req.Outlet == "" || req.TxnID == "" || req.Buyer == "" {
		return nil, false, fmt.Errorf("bad request %+v", req)
	}
	return l.rec, false, nil
}

// saleBench is a loopback HTTP/1.1 server on the sale path and a client
// that sends a counter's sale on one keep-alive connection, as rush does.
type saleBench struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	body []byte // the answer's body, reused
}

// newSaleBench serves h on 127.0.0.1 (the first free port of 19250-19299,
// or of PUBLICMASK_E2E_PORTS when set) and returns a client of it.
func newSaleBench(b *testing.B, h http.Handler, token string, lean *Server) *saleBench {
	var ln net.Listener
	var err error
	lo, hi := 19250, 19299
	if r := os.Getenv("PUBLICMASK_E2E_PORTS"); r != "" { // a helper's range on a shared machine
		fmt.Sscanf(r, "%d-%d", &lo, &hi)
	}
	for p := lo; p <= hi; p++ {
		if ln, err = net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p)); err == nil {
			break
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	// The timeouts serve sets (app.go): each is a deadline set per request.
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 2 * time.Minute, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
	if lean != nil {
		ln = lean.LeanListener(ln, hs)
	}
	go hs.Serve(ln)
	b.Cleanup(func() { hs.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	body := `{"txn_id":"t-0000000001","buyer":"` + testenv.ID("830101", '1', 1) + `","quantity":2}`
	req := "POST /api/v2/outlet/sales HTTP/1.1\r\nHost: " + ln.Addr().String() +
		"\r\nUser-Agent: publicmask-rush\r\nAuthorization: Bearer " + token +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	return &saleBench{conn: c, br: bufio.NewReaderSize(c, 8<<10), req: []byte(req)}
}

// do sends the sale and reads the answer; it returns the status line's code.
func (sb *saleBench) do() (int, error) {
	if _, err := sb.conn.Write(sb.req); err != nil {
		return 0, err
	}
	status, n := 0, -1
	for {
		line, err := sb.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if status == 0 {
			if len(line) < 12 {
				return 0, fmt.Errorf("status line %q", line)
			}
			status, _ = strconv.Atoi(string(line[9:12]))
			continue
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if n < 0 {
		return 0, fmt.Errorf("no Content-Length")
	}
	if cap(sb.body) < n {
		sb.body = make([]byte, n)
	}
	sb.body = sb.body[:n]
	_, err := io.ReadFull(sb.br, sb.body)
	return status, err
}

// saleEnv is the real ledger with one outlet, its token and a recorded
// receipt.
func saleEnv(b testing.TB) (instantSales, string) {
	env := testenv.New(b)
	env.AddOutlet(b, "A0000001", "01", 1000)
	tok := env.OutletToken(b, "A0000001")
	rec, _, err := env.Ledger.Sell(context.Background(), ledger.SaleRequest{
		Outlet: "A0000001", TxnID: "t-0000000001", Buyer: testenv.ID("830101", '1', 1), Quantity: 2})
	if err != nil {
		b.Fatal(err)
	}
	if rec.JSON() == nil {
		b.Fatal("receipt not recorded")
	}
	return instantSales{Ledger: env.Ledger, rec: rec}, tok
}

func benchLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// BenchmarkSalePath is POST /api/v2/outlet/sales over loopback HTTP/1.1
// through the whole server (net/http, the middleware chain, the real
// authentication, the body's decoding, the held answer), with a ledger that
// answers at once: client and server in this process, so allocs/op is the
// server's plus the client's few.
//
//	go test ./httpapi -run '^$' -bench 'SalePath|SaleFixed|SaleBare' -benchmem
func BenchmarkSalePath(b *testing.B) {
	led, tok := saleEnv(b)
	srv := newServer(Config{Logger: benchLogger()}, led)
	runSaleBench(b, srv.Handler(), tok, http.StatusCreated, nil)
}

// BenchmarkSaleLean is BenchmarkSalePath on the lean path (lean.go).
func BenchmarkSaleLean(b *testing.B) {
	led, tok := saleEnv(b)
	srv := newServer(Config{Logger: benchLogger()}, led)
	runSaleBench(b, srv.Handler(), tok, http.StatusCreated, srv)
}

// BenchmarkSaleFixed is BenchmarkSalePath with the sale handler replaced by
// one that writes the same receipt without reading the body: the chain's
// share against the handler's.
func BenchmarkSaleFixed(b *testing.B) {
	led, tok := saleEnv(b)
	srv := newServer(Config{Logger: benchLogger()}, led)
	mux := http.NewServeMux()
	receipt := led.rec.JSON()
	mux.Handle("POST /api/v2/outlet/sales", srv.route("POST /api/v2/outlet/sales", ClassOutlet, authOutlet, false)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = []string{"application/json; charset=utf-8"}
			w.Header()["X-Content-Type-Options"] = []string{"nosniff"}
			w.Header()["Cache-Control"] = []string{"no-store"}
			w.WriteHeader(http.StatusCreated)
			w.Write(receipt)
			w.Write([]byte{'\n'})
		})))
	runSaleBench(b, srv.outer(mux), tok, http.StatusCreated, nil)
}

// BenchmarkSaleBare is net/http alone: a handler that writes the receipt
// with the same headers and no middleware.
func BenchmarkSaleBare(b *testing.B) {
	led, tok := saleEnv(b)
	receipt := append(led.rec.JSON()[:len(led.rec.JSON()):len(led.rec.JSON())], '\n')
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		hd := w.Header()
		hd["X-Request-Id"] = []string{"abcdef012345-1"}
		hd["Content-Type"] = []string{"application/json; charset=utf-8"}
		hd["X-Content-Type-Options"] = []string{"nosniff"}
		hd["Cache-Control"] = []string{"no-store"}
		hd["Content-Length"] = []string{strconv.Itoa(len(receipt))}
		w.WriteHeader(http.StatusCreated)
		w.Write(receipt)
	})
	runSaleBench(b, h, tok, http.StatusCreated, nil)
}

func runSaleBench(b *testing.B, h http.Handler, tok string, want int, lean *Server) {
	sb := newSaleBench(b, h, tok, lean)
	for range 100 { // warm the token cache and the pools
		if st, err := sb.do(); err != nil || st != want {
			b.Fatalf("status %d, %v: %s", st, err, sb.body)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := processCPU()
	for b.Loop() {
		if st, err := sb.do(); err != nil || st != want {
			b.Fatalf("status %d, %v: %s", st, err, sb.body)
		}
	}
	// The process's CPU (server and client, user and system) per request:
	// on a shared machine, steadier than the wall time of a round trip.
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSaleChain is the sale's handler chain alone (request ID, access
// log, recovery, mux, route, authentication, body, admission, the handler,
// the held answer), called directly without net/http or a socket: the
// harness makes two objects per op (the body's reader).
func BenchmarkSaleChain(b *testing.B) {
	led, tok := saleEnv(b)
	srv := newServer(Config{Logger: benchLogger()}, led)
	h := srv.Handler()
	body := []byte(`{"txn_id":"t-0000000001","buyer":"` + testenv.ID("830101", '1', 1) + `","quantity":2}`)
	req, err := http.NewRequest("POST", "http://127.0.0.1:19250/api/v2/outlet/sales", nil)
	if err != nil {
		b.Fatal(err)
	}
	req.RemoteAddr = "127.0.0.1:40000"
	req.RequestURI = "/api/v2/outlet/sales"
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = int64(len(body))
	w := &benchWriter{h: make(http.Header)}
	rd := &nopBody{}
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		clear(w.h)
		w.code = 0
		r := *req
		rd.Reset(body)
		r.Body = rd
		h.ServeHTTP(w, &r)
		if w.code != http.StatusCreated {
			b.Fatal(w.code)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
}

type nopBody struct{ bytes.Reader }

func (*nopBody) Close() error { return nil }

type benchWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) WriteHeader(code int)        { w.code = code }
func (w *benchWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// BenchmarkConnPerRequest is a new connection per request (GET /healthz,
// Connection: close) through net/http alone (lean=false) or through the
// lean listener, which reads the request's first bytes and hands the
// connection to net/http: what the hand-over costs a connection.
func BenchmarkConnPerRequest(b *testing.B) {
	for _, lean := range []bool{false, true} {
		b.Run("lean="+strconv.FormatBool(lean), func(b *testing.B) {
			led, _ := saleEnv(b)
			srv := newServer(Config{Logger: benchLogger()}, led)
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second,
				WriteTimeout: 2 * time.Minute, IdleTimeout: 90 * time.Second, MaxHeaderBytes: 64 << 10}
			addr := ln.Addr().String()
			if lean {
				ln = srv.LeanListener(ln, hs)
			}
			go hs.Serve(ln)
			b.Cleanup(func() { hs.Close() })
			req := []byte("GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			buf := make([]byte, 4096)
			one := func() {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Fatal(err)
				}
				c.Write(req)
				n := 0
				for {
					m, err := c.Read(buf[n:])
					n += m
					if err != nil {
						break
					}
				}
				c.Close()
				if !bytes.HasPrefix(buf[:n], []byte("HTTP/1.1 200")) {
					b.Fatalf("%q", buf[:n])
				}
			}
			for range 50 {
				one()
			}
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				one()
			}
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// refusingSales refuses every sale as the ledger refuses a buyer over the
// week's quota: the error path of a sale (the rush's "again" buyers, ~6%
// of its sales).
type refusingSales struct{ instantSales }

func (l refusingSales) Sell(ctx context.Context, req ledger.SaleRequest) (*ledger.Receipt, bool, error) {
	reason, left, next := publicmask.EQuotaExceeded, 0, "2020-03-16"
	return nil, false, &publicmask.Error{Code: publicmask.EQuotaExceeded, Message: "buyer: the week's quota is used up",
		Persons: []publicmask.PersonVerdict{{Role: "buyer", Reason: &reason, RemainingThisWeek: &left, NextDate: &next}}}
}

// BenchmarkSaleLeanRefused is BenchmarkSaleLean with every sale refused
// (422 quota_exceeded with the buyer's verdict).
func BenchmarkSaleLeanRefused(b *testing.B) {
	led, tok := saleEnv(b)
	srv := newServer(Config{Logger: benchLogger()}, refusingSales{led})
	runSaleBench(b, srv.Handler(), tok, http.StatusUnprocessableEntity, srv)
}
