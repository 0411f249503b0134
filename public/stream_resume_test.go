package public

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"
)

// sseEvent is one event of a stream, with its id ("" when it has none).
type sseEvent struct{ name, id, data string }

// openSSE opens the stream at path (with the given headers) on srv and
// returns a function giving its next event (comments skipped); it fails
// the test when none comes within wait.
func openSSE(t *testing.T, srv *httptest.Server, path string, hdr ...string) func(wait time.Duration) sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		t.Fatalf("stream %s: %d", path, resp.StatusCode)
	}
	events := make(chan sseEvent, 1024)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		var ev sseEvent
		for sc.Scan() {
			switch line := sc.Text(); {
			case line == "":
				if ev.name != "" {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.name = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data = line[6:]
			}
		}
	}()
	return func(wait time.Duration) sseEvent {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream ended")
			}
			return ev
		case <-time.After(wait):
			t.Fatalf("no event within %v", wait)
		}
		return sseEvent{}
	}
}

// TestStreamResetsAClientFromAnotherHistory: event ids are store versions.
// A client that resumes with an id above every version of this node (its
// store was restored from a backup, or rebuilt, since the client last got an
// event) has data this node never had; "the outlets changed since" its id
// would be nothing until the store's versions passed the id again, so the
// client kept showing the old history and ignored the new (the map drops
// an event older than the version it holds). The node must say so with a
// `reset` event, its id the node's version, and send every outlet of the
// circle as it is now. On main the stream sent nothing.
func TestStreamResetsAClientFromAnotherHistory(t *testing.T) {
	env, _ := gangbukEnv(t, Options{ResumeGrace: 100 * time.Millisecond})
	srv := httptest.NewServer(env.h)
	t.Cleanup(srv.Close) // after the streams' cleanups: Close waits for them
	in := env.src.get("11817488")
	v := env.r.Current().Version()
	q := fmt.Sprintf("lat=%v&lng=%v&m=500", in.Lat, in.Lng)
	var near struct {
		Outlets []struct{ Code string } `json:"outlets"`
	}
	if err := json.Unmarshal(env.get(t, "/api/v2/outlets/near?"+q+"&limit=500").body, &near); err != nil || len(near.Outlets) < 2 {
		t.Fatalf("near: %v, %d outlets", err, len(near.Outlets))
	}
	for _, hdr := range [][]string{{"Last-Event-ID", strconv.FormatInt(v+5000, 10)}, nil} {
		path := "/api/v2/stream?" + q
		if hdr == nil {
			path += "&since=" + strconv.FormatInt(v+5000, 10) // the map's first subscription
		}
		next := openSSE(t, srv, path, hdr...)
		ev := next(3 * time.Second)
		var reset struct {
			Version int64  `json:"version"`
			AsOf    string `json:"as_of"`
		}
		if ev.name != "reset" || ev.id != strconv.FormatInt(v, 10) || json.Unmarshal([]byte(ev.data), &reset) != nil || reset.Version != v || reset.AsOf == "" {
			t.Fatalf("resuming from %d on a node at version %d (%v): first event %+v; want a reset with id and version %d", v+5000, v, hdr, ev, v)
		}
		got := map[string]bool{}
		var last int64
		for range near.Outlets {
			ev := next(time.Second)
			var o struct{ Code string }
			id, _ := strconv.ParseInt(ev.id, 10, 64)
			if ev.name != "outlet" || json.Unmarshal([]byte(ev.data), &o) != nil || id > v || id < last {
				t.Fatalf("after the reset: %+v; want the circle's outlets in version order, none above %d", ev, v)
			}
			last = id
			got[o.Code] = true
		}
		for _, o := range near.Outlets {
			if !got[o.Code] {
				t.Errorf("after the reset: %s of the circle was not sent", o.Code)
			}
		}
		// And it goes on live.
		in.Stock = 7
		put := env.src.put(in)
		env.r.Notify([]publicmask.Outlet{put})
		if ev := next(3 * time.Second); ev.name != "outlet" || ev.id != strconv.FormatInt(put.Version, 10) {
			t.Fatalf("after the resync: %+v; want the new change, id %d", ev, put.Version)
		}
		v = put.Version
	}
}

// TestStreamWaitsForANodeAPollBehind: behind a balancer, a client may
// resume on a node one poll behind the node it left. That is no other
// history: the node waits (ResumeGrace) and resumes without a reset.
func TestStreamWaitsForANodeAPollBehind(t *testing.T) {
	env, _ := gangbukEnv(t, Options{ResumeGrace: 3 * time.Second})
	srv := httptest.NewServer(env.h)
	t.Cleanup(srv.Close) // after the streams' cleanups: Close waits for them
	in := env.src.get("11817488")
	v := env.r.Current().Version()
	next := openSSE(t, srv, fmt.Sprintf("/api/v2/stream?lat=%v&lng=%v&m=500", in.Lat, in.Lng), "Last-Event-ID", strconv.FormatInt(v+1, 10))
	time.Sleep(200 * time.Millisecond)
	in.Stock = 8
	put := env.src.put(in)
	env.r.Notify([]publicmask.Outlet{put})
	if ev := next(3 * time.Second); ev.name != "outlet" || ev.id != strconv.FormatInt(put.Version, 10) {
		t.Fatalf("resuming from %d on a node at %d that reached it 200 ms later: %+v; want that change, no reset", v+1, v, ev)
	}
}

