package rush

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// rawClient is the load's own HTTP/1.1 client for its two hot request
// kinds, sales and public reads, on plain http:// targets: the worker that
// makes a request writes it and reads the answer on a keep-alive
// connection itself. net/http's Transport hands each request to a writer
// and a reader goroutine of the connection and back (goroutine switches,
// channel operations, a context per request): about a third of the
// generator's CPU, on the two cores it shares with the server it measures.
// Anything else (https, gzip, streams, setup) still goes through net/http.
type rawClient struct {
	timeout time.Duration // whole exchange, dial included; 0 = none
	max     int           // idle connections kept per host

	mu      sync.Mutex
	targets map[string]*rawTarget // by base URL; nil entry: not servable
	idle    map[*rawTarget][]*rawConn
}

// rawTarget is a base URL the raw client serves.
type rawTarget struct {
	addr   string // host:port to dial
	host   string // Host header
	prefix string // path prefix of the base, without the trailing slash
}

type rawConn struct {
	c  net.Conn
	br *bufio.Reader
	wb []byte
}

func newRawClient(timeout time.Duration, maxIdle int) *rawClient {
	return &rawClient{timeout: timeout, max: maxIdle, targets: map[string]*rawTarget{}, idle: map[*rawTarget][]*rawConn{}}
}

// target returns how to reach base, or nil when only net/http can (https,
// user info, a query).
func (rc *rawClient) target(base string) *rawTarget {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	t, ok := rc.targets[base]
	if ok {
		return t
	}
	u, err := url.Parse(base)
	if err == nil && u.Scheme == "http" && u.User == nil && u.RawQuery == "" && u.Fragment == "" && u.Host != "" {
		addr := u.Host
		if u.Port() == "" {
			addr = net.JoinHostPort(u.Hostname(), "80")
		}
		t = &rawTarget{addr: addr, host: u.Host, prefix: strings.TrimSuffix(u.EscapedPath(), "/")}
	}
	rc.targets[base] = t
	return t
}

func (rc *rawClient) get(t *rawTarget, deadline time.Time) (*rawConn, error) {
	rc.mu.Lock()
	if l := rc.idle[t]; len(l) > 0 {
		c := l[len(l)-1]
		rc.idle[t] = l[:len(l)-1]
		rc.mu.Unlock()
		return c, nil
	}
	rc.mu.Unlock()
	d := net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Deadline: deadline}
	c, err := d.Dial("tcp", t.addr)
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, br: bufio.NewReaderSize(c, 32<<10), wb: make([]byte, 0, 512)}, nil
}

func (rc *rawClient) put(t *rawTarget, c *rawConn) {
	rc.mu.Lock()
	if l := rc.idle[t]; len(l) < rc.max {
		rc.idle[t] = append(l, c)
		rc.mu.Unlock()
		return
	}
	rc.mu.Unlock()
	c.c.Close()
}

// closeIdle closes the idle connections.
func (rc *rawClient) closeIdle() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for t, l := range rc.idle {
		for _, c := range l {
			c.c.Close()
		}
		delete(rc.idle, t)
	}
}

// rawAnswer is what the load reads of an answer.
type rawAnswer struct {
	status     int
	retryAfter string
	body       []byte // nil unless asked for
}

// do sends one request (hdr: header names and values in pairs) and reads
// its answer, keeping the body when keep(status) says so (nil: always)
// and discarding it otherwise. A kept body is read into dst's memory when
// it fits, else into new memory (with room to spare unless dst is nil);
// the caller owns it either way. A
// timed-out exchange is an error wrapping context.DeadlineExceeded, as
// net/http's client with a context reports it.
func (rc *rawClient) do(t *rawTarget, method, path string, hdr []string, body []byte, keep func(status int) bool, dst []byte) (rawAnswer, error) {
	var deadline time.Time
	if rc.timeout > 0 {
		deadline = time.Now().Add(rc.timeout)
	}
	c, err := rc.get(t, deadline)
	if err != nil {
		return rawAnswer{}, rawErr(err)
	}
	c.c.SetDeadline(deadline)
	w := append(c.wb[:0], method...)
	w = append(w, ' ')
	w = append(w, t.prefix...)
	w = append(w, path...)
	w = append(w, " HTTP/1.1\r\nHost: "...)
	w = append(w, t.host...)
	w = append(w, "\r\nUser-Agent: publicmask-rush\r\n"...)
	for i := 0; i+1 < len(hdr); i += 2 {
		w = append(w, hdr[i]...)
		w = append(w, ": "...)
		w = append(w, hdr[i+1]...)
		w = append(w, "\r\n"...)
	}
	if body != nil {
		w = append(w, "Content-Length: "...)
		w = strconv.AppendInt(w, int64(len(body)), 10)
		w = append(w, "\r\n"...)
	}
	w = append(w, "\r\n"...)
	w = append(w, body...)
	c.wb = w
	if _, err := c.c.Write(w); err != nil {
		c.c.Close()
		return rawAnswer{}, rawErr(err)
	}
	a, mustClose, err := readAnswer(c.br, keep, dst)
	if err != nil || mustClose {
		c.c.Close()
	} else {
		rc.put(t, c)
	}
	if err != nil {
		return rawAnswer{}, rawErr(err)
	}
	return a, nil
}

