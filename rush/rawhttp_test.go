package rush

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"
)

// The raw client sends what net/http would (method, prefixed path, Host,
// headers, body), reuses its connections, keeps only the bodies asked
// for, reads Retry-After, and reports a timeout as
// context.DeadlineExceeded, which sell counts as "timeout".
func TestRawClient(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/pre/slow":
			time.Sleep(300 * time.Millisecond)
		case "/pre/busy":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte(r.Method + " " + r.URL.Path + " " + r.Header.Get("Authorization") + " " + string(b)))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	rc := newRawClient(100*time.Millisecond, 4)
	defer rc.closeIdle()
	tg := rc.target(srv.URL + "/pre/")
	if tg == nil {
		t.Fatal("plain http target not served")
	}
	if rc.target("https://example.org") != nil {
		t.Fatal("https served by the raw client")
	}
	for range 3 {
		a, err := rc.do(tg, http.MethodPost, "/echo", []string{"Authorization", "Bearer x"}, []byte(`{"a":1}`), nil, nil)
		if err != nil || a.status != 200 || string(a.body) != `POST /pre/echo Bearer x {"a":1}` {
			t.Fatalf("post: %d %q %v", a.status, a.body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for three sequential requests, want 1", n)
	}
	a, err := rc.do(tg, http.MethodGet, "/busy", nil, nil, func(status int) bool { return status == 200 }, nil)
	if err != nil || a.status != 503 || a.retryAfter != "3" || a.body != nil {
		t.Fatalf("busy: %d %q %q %v", a.status, a.retryAfter, a.body, err)
	}
	if _, err := rc.do(tg, http.MethodGet, "/slow", nil, nil, nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("slow: %v, want a deadline error", err)
	}
	a, err = rc.do(tg, http.MethodGet, "/after", nil, nil, nil, nil)
	if err != nil || string(a.body) != "GET /pre/after  " {
		t.Fatalf("after a timeout: %q %v", a.body, err)
	}
}

// readAnswer reads what net/http's ReadResponse reads of the same bytes:
// status, Retry-After, body (kept or skipped), whether the connection
// must close, and leaves the reader at the next answer, for every framing
// a server may choose.
func TestReadAnswerAsReadResponse(t *testing.T) {
	next := "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext"
	cases := map[string]string{
		"length":         "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"a\":\"bcd\"}",
		"lower case":     "HTTP/1.1 201 Created\r\ncontent-length: 2\r\nretry-after:  7 \r\n\r\nok",
		"retry-after":    "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 5\r\n\r\nbusy!",
		"chunked":        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;x=y\r\n, world\r\n0\r\n\r\n",
		"chunked+trail":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		"not modified":   "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\nContent-Length: 120\r\n\r\n",
		"no content":     "HTTP/1.1 204 No Content\r\n\r\n",
		"close":          "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye",
		"1.0":            "HTTP/1.0 200 OK\r\nContent-Length: 3\r\n\r\nold",
		"1.0 keep-alive": "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 3\r\n\r\nold",
		"until close":    "HTTP/1.1 200 OK\r\n\r\nall the rest",
		"empty reason":   "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n",
		"LF only":        "HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		// Longer than the reader's buffer: skipped in several fills.
		"large": "HTTP/1.1 200 OK\r\nContent-Length: 100003\r\n\r\n" + strings.Repeat("x", 100000) + "end",
	}
	// Memory to read a kept body into: none, too small, large enough and
	// holding other bytes; the body read must not depend on it.
	dsts := map[string]func() []byte{
		"nil":   func() []byte { return nil },
		"empty": func() []byte { return []byte{} },
		"small": func() []byte { return []byte("0123456") },
		"large": func() []byte { return bytes.Repeat([]byte{'#'}, 200_000) },
	}
	for name, raw := range cases {
		for dname, dst := range dsts {
			in := raw + next
			old, _, err := readAnswer(bufio.NewReader(strings.NewReader(in)), nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			d := dst()
			br := bufio.NewReader(strings.NewReader(in))
			a, _, err := readAnswer(br, nil, d)
			if err != nil || a.status != old.status || a.retryAfter != old.retryAfter || !bytes.Equal(a.body, old.body) || (a.body == nil) != (old.body == nil) {
				t.Errorf("%s into %s: %d %q %q %v, want as into new memory: %d %q %q", name, dname, a.status, a.retryAfter, a.body, err, old.status, old.retryAfter, old.body)
			}
			if dname == "large" && len(a.body) > 0 && &a.body[0] != &d[0] {
				t.Errorf("%s: a body that fits was not read into the memory given", name)
			}
			if name != "until close" {
				if a, _, err := readAnswer(br, nil, d); err != nil || a.status != 200 || string(a.body) != "next" {
					t.Errorf("%s into %s: the next answer: %d %q %v", name, dname, a.status, a.body, err)
				}
			}
		}
		for _, keep := range []func(int) bool{nil, func(int) bool { return false }} {
			in := raw + next
			want, err := http.ReadResponse(bufio.NewReader(strings.NewReader(in)), nil)
			if err != nil {
				t.Fatalf("%s: ReadResponse: %v", name, err)
			}
			wantBody, err := io.ReadAll(want.Body)
			if err != nil {
				t.Fatalf("%s: ReadResponse's body: %v", name, err)
			}
			br := bufio.NewReader(strings.NewReader(in))
			a, mustClose, err := readAnswer(br, keep, nil)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if keep == nil && string(a.body) != string(wantBody) || keep != nil && a.body != nil {
				t.Errorf("%s (keep %v): body %q, want %q", name, keep == nil, a.body, wantBody)
			}
			if a.status != want.StatusCode || a.retryAfter != want.Header.Get("Retry-After") || mustClose != want.Close && name != "until close" {
				t.Errorf("%s: %d %q close %v, want %d %q %v", name, a.status, a.retryAfter, mustClose, want.StatusCode, want.Header.Get("Retry-After"), want.Close)
			}
			if name == "until close" {
				if !mustClose {
					t.Errorf("%s: connection kept", name)
				}
				continue
			}
			if a, _, err := readAnswer(br, nil, nil); err != nil || a.status != 200 || string(a.body) != "next" {
				t.Errorf("%s: the next answer: %d %q %v", name, a.status, a.body, err)
			}
		}
	}
	for name, raw := range map[string]string{
		"short body":    "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"short chunk":   "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
		"no blank line": "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n",
		"bad status":    "HTTP/1.1 2x0 OK\r\n\r\n",
		"bad length":    "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"not http":      "SSH-2.0-OpenSSH\r\n\r\n",
	} {
		if a, _, err := readAnswer(bufio.NewReader(strings.NewReader(raw)), nil, nil); err == nil {
			t.Errorf("%s: read %+v without an error", name, a)
		}
	}
	if _, _, err := readAnswer(bufio.NewReader(strings.NewReader("")), nil, nil); err != io.EOF {
		t.Errorf("a closed idle connection: %v, want io.EOF", err)
	}
}

// readAllInto reads what io.ReadAll reads, with the same error, however
// the reader hands its bytes over and whatever memory it is given.
func TestReadAllIntoAsReadAll(t *testing.T) {
	boom := errors.New("boom")
	for _, n := range []int{0, 1, 7, 511, 512, 513, 4096, 100_003} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte('a' + i%26)
		}
		readers := map[string]func() io.Reader{
			"plain":    func() io.Reader { return bytes.NewReader(data) },
			"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
			"half":     func() io.Reader { return iotest.HalfReader(bytes.NewReader(data)) },
			"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
			"error":    func() io.Reader { return io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)) },
		}
		for rname, r := range readers {
			want, wantErr := io.ReadAll(r())
			for _, dst := range [][]byte{nil, {}, make([]byte, 3, 5), bytes.Repeat([]byte{'#'}, 200_000)} {
				got, err := readAllInto(dst, r())
				if !bytes.Equal(got, want) || got == nil || err != wantErr {
					t.Errorf("%d bytes, %s, into cap %d: %d bytes (nil %v) %v, want %d %v", n, rname, cap(dst), len(got), got == nil, err, len(want), wantErr)
				}
			}
		}
	}
}

