package public

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/publicmask/publicmask/snapshot"
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
	// A client that reconnects with the id of the last event it got
	// (EventSource sends it by itself) first gets the outlets of its circle
	// that changed since, as they are now: what changed while it was away
	// is not lost. Read after subscribing, so nothing falls between.
	var resumed *snapshot.Snapshot
	if since, ok := lastEventID(req); ok {
		resumed = h.r.Current()
		var hits []snapshot.Hit
		var missed []*snapshot.Entry
		for _, ht := range resumed.Near(lat, lng, m, hits) {
			if e := resumed.At(int(ht.Pos)); e.Version > since {
				missed = append(missed, e)
			}
		}
		if len(missed) > 0 {
			slices.SortFunc(missed, func(a, b *snapshot.Entry) int { return cmp.Compare(a.Version, b.Version) })
			if !write(appendEvents(nil, missed, lat, lng)) {
				return
			}
		}
	}
	tick := time.NewTicker(h.opts.Heartbeat)
	defer tick.Stop()
	buf := make([]byte, 0, 1024)
	for {
		select {
		case <-req.Context().Done():
			return
		case <-tick.C:
			if !write([]byte(": heartbeat\n\n")) {
				return
			}
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
			// In version order, so that the id a client last got
			// (Last-Event-ID) covers every event before it.
			slices.SortFunc(batch, func(a, b *snapshot.Entry) int { return cmp.Compare(a.Version, b.Version) })
			buf = appendEvents(buf[:0], batch, lat, lng)
			if !write(buf) {
				return
			}
		}
	}
}

// appendEvents appends one `event: outlet` per entry, its version as id.
func appendEvents(buf []byte, entries []*snapshot.Entry, lat, lng float64) []byte {
	for _, e := range entries {
		buf = append(buf, "id: "...)
		buf = strconv.AppendInt(buf, e.Version, 10)
		buf = append(buf, "\nevent: outlet\ndata: "...)
		buf = e.AppendV2(buf, snapshot.Haversine(lat, lng, e.Lat, e.Lng), true)
		buf = append(buf, "\n\n"...)
	}
	return buf
}

// lastEventID reads the Last-Event-ID header of a reconnecting client, or
// else the since parameter: the version of the data a client has (the
// "version" of the near answer it loaded, or the id of the last event it
// got), for a client that opens a new EventSource (which cannot set the
// header) and must not miss what changed since.
func lastEventID(req *http.Request) (int64, bool) {
	v := req.Header.Get("Last-Event-ID")
	if v == "" {
		v = req.URL.Query().Get("since")
	}
	if v == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	return n, err == nil && n >= 0
}
