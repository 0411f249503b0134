package e2e

import (
	"bufio"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

// sseMessage is one event of a server-sent event stream as a browser's
// EventSource dispatches it (the HTML standard, "Interpreting an event
// stream").
type sseMessage struct {
	Name string    // the event: field, "message" when the event had none
	ID   string    // the last event ID at dispatch: an id: field carries over to later events
	Data string    // the data: lines joined with "\n"
	At   time.Time // when it was dispatched
}

// sseParser reads a stream the way the standard says, so that the e2e tests
// judge what a browser would see, not one spelling of it: lines end with
// CRLF, LF or CR; a field's value loses one leading space only; data: lines
// add up; an event without data is not dispatched; id: persists across
// events (and one holding NUL is ignored); retry: counts only when all
// digits; comments and unknown fields are skipped; a leading BOM is
// dropped; an event cut off by the end of the stream is discarded.
type sseParser struct {
	r       *bufio.Reader
	started bool // the leading BOM has been looked for
	skipLF  bool // the last line ended with CR: an LF right after belongs to it
	lastID  string
	// Retry is the last valid retry: field (0 before any).
	Retry time.Duration
	// Comment, when set, gets the text of each comment line after its ':'.
	Comment func(string)
}

func newSSEParser(r io.Reader) *sseParser {
	return &sseParser{r: bufio.NewReaderSize(r, 1<<16)}
}

// line reads one line without its ending; a line the stream ends in the
// middle of is not a line (io.EOF, or the read's error).
func (p *sseParser) line() (string, error) {
	if !p.started {
		p.started = true
		if b, err := p.r.Peek(3); err == nil && string(b) == "\uFEFF" {
			p.r.Discard(3)
		}
	}
	var sb strings.Builder
	for {
		c, err := p.r.ReadByte()
		if err != nil {
			return "", err
		}
		if p.skipLF {
			p.skipLF = false
			if c == '\n' {
				continue
			}
		}
		switch c {
		case '\r':
			p.skipLF = true
			return sb.String(), nil
		case '\n':
			return sb.String(), nil
		}
		sb.WriteByte(c)
	}
}

// Next returns the next event dispatched, or the error that ended the
// stream (io.EOF at its end).
func (p *sseParser) Next() (sseMessage, error) {
	var name string
	var data strings.Builder
	for {
		l, err := p.line()
		if err != nil {
			return sseMessage{}, err
		}
		if l == "" {
			if data.Len() == 0 {
				name = ""
				continue
			}
			if name == "" {
				name = "message"
			}
			d := data.String()
			return sseMessage{Name: name, ID: p.lastID, Data: d[:len(d)-1], At: time.Now()}, nil
		}
		if l[0] == ':' {
			if p.Comment != nil {
				p.Comment(l[1:])
			}
			continue
		}
		field, value, found := strings.Cut(l, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		switch field {
		case "event":
			name = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.ContainsRune(value, 0) {
				p.lastID = value
			}
		case "retry":
			if ms, ok := digits(value); ok {
				p.Retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
}

// digits reads a retry: value, which counts only when it is ASCII digits.
func digits(s string) (int64, bool) {
	if s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n, true
}

// TestSSEParser holds the parser to the standard's rules and examples, so
// that a server that changes its spelling within them (CRLF, no space after
// the colon, data over several lines) does not fail the e2e tests, and one
// that breaks them does.
func TestSSEParser(t *testing.T) {
	type ev struct{ Name, ID, Data string }
	cases := []struct {
		name, in string
		want     []ev
		retry    time.Duration
		comments []string
	}{
		{"the standard's stock ticker: data lines join", "data: YHOO\ndata: +2\ndata: 10\n\n",
			[]ev{{"message", "", "YHOO\n+2\n10"}}, 0, nil},
		{"the standard's ids: a bare id clears it, one space only is dropped",
			": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n\n",
			[]ev{{"message", "1", "first event"}, {"message", "", "second event"}, {"message", "", " third event"}}, 0, []string{" test stream"}},
		{"the standard's empty data; a last event without its blank line is discarded", "data\n\ndata\ndata\n\ndata:",
			[]ev{{"message", "", ""}, {"message", "", "\n"}}, 0, nil},
		{"with and without the space", "data:test\n\ndata: test\n\n",
			[]ev{{"message", "", "test"}, {"message", "", "test"}}, 0, nil},
		{"the server's own shape", ": ok\nretry: 2000\n\nid: 7@3f9a0c1d2e4b\nevent: outlet\ndata: {\"code\":\"1\",\"a\":\"b:c\"}\n\n: heartbeat\n\n",
			[]ev{{"outlet", "7@3f9a0c1d2e4b", `{"code":"1","a":"b:c"}`}}, 2 * time.Second, []string{" ok", " heartbeat"}},
		{"CRLF and CR alone end lines", "event: outlet\r\ndata: a\r\n\r\ndata: b\r\rid: 7\rdata: c\r\r",
			[]ev{{"outlet", "", "a"}, {"message", "", "b"}, {"message", "7", "c"}}, 0, nil},
		{"an id carries over; one holding NUL is ignored", "id: 5\ndata: a\n\ndata: b\n\nid: 6\x00\ndata: c\n\n",
			[]ev{{"message", "5", "a"}, {"message", "5", "b"}, {"message", "5", "c"}}, 0, nil},
		{"an event without data is not dispatched and its name does not carry over", "event: reset\n\ndata: x\n\n",
			[]ev{{"message", "", "x"}}, 0, nil},
		{"a leading BOM is dropped, unknown fields and bad retries ignored", "\uFEFFdata: x\nfoo: bar\nretry: 2x\nretry\n\n",
			[]ev{{"message", "", "x"}}, 0, nil},
		{"a field name is case-sensitive and whole", "Data: no\ndata : no\nevent:outlet\ndata:yes\n\n",
			[]ev{{"outlet", "", "yes"}}, 0, nil},
	}
	for _, c := range cases {
		for _, split := range []bool{false, true} {
			var r io.Reader = strings.NewReader(c.in)
			if split {
				r = iotest.OneByteReader(r) // CRLF across reads
			}
			p := newSSEParser(r)
			var comments []string
			p.Comment = func(s string) { comments = append(comments, s) }
			var got []ev
			for {
				m, err := p.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				got = append(got, ev{m.Name, m.ID, m.Data})
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("%s (one byte a read %v): got %q, want %q", c.name, split, got, c.want)
			}
			if p.Retry != c.retry {
				t.Errorf("%s: retry %v, want %v", c.name, p.Retry, c.retry)
			}
			if !slices.Equal(comments, c.comments) {
				t.Errorf("%s: comments %q, want %q", c.name, comments, c.comments)
			}
		}
	}

	// An event ended by CR alone is dispatched at once: the parser does not
	// wait for a byte that may never come to see whether an LF follows.
	pr, pw := io.Pipe()
	defer pw.Close()
	p := newSSEParser(pr)
	go pw.Write([]byte("data: a\r\r"))
	got := make(chan sseMessage, 1)
	go func() { m, _ := p.Next(); got <- m }()
	select {
	case m := <-got:
		if m.Data != "a" {
			t.Errorf("CR-ended event: data %q, want a", m.Data)
		}
	case <-time.After(5 * time.Second):
		t.Error("CR-ended event: not dispatched until more bytes came")
	}
}