// A ghost-checked body read into memory large enough allocates nothing:
// the 145 KB answers the generator reads a thousand times a second.
func TestReadAnswerIntoAllocs(t *testing.T) {
	body := strings.Repeat(`{"code":"11817488","remain_stat":"plenty"},`, 3400)
	answer := "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	r := strings.NewReader("")
	br := bufio.NewReaderSize(r, 32<<10)
	dst := make([]byte, 0, 150_000)
	keep := func(int) bool { return true }
	allocs := testing.AllocsPerRun(50, func() {
		r.Reset(answer)
		br.Reset(r)
		if a, _, err := readAnswer(br, keep, dst); err != nil || len(a.body) != len(body) {
			t.Fatal(a.status, err)
		}
	})
	if allocs != 0 {
		t.Errorf("%.1f allocations an answer read into memory given, want 0", allocs)
	}
	allocs = testing.AllocsPerRun(50, func() {
		b, err := readAllInto(dst, strings.NewReader(body))
		if err != nil || len(b) != len(body) {
			t.Fatal(err)
		}
	})
	if allocs > 1 { // the strings.Reader
		t.Errorf("%.1f allocations a page read into memory given, want ≤ 1", allocs)
	}
}

// Memory offered for a body that does not fit is replaced by memory with
// room to spare (a kept buffer is not grown for every larger body); none
// offered, the body's memory is its size, as before.
func TestReadAnswerGrowsOfferedMemory(t *testing.T) {
	body := strings.Repeat("x", 5000)
	answer := "HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + body
	for _, c := range []struct {
		dst     []byte
		wantCap int
	}{{nil, 5000}, {[]byte{}, 8192}, {make([]byte, 0, 3000), 8192}, {make([]byte, 0, 4097), 8194}, {make([]byte, 0, 6000), 6000}} {
		a, _, err := readAnswer(bufio.NewReader(strings.NewReader(answer)), nil, c.dst)
		if err != nil || string(a.body) != body || cap(a.body) != c.wantCap {
			t.Errorf("into cap %d (nil %v): %d bytes, cap %d, %v; want cap %d", cap(c.dst), c.dst == nil, len(a.body), cap(a.body), err, c.wantCap)
		}
	}
}

