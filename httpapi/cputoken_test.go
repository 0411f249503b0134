package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestRequestKind(t *testing.T) {
	const (
		yes  = reqPublic
		no   = reqOther
		none = reqNone
	)
	for _, c := range []struct {
		b    string
		want int
	}{
		{"GET /corona19-masks/v1/storesByGeo/json?lat=37.5&lng=127&m=1000 HTTP/1.1\r\nHost: x\r\n\r\n", yes},
		{"ET /corona19-masks/v1/stores/json HTTP/1.1\r\n", yes}, // its first byte taken by net/http's background read
		{"GET /api/v2/outlets/12345678 HTTP/1.1\r\n", yes},
		{"GET /api/v2/summary HTTP/1.1\r\n", yes},
		{"GET / HTTP/1.1\r\n", yes},
		{"GET /static/app.js HTTP/1.1\r\n", yes},
		{"GET /no-such-page HTTP/1.1\r\n", yes},
		{"GET /outlets HTTP/1.1\r\n", yes},
		{"OPTIONS /corona19-masks/v1/stores/json HTTP/1.1\r\n", yes},
		{"GET http://example.org/corona19-masks/v1/stores/json HTTP/1.1\r\n", yes},
		{"POST /api/v2/outlet/sales HTTP/1.1\r\nAuthorization: Bearer x\r\n", no},
		{"GET /api/v2/outlet HTTP/1.1\r\n", no},
		{"GET /api/v2/outlet?x=1 HTTP/1.1\r\n", no},
		{"POST /api/v2/outlet/sales/abc/cancel HTTP/1.1\r\n", no},
		{"PUT /api/v2/admin/outlets HTTP/1.1\r\n", no},
		{"POST /api/v2/admin/deliveries HTTP/1.1\r\n", no},
		{"GET /outlet HTTP/1.1\r\n", no},
		{"GET /outlet/sw.js HTTP/1.1\r\n", no},
		{"GET /api/v2/stream HTTP/1.1\r\n", no},
		{"GET /metrics HTTP/1.1\r\n", no},
		{"GET /readyz HTTP/1.1\r\n", no},
		{"GET /healthz HTTP/1.1\r\n", no},
		{"GET http://example.org/api/v2/outlet/sales HTTP/1.1\r\n", no},
		// A "://" in an origin-form target's query is not an absolute form:
		// it cannot dodge the token or pass for a sale.
		{"GET /corona19-masks/v1/storesByGeo/json?u=x://y/metrics HTTP/1.1\r\n", yes},
		{"GET /corona19-masks/v1/storesByGeo/json?u=x://y/api/v2/outlet HTTP/1.1\r\n", yes},
		// Not the start of a request, or its target not all there.
		{`{"txn_id": "t-1", "rrn": "x"}`, none},
		{"GET /corona19-masks/v1/stor", none},
		{"GET /api/v2/out", none},
		{"\r\n", none},
		{"OPTIONS * HTTP/1.1\r\n", none},
	} {
		if got := requestKind([]byte(c.b)); got != c.want {
			t.Errorf("requestKind(%q) = %v, want %v", c.b, got, c.want)
		}
	}
}

// tokenPipe is one server connection of a token listener, with its client end.
func tokenPipe(t *testing.T, tk *cpuTokens) (srv *tokenConn, cli net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	srv = &tokenConn{Conn: a, t: tk}
	srv.armed.Store(true)
	return srv, b
}

// readAsync reads from c in the background; the result arrives on the channel.
func readAsync(c net.Conn, n int) <-chan string {
	ch := make(chan string, 1)
	go func() {
		buf := make([]byte, n)
		k, _ := c.Read(buf)
		ch <- string(buf[:k])
	}()
	return ch
}

// value reads a counter or gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	if m.Counter != nil {
		return m.Counter.GetValue()
	}
	return m.Gauge.GetValue()
}

// engagedTokens are tokens of the default mode (auto), engaged: a sale was
// just read and the demand for cores reads as high.
func engagedTokens(n int, wait time.Duration) *cpuTokens {
	tk := newCPUTokens(prometheus.NewRegistry(), n, wait, TokensAuto)
	tk.runnable = func() int { return 1 << 20 }
	tk.sale()
	if !tk.engaged.Load() {
		panic("not engaged")
	}
	return tk
}

const geoLine = "GET /corona19-masks/v1/storesByGeo/json?lat=37.5&lng=127&m=1000 HTTP/1.1\r\n\r\n"

