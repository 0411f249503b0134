package public

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	publicmask "github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/snapshot"

	"github.com/publicmask/publicmask/internal/httpx"
)

// stream is GET /api/v2/stream?lat&lng&m: Server-Sent Events, one
// `event: outlet` per change inside the circle, a comment heartbeat, and no
// back-pressure on the publisher: a client that lags by more than
// StreamBuffer batches, or whose socket stays blocked for
// StreamWriteTimeout, is dropped (EventSource reconnects by itself).
func (h *handler) stream(w http.ResponseWriter, req *http.Request) {
	q, s, ok := parseRequest(h, w, req, params.geoQuery)
	if !ok {
		return
	}
	// A since= the client wrote is checked like any parameter: ignored, it
	// would open a stream without the catch-up the client asked for, and
	// the changes made since its answer would be lost without a word. (A
	// Last-Event-ID is the browser's echo of our own ids: read leniently.)
	if v := req.URL.Query().Get("since"); v != "" {
		if _, _, ok := publicmask.ParseCursor(v); !ok {
			httpx.WriteCode(w, publicmask.EBadRequest, "since must be VERSION or VERSION@EPOCH (a near answer's version and epoch, or an event's id)")
			return
		}
	}
	rc := http.NewResponseController(w)
	lat, lng, m := q.lat, q.lng, q.m
	sub := h.r.SubscribeNear(h.opts.StreamBuffer, lat, lng, m)
	defer sub.Close()

	hd := w.Header()
	hd["Content-Type"] = ctSSE
	// A stream must not be cached by a CDN, unlike the other responses.
	hd["Cache-Control"] = ccNoCache
	hd["X-Accel-Buffering"] = []string{"no"} // nginx: do not buffer the stream
	hd["X-Data-Version"] = []string{s.VersionString()}
	hd["X-Data-As-Of"] = []string{s.AsOfString()}
	w.WriteHeader(http.StatusOK)

	write := func(b []byte) bool {
		rc.SetWriteDeadline(time.Now().Add(h.opts.StreamWriteTimeout))
		if _, err := w.Write(b); err != nil {
			return false
		}
		if rc.Flush() != nil {
			return false
		}
		// No deadline while idle between events: it bounds a write, not
		// the quiet time of a stream (HTTP/2 resets a stream whose deadline
		// passes even when nothing is being written).
		rc.SetWriteDeadline(time.Time{})
		return true
	}
	// An opening comment gets the headers through proxies at once, and the
	// retry hint keeps reconnects from hammering the node.
	if !write([]byte(": ok\nretry: 2000\n\n")) {
		return
	}
	// Snapshots are of one history until History moves (a poll found the
	// store restored under the node): then the subscription's batches are
	// of the other history, and the stream ends (its client reconnects
	// and gets a reset).
	gen := h.r.History()
	// Ids carry the epoch (VERSION@EPOCH) for a client that asks for it
	// (epoch=1, as the map does, or a since= with an epoch): before epochs
	// ids were bare versions, and clients may read them as numbers. A
	// client of bare ids is told of a restore only while its id is above
	// the restored store's versions.
	epochOf := func(s *snapshot.Snapshot) string { return "" }
	if q := req.URL.Query(); q.Get("epoch") == "1" || strings.Contains(q.Get("since"), "@") {
		epochOf = (*snapshot.Snapshot).Epoch
	}
	// A client that reconnects with the id of the last event it got
	// (EventSource sends it by itself) first gets the outlets of its circle
	// that changed since, as they are now: what changed while it was away
	// is not lost. Read after subscribing, so nothing falls between.
	var resumed *snapshot.Snapshot
	if since, epoch, ok := lastEventID(req); ok {
		// Ids are store versions, with the epoch of their history
		// (publicmask.Epochs). A cursor this node's data does not hold
		// is from data it does not have: another node a poll ahead (wait
		// a moment for this one to catch up), or a store restored from a
		// backup or recreated, whose history is not the one the client
		// saw. Then "changed since" would send nothing, or the changes
		// after the wrong point, and the client would keep data of
		// another history: it gets a reset and every outlet of its circle.
		// A bare version (no epoch) can only be told by its height.
		holds := func(s *snapshot.Snapshot) bool {
			return since <= s.Version() && (epoch == "" || s.Epochs().Holds(epoch, since))
		}
		resumed = h.r.Current()
		if !holds(resumed) {
			resumed = h.awaitHistory(req, holds)
		}
		reset := !holds(resumed)
		var hits []snapshot.Hit
		var missed []*snapshot.Entry
		for _, ht := range resumed.Near(lat, lng, m, hits) {
			if e := resumed.At(int(ht.Pos)); reset || e.Version > since {
				missed = append(missed, e)
			}
		}
		slices.SortFunc(missed, func(a, b *snapshot.Entry) int { return cmp.Compare(a.Version, b.Version) })
		var b []byte
		if reset {
			b = appendReset(b, resumed, epochOf(resumed))
		}
		if b = appendEvents(b, missed, lat, lng, epochOf(resumed)); len(b) > 0 && !write(b) {
			return
		}
	}
	// freshness=1: the client also wants to know how current this node's
	// data is (a public node serves its last snapshot while its store is
	// away, §4.5): an event at the start, with every heartbeat, and when
	// the snapshot turns stale or current again.
	var fresh *time.Timer
	var freshC <-chan time.Time // nil without freshness=1: never ready
	var stale bool
	if req.URL.Query().Get("freshness") == "1" {
		var b []byte
		b, stale = h.appendFreshness(nil)
		if !write(b) {
			return
		}
		fresh = time.NewTimer(h.freshCheck())
		defer fresh.Stop()
		freshC = fresh.C
	}
	tick := time.NewTicker(h.opts.Heartbeat)
	defer tick.Stop()
	buf := make([]byte, 0, 1024)
	for {
		select {
		case <-req.Context().Done():
			return
		case <-tick.C:
			b := append(buf[:0], ": heartbeat\n\n"...)
			if fresh != nil {
				b, stale = h.appendFreshness(b)
			}
			if !write(b) {
				return
			}
		case <-freshC:
			if st := h.r.Age() > h.opts.StaleAfter; st != stale {
				var b []byte
				b, stale = h.appendFreshness(buf[:0])
				if !write(b) {
					return
				}
			}
			fresh.Reset(h.freshCheck())
		case batch, ok := <-sub.C:
			if !ok {
				return // dropped for lagging, or the refresher stopped
			}
			if resumed != nil {
				// A batch applied before the resumed snapshot was read may
				// still be queued: never send an outlet older than sent.
				batch = slices.DeleteFunc(slices.Clone(batch), func(e *snapshot.Entry) bool {
					ce, ok := resumed.Lookup(e.Code())
					return ok && ce.Version > e.Version
				})
				if len(batch) == 0 {
					continue
				}
			}
			// Current before History: see gen.
			cur := h.r.Current()
			if h.r.History() != gen {
				return
			}
			// In version order, so that the id a client last got
			// (Last-Event-ID) covers every event before it.
			slices.SortFunc(batch, func(a, b *snapshot.Entry) int { return cmp.Compare(a.Version, b.Version) })
			buf = appendEvents(buf[:0], batch, lat, lng, epochOf(cur))
			if !write(buf) {
				return
			}
		}
	}
}

