package rush

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

func (e *engine) read(j *readJob) {
	t0 := time.Now()
	var (
		b      []byte
		status int
		err    error
	)
	if t := e.rawReads.target(e.readBase); t != nil && !e.cfg.Gzip {
		var (
			a   rawAnswer
			buf *[]byte
			dst []byte
		)
		if j.ghost {
			buf = ghostBufs.Get().(*[]byte)
			dst = *buf
			defer func() {
				// The body's memory back to the pool, grown if it was.
				if cap(b) > cap(*buf) && cap(b) <= maxGhostBuf {
					*buf = b[:0]
				}
				ghostBufs.Put(buf)
			}()
		}
		a, err = e.rawReads.do(t, http.MethodGet, j.path, nil, nil, func(status int) bool { return keepRead(j, status) }, dst)
		status, b = a.status, a.body
	} else {
		var ok bool
		if status, b, err, ok = e.readNetHTTP(j); !ok {
			return
		}
	}
	e.tallyRead(j.kind, t0, status, err)
	if err == nil && status == http.StatusOK && b != nil {
		e.checkGhosts(b, t0)
	} else if err == nil && status != http.StatusOK && status != http.StatusServiceUnavailable {
		e.readErrorSample(j.path, status, b)
	}
}

// ghostBufs holds the memory the bodies scanned for ghosts are read into,
// each used by one read at a time (read puts it back once the scan and the
// error sample are done with the body; neither keeps it): these ~145 KB
// bodies in new memory each were three fifths of the bytes the generator
// allocated in the mixed rush, and so of its collections (BENCHMARKS.md,
// branch gen29). maxGhostBuf bounds what a buffer may grow to and stay.
var ghostBufs = sync.Pool{New: func() any { return &[]byte{} }} // not nil: grown with room to spare

const maxGhostBuf = 1 << 20

// keepRead says which answers' bodies are read: a 200 checked for ghosts,
// and error answers kept as samples.
func keepRead(j *readJob, status int) bool {
	return j.ghost && status == http.StatusOK || status != http.StatusOK && status != http.StatusServiceUnavailable
}

// readNetHTTP is read through net/http (https targets, --gzip); false
// when the request could not be made.
func (e *engine) readNetHTTP(j *readJob) (int, []byte, error, bool) {
	req, err := http.NewRequest(http.MethodGet, e.readBase+j.path, nil)
	if err != nil {
		return 0, nil, nil, false
	}
	if e.cfg.Gzip {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := e.readsC.Do(req)
	var b []byte
	status := 0
	if err == nil {
		status = resp.StatusCode
		if !e.cfg.Gzip && keepRead(j, status) || status != http.StatusOK && status != http.StatusServiceUnavailable {
			b, err = io.ReadAll(resp.Body)
		} else {
			_, err = io.Copy(io.Discard, resp.Body)
		}
		resp.Body.Close()
	}
	return status, b, err, true
}

// readErrorSample keeps a few failing public requests verbatim: an error
// answer to a query built from the server's own outlets is a server bug
// worth a report.
func (e *engine) readErrorSample(path string, status int, body []byte) {
	e.outcomesMu.Lock()
	defer e.outcomesMu.Unlock()
	if len(e.readErrSamples) < 10 {
		e.readErrSamples = append(e.readErrSamples, fmt.Sprintf("%d %s: %.200s", status, path, body))
	}
}

func (e *engine) tallyRead(kind string, t0 time.Time, status int, err error) {
	lat := time.Since(t0)
	k, sec := e.kinds[kind], e.sec(t0)
	switch {
	case err == nil && status == http.StatusOK:
		k.ok.Add(1)
		sec.readsOK.Add(1)
		k.lat.Record(lat)
		e.readsLat.Record(lat)
		sec.reads.Record(lat)
	case err == nil && status == http.StatusServiceUnavailable:
		k.shed.Add(1)
		sec.readsShed.Add(1)
	default:
		k.errors.Add(1)
		sec.readsErr.Add(1)
		key := "read transport"
		if err == nil {
			key = fmt.Sprintf("read %s %d", kind, status)
		}
		e.countError(key)
	}
}

// checkGhosts scans a public answer for (code, remain_stat) pairs without
// decoding it (names and addresses are JSON strings, so the keys cannot
// occur inside them) and compares each with the acknowledged stock.
func (e *engine) checkGhosts(b []byte, sent time.Time) {
	sec := e.sec(sent)
	var checked, ghosts int64
	for {
		i := bytes.Index(b, []byte(`"code":"`))
		if i < 0 {
			break
		}
		b = b[i+8:]
		j := bytes.IndexByte(b, '"')
		if j < 0 {
			break
		}
		code := b[:j]
		b = b[j:]
		k := bytes.Index(b, []byte(`"remain_stat":`))
		if k < 0 {
			break
		}
		b = b[k+14:]
		if len(b) == 0 || b[0] != '"' {
			continue // null: never stocked
		}
		b = b[1:]
		end := bytes.IndexByte(b, '"')
		if end < 0 {
			break
		}
		band := bandOf(string(b[:end]))
		o := e.outletFor(code)
		if o == nil || band == bandUnknown {
			continue
		}
		checked++
		if g, age := o.ghost(band, sent); g {
			ghosts++
			us := age.Microseconds()
			for {
				m := e.ghostMaxAge.Load()
				if us <= m || e.ghostMaxAge.CompareAndSwap(m, us) {
					break
				}
			}
		}
	}
	e.ghostChecked.Add(checked)
	e.ghosts.Add(ghosts)
	sec.ghostChecked.Add(checked)
	sec.ghosts.Add(ghosts)
}

// stream is one live-map subscriber: it holds /api/v2/stream open,
// reconnecting if dropped, and counts the events.
func (e *engine) stream(ctx context.Context, lat, lng float64) {
	path := e.readBase + "/api/v2/stream?lat=" + fmtCoord(lat) + "&lng=" + fmtCoord(lng) + "&m=2000"
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, path, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := e.streamC.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			if ctx.Err() != nil {
				return
			}
			if resp != nil {
				resp.Body.Close()
			}
			e.streamErrors.Add(1)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		e.streamsConnected.Add(1)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if bytes.HasPrefix(sc.Bytes(), []byte("event: outlet")) {
				e.streamEvents.Add(1)
			}
		}
		resp.Body.Close()
	}
}