// A public request waits for a token while another holds it; an outlet
// request never does; the token goes back before the holder's answer is
// written to the network (the write blocks here: the client does not read).
func TestTokenConnWaitsAndReleasesBeforeTheWrite(t *testing.T) {
	tk := engagedTokens(1, 10*time.Second)
	a, ac := tokenPipe(t, tk)
	b, bc := tokenPipe(t, tk)
	o, oc := tokenPipe(t, tk)

	go ac.Write([]byte(geoLine))
	if got := <-readAsync(a, 4096); got != geoLine {
		t.Fatalf("read %q", got)
	}
	if !a.held.Load() || len(tk.slots) != 1 {
		t.Fatal("a public request holds no token")
	}

	go bc.Write([]byte(geoLine))
	bRead := readAsync(b, 4096)
	waitFor(t, "b to wait for a token", func() bool { return value(tk.waiting) == 1 })

	go oc.Write([]byte("POST /api/v2/outlet/sales HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"))
	select {
	case <-readAsync(o, 4096):
	case <-time.After(5 * time.Second):
		t.Fatal("an outlet request waited for a public request's token")
	}
	if o.held.Load() {
		t.Fatal("an outlet request took a token")
	}

	// a's answer: its Write blocks (nobody reads ac), but the token is
	// already back, so b goes on.
	go a.Write([]byte("HTTP/1.1 200 OK\r\n\r\n"))
	select {
	case got := <-bRead:
		if got != geoLine {
			t.Fatalf("b read %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the token was not released before the write")
	}
	if a.held.Load() || !b.held.Load() {
		t.Fatalf("held: a %v b %v", a.held.Load(), b.held.Load())
	}
	if got := value(tk.waited); got != 1 {
		t.Errorf("waits %v, want 1", got)
	}
	b.Close()
	if len(tk.slots) != 0 {
		t.Error("Close did not release the token")
	}
}

// A request gives its token back before it waits for more bytes (a body
// never sent), and a request whose head is not all there takes none: a
// client that sends half a request, or a request line that fills net/http's
// buffer all but one byte (whose next read is one byte long, like the
// background read's), holds no token.
func TestTokenConnReleasesBeforeReadingMore(t *testing.T) {
	tk := engagedTokens(1, 10*time.Second)
	a, ac := tokenPipe(t, tk)
	go ac.Write([]byte("GET /corona19-masks/v1/stores/json HTTP/1.1\r\nContent-Length: 10\r\n\r\n"))
	<-readAsync(a, 4096)
	if !a.held.Load() {
		t.Fatal("no token")
	}
	more := readAsync(a, 4096) // the body, never sent
	waitFor(t, "the token back", func() bool { return len(tk.slots) == 0 })
	ac.Close()
	<-more

	for _, half := range []string{
		"GET /corona19-masks/v1/stores/json HTTP/1.1\r\n",
		"GET /corona19-masks/v1/stores/json?pad=" + strings.Repeat("x", 4095-len("GET /corona19-masks/v1/stores/json?pad=")-len(" HTTP/1.1")) + " HTTP/1.1",
	} {
		h, hc := tokenPipe(t, tk)
		go hc.Write([]byte(half))
		<-readAsync(h, len(half))
		if h.held.Load() || len(tk.slots) != 0 {
			t.Fatalf("a request whose head is incomplete took a token (%d bytes)", len(half))
		}
		one := readAsync(h, 1) // net/http's read into the buffer's last byte
		time.Sleep(10 * time.Millisecond)
		if len(tk.slots) != 0 {
			t.Fatal("a token held while waiting on the client")
		}
		hc.Close()
		<-one
	}
	// The next bytes read are not a new request (no Write came between).
	b, bc := tokenPipe(t, tk)
	b.armed.Store(false)
	go bc.Write([]byte(geoLine))
	<-readAsync(b, 4096)
	if b.held.Load() {
		t.Error("bytes read before the answer was written took a token")
	}
}

// The wait for a token is bounded: after it the request goes on without one.
func TestTokenConnBoundedWait(t *testing.T) {
	tk := engagedTokens(1, 30*time.Millisecond)
	a, ac := tokenPipe(t, tk)
	b, bc := tokenPipe(t, tk)
	go ac.Write([]byte(geoLine))
	<-readAsync(a, 4096)
	go bc.Write([]byte(geoLine))
	start := time.Now()
	<-readAsync(b, 4096)
	if d := time.Since(start); d < 30*time.Millisecond || d > 2*time.Second {
		t.Errorf("waited %v, want about 30ms", d)
	}
	if b.held.Load() || value(tk.timeout) != 1 {
		t.Errorf("held %v, timeouts %v", b.held.Load(), value(tk.timeout))
	}
	// net/http's one-byte background read never waits.
	c, cc := tokenPipe(t, tk)
	go cc.Write([]byte("G"))
	if got := <-readAsync(c, 1); got != "G" || value(tk.waiting) != 0 {
		t.Errorf("background read: %q", got)
	}
}

// Through a real http.Server: while a public request holds the only token
// (its handler has not answered), a second public request waits for it, and
// outlet and operations requests are served at once; when the first answers,
// the second is served.
func TestCPUTokensThroughTheServer(t *testing.T) {
	pub := newBlockingPublic()
	h := newHarness(t, Config{Public: pub, CPUTokens: 1, CPUTokenWait: 10 * time.Second, CPUTokenMode: TokensAlways})
	if h.srv.tokens == nil {
		t.Fatal("no tokens")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: h.h}
	go hs.Serve(h.srv.Listener(ln))
	t.Cleanup(func() { hs.Close() })
	get := func(path, token string) <-chan string {
		ch := make(chan string, 1)
		go func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				ch <- err.Error()
				return
			}
			defer c.Close()
			auth := ""
			if token != "" {
				auth = "Authorization: Bearer " + token + "\r\n"
			}
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n", path, auth)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				ch <- err.Error()
				return
			}
			io.Copy(io.Discard, resp.Body)
			ch <- resp.Status
		}()
		return ch
	}
	first := get("/corona19-masks/v1/stores/json", "")
	<-pub.entered
	second := get("/corona19-masks/v1/storesByGeo/json?lat=37.5&lng=127&m=1000", "")
	waitFor(t, "the second request to wait for the token", func() bool { return value(h.srv.tokens.waiting) == 1 })
	for _, c := range []struct{ path, token string }{{"/api/v2/outlet", "tokA"}, {"/healthz", ""}} {
		select {
		case st := <-get(c.path, c.token):
			if !strings.HasPrefix(st, "200") {
				t.Errorf("%s: %s", c.path, st)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%s waited behind a public request's token", c.path)
		}
	}
	select {
	case <-pub.entered:
		t.Fatal("the second public request ran while the first held the only token")
	case <-time.After(50 * time.Millisecond):
	}
	pub.release <- struct{}{}
	if st := <-first; !strings.HasPrefix(st, "200") {
		t.Fatalf("first: %s", st)
	}
	<-pub.entered
	pub.release <- struct{}{}
	if st := <-second; !strings.HasPrefix(st, "200") {
		t.Fatalf("second: %s", st)
	}
}

