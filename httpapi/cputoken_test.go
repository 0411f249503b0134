package httpapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func TestTakesToken(t *testing.T) {
	for _, c := range []struct {
		b    string
		want bool
	}{
		{"GET /corona19-masks/v1/storesByGeo/json?lat=37.5&lng=127&m=1000 HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"ET /corona19-masks/v1/stores/json HTTP/1.1\r\n", true}, // its first byte taken by net/http's background read
		{"GET /api/v2/outlets/12345678 HTTP/1.1\r\n", true},
		{"GET /api/v2/summary HTTP/1.1\r\n", true},
		{"GET / HTTP/1.1\r\n", true},
		{"GET /static/app.js HTTP/1.1\r\n", true},
		{"GET /no-such-page HTTP/1.1\r\n", true},
		{"GET /outlets HTTP/1.1\r\n", true},
		{"OPTIONS /corona19-masks/v1/stores/json HTTP/1.1\r\n", true},
		{"GET http://example.org/corona19-masks/v1/stores/json HTTP/1.1\r\n", true},
		{"POST /api/v2/outlet/sales HTTP/1.1\r\nAuthorization: Bearer x\r\n", false},
		{"GET /api/v2/outlet HTTP/1.1\r\n", false},
		{"GET /api/v2/outlet?x=1 HTTP/1.1\r\n", false},
		{"POST /api/v2/outlet/sales/abc/cancel HTTP/1.1\r\n", false},
		{"PUT /api/v2/admin/outlets HTTP/1.1\r\n", false},
		{"POST /api/v2/admin/deliveries HTTP/1.1\r\n", false},
		{"GET /outlet HTTP/1.1\r\n", false},
		{"GET /outlet/sw.js HTTP/1.1\r\n", false},
		{"GET /api/v2/stream HTTP/1.1\r\n", false},
		{"GET /metrics HTTP/1.1\r\n", false},
		{"GET /readyz HTTP/1.1\r\n", false},
		{"GET /healthz HTTP/1.1\r\n", false},
		{"GET http://example.org/api/v2/outlet/sales HTTP/1.1\r\n", false},
		// Not the start of a request, or its target not all there.
		{`{"txn_id": "t-1", "rrn": "x"}`, false},
		{"GET /corona19-masks/v1/stor", false},
		{"GET /api/v2/out", false},
		{"\r\n", false},
		{"OPTIONS * HTTP/1.1\r\n", false},
	} {
		if got := takesToken([]byte(c.b)); got != c.want {
			t.Errorf("takesToken(%q) = %v, want %v", c.b, got, c.want)
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

const geoLine = "GET /corona19-masks/v1/storesByGeo/json?lat=37.5&lng=127&m=1000 HTTP/1.1\r\n\r\n"

// A public request waits for a token while another holds it; an outlet
// request never does; the token goes back before the holder's answer is
// written to the network (the write blocks here: the client does not read).
func TestTokenConnWaitsAndReleasesBeforeTheWrite(t *testing.T) {
	tk := newCPUTokens(prometheus.NewRegistry(), 1, 10*time.Second)
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

// A request whose bytes are not all there gives its token back before it
// waits for more of them: a client that sends half a request holds no token.
func TestTokenConnReleasesBeforeReadingMore(t *testing.T) {
	tk := newCPUTokens(prometheus.NewRegistry(), 1, 10*time.Second)
	a, ac := tokenPipe(t, tk)
	go ac.Write([]byte("GET /corona19-masks/v1/stores/json HTTP/1.1\r\n"))
	<-readAsync(a, 4096)
	if !a.held.Load() {
		t.Fatal("no token")
	}
	more := readAsync(a, 4096) // the rest of the headers, never sent
	waitFor(t, "the token back", func() bool { return len(tk.slots) == 0 })
	ac.Close()
	<-more
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
	tk := newCPUTokens(prometheus.NewRegistry(), 1, 30*time.Millisecond)
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
	h := newHarness(t, Config{Public: pub, CPUTokens: 1, CPUTokenWait: 10 * time.Second})
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
	tk := newCPUTokens(prometheus.NewRegistry(), 1, time.Second)
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
	tl := tokenListener{Listener: ln, t: newCPUTokens(prometheus.NewRegistry(), 1, time.Second)}
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
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	cli.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := cli.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("after CloseWrite the client read %d, %v; want EOF", n, err)
	}
}