// flakySource is a store that stops answering the public node's polls
// while down is set.
type flakySource struct {
	*fakeSource
	down atomic.Bool
}

func (f *flakySource) OutletChanges(ctx context.Context, after int64, limit int) ([]publicmask.Outlet, error) {
	if f.down.Load() {
		return nil, errors.New("store unreachable")
	}
	return f.fakeSource.OutletChanges(ctx, after, limit)
}

// TestStreamTellsFreshness: a public node serves its last snapshot while
// its store is away (§4.5), and its stream went on as if live: the map said
// "live" over data minutes old. With freshness=1 the stream says how current
// the node's data is at once, and again when it turns stale and when it is
// current again. Without it the stream is as the contract has it (outlet
// events and comments only).
func TestStreamTellsFreshness(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	recs := loadSample(t, gangbukSample)
	src := &flakySource{fakeSource: newFakeSource(outletsFromSample(t, recs))}
	r := snapshot.NewRefresher(src, snapshot.Options{PollInterval: 20 * time.Millisecond, ConfirmEvery: 50 * time.Millisecond})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(NewHandler(r, Options{StaleAfter: 400 * time.Millisecond, Heartbeat: time.Hour}))
	t.Cleanup(srv.Close) // after the streams' cleanups: Close waits for them
	in := src.get("11817488")
	circle := fmt.Sprintf("/api/v2/stream?lat=%v&lng=%v&m=500", in.Lat, in.Lng)
	waitFor(t, "snapshot confirmed", func() bool { return r.Age() < 100*time.Millisecond })
	type freshness struct {
		AsOf  string   `json:"as_of"`
		AgeS  *float64 `json:"age_s"`
		Stale *bool    `json:"stale"`
	}
	read := func(ev sseEvent) freshness {
		t.Helper()
		var f freshness
		if ev.name != "freshness" || json.Unmarshal([]byte(ev.data), &f) != nil || f.AgeS == nil || f.Stale == nil || f.AsOf == "" {
			t.Fatalf("event %+v; want freshness with as_of, age_s and stale", ev)
		}
		return f
	}
	next := openSSE(t, srv, circle+"&freshness=1")
	if f := read(next(time.Second)); *f.Stale || *f.AgeS > 0.3 {
		t.Fatalf("store up: %+v; want current", f)
	}
	plain := openSSE(t, srv, circle)
	src.down.Store(true)
	down := time.Now()
	f := read(next(3 * time.Second))
	if !*f.Stale || *f.AgeS < 0.4 {
		t.Fatalf("store away: %+v; want stale, older than 0.4 s", f)
	}
	t.Logf("stale said %v after the store went away", time.Since(down).Round(time.Millisecond))
	src.down.Store(false)
	up := time.Now()
	if f := read(next(3 * time.Second)); *f.Stale {
		t.Fatalf("store back: %+v; want current", f)
	}
	if took := time.Since(up); took > 1500*time.Millisecond {
		t.Errorf("current again said after %v; want within about a second", took)
	}
	// A change made meanwhile still arrives, and the plain stream saw no
	// freshness event.
	in.Stock = 5
	put := src.put(in)
	if ev := plain(3 * time.Second); ev.name != "outlet" || ev.id != strconv.FormatInt(put.Version, 10) {
		t.Fatalf("stream without freshness=1: %+v; want only the outlet event", ev)
	}
}

// TestStreamRefusesAMalformedSince: a since= that is not a cursor was
// ignored, so the client's stream opened without the catch-up it asked for
// and the changes since its answer were lost without a word. It is 400
// bad_request like any malformed parameter (DESIGN.md §4).
func TestStreamRefusesAMalformedSince(t *testing.T) {
	env, _ := gangbukEnv(t, Options{})
	for _, since := range []string{"abc", "-1", "1.5", "99999999999999999999", "5@", "@abc", "1@zz!", "1@" + strings.Repeat("a", 33), "%20"} {
		// On main the stream opened: give up on it after a moment.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		w := httptest.NewRecorder()
		env.h.ServeHTTP(w, httptest.NewRequest("GET", "/api/v2/stream?lat=37.62&lng=127.02&since="+since, nil).WithContext(ctx))
		cancel()
		response{code: w.Code, header: w.Header(), body: w.Body.Bytes()}.wantError(t, 400, publicmask.EBadRequest)
	}
}