// A request that gets a token lets the goroutines already waiting for a core
// run before its work (acquire yields): on one core, a goroutine made
// runnable before the acquire has run by the time it returns, with or without
// a wait. (Go's scheduler looks at its global queue first on one pass in 61,
// so each case is tried ten times and must hold in at least eight.)
func TestCPUTokenYields(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	tk := newCPUTokens(prometheus.NewRegistry(), 1, time.Second, TokensAlways)
	uncontended, handedOver := 0, 0
	for range 10 {
		var ran atomic.Bool
		done := make(chan struct{})
		go func() { ran.Store(true); close(done) }()
		if !tk.acquire() {
			t.Fatal("no token")
		}
		if ran.Load() {
			uncontended++
		}
		<-done

		ran.Store(false)
		got := make(chan bool)
		go func() {
			ok := tk.acquire() // waits for the release below
			got <- ok && ran.Load()
		}()
		for value(tk.waiting) != 1 {
			runtime.Gosched()
		}
		// A goroutine made runnable just before the release, which hands
		// the token over: the waiter must let it run first.
		go ran.Store(true)
		tk.release()
		if <-got {
			handedOver++
		}
		tk.release()
	}
	if uncontended < 8 {
		t.Errorf("an uncontended acquire yielded %d times in 10", uncontended)
	}
	if handedOver < 8 {
		t.Errorf("a request handed a token let a goroutine already waiting for the core run first %d times in 10", handedOver)
	}
}

// A token connection over TCP still half-closes as net/http expects of a
// *net.TCPConn (closeWriteAndWait).
func TestTokenConnCloseWrite(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tl := tokenListener{Listener: ln, t: newCPUTokens(prometheus.NewRegistry(), 1, time.Second, TokensAlways)}
	cli, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	srv, err := tl.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	cw, ok := srv.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("a token connection has no CloseWrite")
	}
	// It gives a held token back.
	tc := srv.(*tokenConn)
	tc.t.slots <- struct{}{}
	tc.held.Store(true)
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if len(tc.t.slots) != 0 || tc.held.Load() {
		t.Error("CloseWrite kept the token")
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := cli.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after CloseWrite the client read %d, %v; want EOF", n, err)
	}
}