// scrape is a 2020-style full-list scraper: every page of /stores/json or
// /sales/json, then a pause, over and over.
func (e *engine) scrape(ctx context.Context, kind string) {
	// The pages are read into the scraper's own memory, page after page:
	// io.ReadAll's new memory for each (~130 KB, grown in steps) was a
	// fifth of the bytes the generator allocated in the mixed rush
	// (BENCHMARKS.md, branch gen29).
	var buf []byte
	for ctx.Err() == nil {
		for page := 1; ctx.Err() == nil; page++ {
			t0 := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/corona19-masks/v1/%s/json?page=%d&perPage=500", e.readBase, kind, page), nil)
			resp, err := e.readsC.Do(req)
			var b []byte
			status := 0
			if err == nil {
				status = resp.StatusCode
				b, err = readAllInto(buf, resp.Body)
				buf = b
				resp.Body.Close()
			}
			if ctx.Err() != nil {
				return
			}
			e.tallyRead(kind, t0, status, err)
			if err != nil || status != http.StatusOK {
				break
			}
			if n, ok := pageCount(b); !ok || n < 500 {
				break
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
}

// progressLoop prints one line per second about the second just past.
func (e *engine) progressLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	w := e.cfg.progress()
	for i := 0; i < len(e.secs); i++ {
		select {
		case <-ctx.Done():
			// The run ended between ticks (its last requests answered
			// before the tick): the seconds it completed still get
			// their lines, the last one too.
			for ended := int(time.Since(e.start) / time.Second); i < min(ended, len(e.secs)); i++ {
				e.progressLine(w, i)
			}
			return
		case <-t.C:
		}
		e.progressLine(w, i)
	}
}

// progressLine prints the line of second i.
func (e *engine) progressLine(w io.Writer, i int) {
	s := e.secs[i]
	ghost := 0.0
	if c := e.ghostChecked.Load(); c > 0 {
		ghost = 100 * float64(e.ghosts.Load()) / float64(c)
	}
	fmt.Fprintf(w, "[%3ds] sales %5d/s ok %4d rej %d err p99 %6.1fms | reads %6d/s %d shed %d err p99 %5.1fms | fresh p99 %5.1fms (n=%d) | ghost %.2f%% | dropped %d/%d\n",
		i+1, s.salesOK.Load(), s.salesRej.Load(), s.salesErr.Load(), ms(s.sales.Quantile(0.99)),
		s.readsOK.Load(), s.readsShed.Load(), s.readsErr.Load(), ms(s.reads.Quantile(0.99)),
		ms(e.freshLat.Quantile(0.99)), e.freshLat.Count(), ghost,
		s.salesDropped.Load(), s.readsDropped.Load())
}

// pageCount is a v1 list page's "count": read from the page's start when
// it opens with it, as the server writes pages ({"count":N,...}), else
// decoded. Decoding a whole page of 500 records for it was three quarters
// of the scrapers' CPU, a sixteenth of the generator's in the mixed rush
// (BENCHMARKS.md, branch mix28). The scan takes the page's first "count"
// and does not check the rest of the page; a page that is not valid JSON
// after a valid start is read as its count says (decoding stopped the
// scraper's pass there), which changes only how far a pass goes: every
// page read is tallied before its count is looked at.
func pageCount(b []byte) (int, bool) {
	const head = `{"count":`
	if len(b) > len(head) && string(b[:len(head)]) == head {
		n, i := 0, len(head)
		for ; i < len(b) && b[i] >= '0' && b[i] <= '9' && i-len(head) < 9; i++ {
			n = n*10 + int(b[i]-'0')
		}
		if i > len(head) && i < len(b) && (b[i] == ',' || b[i] == '}') && (b[len(head)] != '0' || i == len(head)+1) {
			return n, true
		}
	}
	var p struct {
		Count int `json:"count"`
	}
	if json.Unmarshal(b, &p) != nil {
		return 0, false
	}
	return p.Count, true
}