// readAnswer reads an HTTP/1.x answer to a GET or POST from br: the status,
// the Retry-After header and the body (kept when keep(status) says so, nil
// keep: always), framed as net/http's ReadResponse frames it (chunked,
// Content-Length, or until the connection closes; none for 1xx, 204 and
// 304). mustClose: the connection cannot carry another request. The other
// headers are skipped unparsed: ReadResponse's header map, canonical keys
// and per-answer objects were about a tenth of the generator's CPU. A kept
// body is read into dst's memory when it fits, else into new memory, with
// room to spare unless dst is nil (dst's contents are overwritten; the
// body never shares br's buffer):
// new memory for every storesByGeo body scanned for ghosts (~145 KB) was
// three fifths of the bytes the generator allocated in the mixed rush, and
// so of its collections (BENCHMARKS.md, branch gen29).
func readAnswer(br *bufio.Reader, keep func(status int) bool, dst []byte) (a rawAnswer, mustClose bool, err error) {
	line, err := answerLine(br)
	if err != nil {
		return a, true, err
	}
	if len(line) < 12 || string(line[:7]) != "HTTP/1." || line[8] != ' ' || (len(line) > 12 && line[12] != ' ') {
		return a, true, fmt.Errorf("malformed HTTP status line %q", line)
	}
	for _, d := range line[9:12] {
		if d < '0' || d > '9' {
			return a, true, fmt.Errorf("malformed HTTP status code %q", line[9:12])
		}
		a.status = a.status*10 + int(d-'0')
	}
	http10 := line[7] == '0'
	mustClose = http10
	length, chunked := int64(-1), false
	for {
		if line, err = answerLine(br); err != nil {
			return a, true, err
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			if line[0] == ' ' || line[0] == '\t' {
				continue // an obsolete folded line
			}
			return a, true, fmt.Errorf("malformed HTTP header line %q", line)
		}
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, perr := strconv.ParseInt(string(value), 10, 64)
			if perr != nil || n < 0 || (length >= 0 && n != length) {
				return a, true, fmt.Errorf("bad Content-Length %q", value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			switch {
			case bytes.EqualFold(value, []byte("chunked")):
				chunked = true
			case !bytes.EqualFold(value, []byte("identity")):
				return a, true, fmt.Errorf("unsupported transfer encoding %q", value)
			}
		case bytes.EqualFold(name, []byte("Connection")):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				if bytes.EqualFold(tok, []byte("close")) {
					mustClose = true
				} else if http10 && bytes.EqualFold(tok, []byte("keep-alive")) {
					mustClose = false
				}
			}
		case bytes.EqualFold(name, []byte("Retry-After")):
			if a.retryAfter == "" {
				a.retryAfter = string(value)
			}
		}
	}
	keepIt := keep == nil || keep(a.status)
	switch {
	case a.status/100 == 1 || a.status == http.StatusNoContent || a.status == http.StatusNotModified:
		if keepIt {
			a.body = []byte{}
		}
	case chunked:
		a.body, err = readOrDiscard(httputil.NewChunkedReader(br), keepIt, dst)
		for err == nil { // the trailer, up to its empty line
			if line, err = answerLine(br); err == nil && len(line) == 0 {
				break
			}
		}
	case length >= 0 && keepIt && length <= 1<<20:
		switch {
		case dst == nil:
			a.body = make([]byte, length)
		case int64(cap(dst)) >= length:
			a.body = dst[:length]
		default:
			// Memory offered but too small: new memory with room to
			// spare, so that the caller who keeps it for the next body
			// does not grow it for each slightly larger one.
			a.body = make([]byte, length, grownCap(cap(dst), int(length)))
		}
		_, err = io.ReadFull(br, a.body)
	case length >= 0 && keepIt:
		var b bytes.Buffer
		_, err = io.CopyN(&b, br, length)
		a.body = b.Bytes()
	case length >= 0:
		// Skipped in br's own buffer: io.CopyN to io.Discard copied every
		// byte once more (storesByGeo answers of up to ~145 KB).
		_, err = br.Discard(int(length))
	default: // the body ends with the connection
		mustClose = true
		a.body, err = readOrDiscard(br, keepIt, dst)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return rawAnswer{}, true, err
	}
	return a, mustClose, nil
}

// readOrDiscard reads r to its end, keeping what it read (in dst's
// memory while it fits) or not.
func readOrDiscard(r io.Reader, keep bool, dst []byte) ([]byte, error) {
	if keep {
		return readAllInto(dst, r)
	}
	_, err := io.Copy(io.Discard, r)
	return nil, err
}

// grownCap is the capacity memory of capacity c is grown to for n bytes:
// doubled (from at least 4 KiB) until n fits.
func grownCap(c, n int) int {
	c = max(c, 4<<10)
	for c < n {
		c *= 2
	}
	return c
}

// readAllInto is io.ReadAll reading into dst's memory (from its start,
// growing it as append does when r has more): the same bytes and error,
// and never a nil slice, as io.ReadAll.
func readAllInto(dst []byte, r io.Reader) ([]byte, error) {
	b := dst[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // room for the next read
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil {
			if err == io.EOF {
				err = nil
			}
			return b, err
		}
	}
}

// answerLine reads a line of an answer's head, without its CRLF (or LF);
// valid until the next read of br.
func answerLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		return nil, errors.New("HTTP answer header line too long")
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

// rawErr makes a timeout recognisable as context.DeadlineExceeded.
func rawErr(err error) error {
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return fmt.Errorf("%w (%v)", context.DeadlineExceeded, err)
	}
	return err
}