// In the default mode (auto) the tokens engage only while an outlet request
// was read in the last second and the demand for cores (goroutines runnable
// plus those waiting for a token) is at least 4 × GOMAXPROCS, and stay
// engaged until it falls under 2 × GOMAXPROCS.
func TestTokensEngageOnlyUnderContentionWithSales(t *testing.T) {
	procs := runtime.GOMAXPROCS(0)
	tk := newCPUTokens(prometheus.NewRegistry(), 1, time.Second, TokensAuto)
	runnable := 0
	tk.runnable = func() int { return runnable }
	check := func(what string, want bool) {
		t.Helper()
		tk.next.Store(0) // a sample is due
		if got := tk.public(); got != want {
			t.Errorf("%s: engaged %v, want %v", what, got, want)
		}
		if value(tk.engagedG) != b2f(want) {
			t.Errorf("%s: gauge %v", what, value(tk.engagedG))
		}
	}
	runnable = 100 * procs
	check("contended, no sale", false)
	tk.sale()
	check("contended, a sale", true)
	runnable = 3 * procs
	check("engaged, demand between the thresholds", true)
	runnable = 2*procs - 1
	check("demand under 2 × GOMAXPROCS", false)
	runnable = 3 * procs
	check("disengaged, demand between the thresholds", false)
	runnable = 0
	tk.nwaiting.Store(int64(4 * procs))
	check("requests waiting for a token count as demand", true)
	tk.nwaiting.Store(0)
	runnable = 100 * procs
	tk.lastSale.Store(clock() - int64(2*time.Second))
	check("contended, no sale for two seconds", false)

	// At most one sample a millisecond: between samples the flag stands.
	tk.sale()
	check("a sale again", true)
	runnable = 0
	if !tk.public() {
		t.Error("resampled before its interval")
	}
	if value(tk.engagedS) <= 0 {
		t.Error("no engaged seconds counted")
	}
	if value(tk.demandG) != float64(100*procs) {
		t.Errorf("demand gauge %v", value(tk.demandG))
	}
}

// Through a connection, in the default mode: with every token taken, a
// public request waits only once an outlet request has been read (and the
// cores are contended); uncontended, it takes no token and does not wait.
func TestTokenConnAutoMode(t *testing.T) {
	tk := newCPUTokens(prometheus.NewRegistry(), 1, 10*time.Second, TokensAuto)
	runnable := 1 << 20
	tk.runnable = func() int { return runnable }
	tk.slots <- struct{}{} // the only token, held elsewhere

	a, ac := tokenPipe(t, tk)
	go ac.Write([]byte(geoLine))
	select {
	case <-readAsync(a, 4096):
	case <-time.After(5 * time.Second):
		t.Fatal("a public request waited for a token with no sale served")
	}
	if a.held.Load() || value(tk.waited) != 0 {
		t.Fatal("a public request took a token with no sale served")
	}

	// An outlet request's bytes are not a sale: only its authentication
	// notes one (TestCPUTokensNoteAuthenticatedSales).
	o, oc := tokenPipe(t, tk)
	go oc.Write([]byte("POST /api/v2/outlet/sales HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"))
	<-readAsync(o, 4096)
	if tk.lastSale.Load() != 0 || o.held.Load() {
		t.Fatal("an outlet request's bytes were noted as a sale, or took a token")
	}
	tk.sale()

	tk.next.Store(0)
	b, bc := tokenPipe(t, tk)
	go bc.Write([]byte(geoLine))
	bRead := readAsync(b, 4096)
	waitFor(t, "b to wait for a token", func() bool { return value(tk.waiting) == 1 })
	tk.release()
	<-bRead
	if !b.held.Load() {
		t.Fatal("b holds no token")
	}
	b.Close()

	// Not contended: no token.
	runnable = 0
	tk.next.Store(0)
	tk.slots <- struct{}{}
	c, cc := tokenPipe(t, tk)
	go cc.Write([]byte(geoLine))
	select {
	case <-readAsync(c, 4096):
	case <-time.After(5 * time.Second):
		t.Fatal("a public request waited for a token on an uncontended server")
	}
	if c.held.Load() || value(tk.waited) != 1 {
		t.Fatalf("uncontended: held %v, waits %v", c.held.Load(), value(tk.waited))
	}
}