// BenchmarkReadAnswer: a sale's answer as the server sends it, read by
// readAnswer and by net/http's ReadResponse (what the raw client used).
func BenchmarkReadAnswer(b *testing.B) {
	body := `{"sale_id":"01JF3Q8ZK4M2N7P5R9T1V3X5Z7","outlet":{"code":"11817488","stock":188,"remain_stat":"plenty"},"quantity":2,"week":"2020-03-09","sold_at":"2020-03-11T10:00:00+09:00","items":[{"role":"buyer","birth_year":1983,"quantity":2,"remaining_this_week":0}]}`
	answer := "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Type: application/json\r\nX-Request-Id: 5f2b9c1e8a7d4f3b\r\nDate: Wed, 11 Mar 2020 01:00:00 GMT\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n" + body
	r := strings.NewReader("")
	br := bufio.NewReaderSize(r, 32<<10)
	b.Run("readAnswer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(answer)
			br.Reset(r)
			if a, _, err := readAnswer(br, nil, nil); err != nil || len(a.body) != len(body) {
				b.Fatal(a, err)
			}
		}
	})
	b.Run("ReadResponse", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r.Reset(answer)
			br.Reset(r)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Fatal(err)
			}
			_ = resp.Header.Get("Retry-After")
			a := make([]byte, resp.ContentLength)
			if _, err := io.ReadFull(resp.Body, a); err != nil {
				b.Fatal(err)
			}
			resp.Body.Close()
		}
	})
}