// awaitHistory waits up to ResumeGrace for this node's snapshot to hold a
// client's cursor (or the client to leave) and returns the current
// snapshot.
func (h *handler) awaitHistory(req *http.Request, holds func(*snapshot.Snapshot) bool) *snapshot.Snapshot {
	deadline := time.Now().Add(h.opts.ResumeGrace)
	for {
		s := h.r.Current()
		if holds(s) || !time.Now().Before(deadline) {
			return s
		}
		select {
		case <-req.Context().Done():
			return s
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// appendReset appends `event: reset`: the client's data is not of this
// node's history (see stream); the outlets of its circle follow, as they
// are in s, and it should drop what it holds from before (the map
// reloads). Its id is s's version, from which a later reconnect resumes.
func appendReset(buf []byte, s *snapshot.Snapshot, idEpoch string) []byte {
	buf = append(buf, "id: "...)
	buf = publicmask.AppendCursor(buf, s.Version(), idEpoch)
	buf = append(buf, "\nevent: reset\ndata: {\"version\":"...)
	buf = strconv.AppendInt(buf, s.Version(), 10)
	if ep := s.Epoch(); ep != "" {
		buf = append(buf, `,"epoch":"`...)
		buf = append(buf, ep...)
		buf = append(buf, '"')
	}
	buf = append(buf, `,"as_of":"`...)
	buf = append(buf, s.AsOfString()...)
	buf = append(buf, "\"}\n\n"...)
	return buf
}

// appendFreshness appends `event: freshness` with the snapshot's as_of, its
// age in real seconds and whether that is beyond StaleAfter, and returns
// whether it was.
func (h *handler) appendFreshness(buf []byte) ([]byte, bool) {
	s, age := h.r.Current(), h.r.Age()
	stale := age > h.opts.StaleAfter
	buf = append(buf, "event: freshness\ndata: {\"as_of\":\""...)
	buf = append(buf, s.AsOfString()...)
	buf = append(buf, `","age_s":`...)
	buf = strconv.AppendFloat(buf, age.Round(100*time.Millisecond).Seconds(), 'f', -1, 64)
	buf = append(buf, `,"stale":`...)
	buf = strconv.AppendBool(buf, stale)
	buf = append(buf, "}\n\n"...)
	return buf, stale
}

// freshCheck is when a freshness stream next looks at the snapshot's age:
// once it could have passed StaleAfter if not confirmed meanwhile (a
// healthy node confirms every second, so a stream wakes about once per
// StaleAfter), and every second while stale, to say soon when it is
// current again.
func (h *handler) freshCheck() time.Duration {
	if left := h.opts.StaleAfter - h.r.Age(); left > 0 {
		return left + 50*time.Millisecond
	}
	return time.Second
}

// appendEvents appends one `event: outlet` per entry, its version as id
// (with the epoch of its history, "VERSION@EPOCH", unless epoch is "").
func appendEvents(buf []byte, entries []*snapshot.Entry, lat, lng float64, epoch string) []byte {
	for _, e := range entries {
		buf = append(buf, "id: "...)
		buf = publicmask.AppendCursor(buf, e.Version, epoch)
		buf = append(buf, "\nevent: outlet\ndata: "...)
		buf = e.AppendV2(buf, snapshot.Haversine(lat, lng, e.Lat, e.Lng), true)
		buf = append(buf, "\n\n"...)
	}
	return buf
}

// lastEventID reads the Last-Event-ID header of a reconnecting client, or
// else the since parameter: the cursor of the data a client has (the
// "version" and "epoch" of the near answer it loaded as VERSION@EPOCH, or
// the id of the last event it got), for a client that opens a new
// EventSource (which cannot set the header) and must not miss what changed
// since. A bare VERSION is taken as before epochs.
func lastEventID(req *http.Request) (int64, string, bool) {
	v := req.Header.Get("Last-Event-ID")
	if v == "" {
		v = req.URL.Query().Get("since")
	}
	if v == "" {
		return 0, "", false
	}
	return publicmask.ParseCursor(v)
}