// The demand is read from the runtime: goroutines waiting for a core count.
func TestTokensReadRunnable(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	tk := newCPUTokens(prometheus.NewRegistry(), 1, time.Second, TokensAuto)
	const spinners = 32
	var n int
	whileSpinning(spinners, func() { n = tk.readRunnable() })
	if n < spinners/2 {
		t.Errorf("%d goroutines runnable read as %d", spinners, n)
	}
	tk.lastSale.Store(clock())
	tk.next.Store(0)
	var engaged bool
	whileSpinning(spinners, func() { engaged = tk.public() })
	if !engaged {
		t.Error("not engaged with 32 goroutines runnable on one core and a sale")
	}
}

// whileSpinning runs f while n goroutines, all started, yield in a loop.
func whileSpinning(n int, f func()) {
	var stop atomic.Bool
	var started atomic.Int32
	for range n {
		go func() {
			started.Add(1)
			for !stop.Load() {
				runtime.Gosched()
			}
		}()
	}
	for started.Load() < int32(n) {
		runtime.Gosched()
	}
	f()
	stop.Store(true)
}

// Only a node that serves sales and reads in one process has tokens, and
// only unless they are off.
func TestCPUTokensOnlyWithSales(t *testing.T) {
	for _, c := range []struct {
		role, mode string
		want       bool
	}{
		{RoleAll, "", true},
		{RoleAll, TokensAlways, true},
		{RoleAll, TokensOff, false},
		{RolePublic, "", false},
		{RoleLedger, "", false},
	} {
		h := newHarness(t, Config{Role: c.role, CPUTokenMode: c.mode})
		if got := h.srv.tokens != nil; got != c.want {
			t.Errorf("role %s, mode %q: tokens %v", c.role, c.mode, got)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		_, wrapped := h.srv.Listener(ln).(tokenListener)
		ln.Close()
		if wrapped != c.want {
			t.Errorf("role %s, mode %q: listener wrapped %v", c.role, c.mode, wrapped)
		}
	}
	if CheckCPUTokenMode("sometimes") == nil {
		t.Error("an unknown mode passed")
	}
}

// fakeConn answers every Read with one request line and takes every Write.
type fakeConn struct{ net.Conn }

func (fakeConn) Read(p []byte) (int, error)  { return copy(p, geoLine), nil }
func (fakeConn) Write(p []byte) (int, error) { return len(p), nil }

// What a public request's Read and Write cost on a token connection: plain
// (no wrapper), disengaged without sales (storesByGeo on bench.sh step 3),
// disengaged with sales but an idle runtime (the sample, at most once a
// millisecond, reads the real run queues), and engaged (a free token taken,
// the yield, the release).
func BenchmarkTokenConnRequest(b *testing.B) {
	buf := make([]byte, 4096)
	answer := []byte("HTTP/1.1 200 OK\r\n\r\n")
	b.Run("plain", func(b *testing.B) {
		var c net.Conn = fakeConn{}
		for b.Loop() {
			c.Read(buf)
			c.Write(answer)
		}
	})
	run := func(b *testing.B, tk *cpuTokens) {
		c := &tokenConn{Conn: fakeConn{}, t: tk}
		c.armed.Store(true)
		for b.Loop() {
			c.Read(buf)
			c.Write(answer)
		}
	}
	b.Run("disengaged-no-sales", func(b *testing.B) {
		run(b, newCPUTokens(prometheus.NewRegistry(), 2, time.Second, TokensAuto))
	})
	b.Run("disengaged-sales-idle", func(b *testing.B) {
		tk := newCPUTokens(prometheus.NewRegistry(), 2, time.Second, TokensAuto)
		stop := make(chan struct{})
		defer close(stop)
		go func() { // a sale every 100 ms
			for {
				tk.sale()
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
		}()
		run(b, tk)
	})
	b.Run("engaged", func(b *testing.B) {
		run(b, engagedTokens(2, time.Second))
	})
}

// Only an authenticated outlet request notes a sale (which may engage the
// tokens): a request with a forged token, or none, does not.
func TestCPUTokensNoteAuthenticatedSales(t *testing.T) {
	h := newHarness(t, Config{CPUTokens: 1, CPUTokenMode: TokensAuto})
	if h.srv.tokens == nil {
		t.Fatal("no tokens")
	}
	for _, c := range []struct {
		token string
		noted bool
	}{{"", false}, {"forged", false}, {"tokA", true}} {
		h.srv.tokens.lastSale.Store(0)
		r := httptest.NewRequest("GET", "/api/v2/outlet", nil)
		if c.token != "" {
			r.Header.Set("Authorization", "Bearer "+c.token)
		}
		w := httptest.NewRecorder()
		h.h.ServeHTTP(w, r)
		if got := h.srv.tokens.lastSale.Load() != 0; got != c.noted {
			t.Errorf("token %q (status %d): noted %v, want %v", c.token, w.Code, got, c.noted)
		}
	}
}
