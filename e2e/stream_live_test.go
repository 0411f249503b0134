package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamEvent is one `event: outlet` of /api/v2/stream as a client got it.
type streamEvent struct {
	ID         int64
	At         time.Time
	Code       string  `json:"code"`
	Type       string  `json:"type"`
	Lat        float64 `json:"lat"`
	Lng        float64 `json:"lng"`
	RemainStat string  `json:"remain_stat"`
	DistanceM  float64 `json:"distance_m"`
	Forecast   struct {
		SalesPerHour float64 `json:"sales_per_hour"`
		SelloutAt    *string `json:"sellout_at"`
	} `json:"forecast"`
}

// liveStream reads one SSE stream in the background.
type liveStream struct {
	mu     sync.Mutex
	events []streamEvent
	beats  int
	opened chan struct{}
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

// openStream connects to the stream of s around (lat, lng, m), with a
// Last-Event-ID when lastID > 0, and returns once the opening comment came.
func openLive(t *testing.T, s *server, lat, lng float64, m int, lastID int64) *liveStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	c := &liveStream{opened: make(chan struct{}), done: make(chan struct{}), cancel: cancel}
	t.Cleanup(c.close)
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/api/v2/stream?lat=%v&lng=%v&m=%d", s.base, lat, lng, m), nil)
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		resp.Body.Close()
		t.Fatalf("stream: %d", resp.StatusCode)
	}
	go func() {
		defer close(c.done)
		defer resp.Body.Close()
		first := true
		p := newSSEParser(resp.Body)
		p.Comment = func(text string) {
			if first {
				first = false
				close(c.opened)
			}
			if strings.Contains(text, "heartbeat") {
				c.mu.Lock()
				c.beats++
				c.mu.Unlock()
			}
		}
		for {
			m, err := p.Next()
			if err != nil {
				if err != io.EOF {
					c.err = err
				}
				return
			}
			if m.Name != "outlet" {
				continue
			}
			id, _ := strconv.ParseInt(m.ID, 10, 64)
			ev := streamEvent{ID: id, At: m.At}
			if err := json.Unmarshal([]byte(m.Data), &ev); err != nil {
				c.err = err
				return
			}
			c.mu.Lock()
			c.events = append(c.events, ev)
			c.mu.Unlock()
		}
	}()
	select {
	case <-c.opened:
	case <-time.After(5 * time.Second):
		t.Fatal("stream: no opening comment in 5 s")
	}
	return c
}

func (c *liveStream) close() {
	c.cancel()
	<-c.done
}

func (c *liveStream) snapshot() []streamEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]streamEvent(nil), c.events...)
}

// await waits until an event of code after the from'th satisfies ok, and
// returns it (nil on timeout).
func (c *liveStream) await(from int, code string, timeout time.Duration, ok func(streamEvent) bool) *streamEvent {
	deadline := time.Now().Add(timeout)
	for {
		evs := c.snapshot()
		for i := from; i < len(evs); i++ {
			if evs[i].Code == code && ok(evs[i]) {
				return &evs[i]
			}
		}
		if time.Now().After(deadline) {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// liveDeployment is a writer and the node whose stream a citizen reads.
type liveDeployment struct {
	name   string
	writer func(i int) *server // the ledger node of the i'th write
	reader *server
}

func liveDeployments(t *testing.T) []liveDeployment {
	dir := t.TempDir()
	secret := secretFile(t, dir)
	clock := []string{"--seed", "none", "--clock", "2020-03-11T10:00:00+09:00", "--secret-file", secret}
	lite := start(t, append([]string{"--db", filepath.Join(dir, "pm.db")}, clock...)...)
	deps := []liveDeployment{{name: "sqlite", writer: func(int) *server { return lite }, reader: lite}}
	dsn := pgDSN(t)
	l1 := start(t, append([]string{"--db", dsn, "--role", "ledger"}, clock...)...)
	l2 := start(t, append([]string{"--db", dsn, "--role", "ledger"}, clock...)...)
	pub := start(t, append([]string{"--db", dsn, "--role", "public"}, clock...)...)
	return append(deps, liveDeployment{name: "postgres 2 ledger nodes + public", writer: func(i int) *server { return []*server{l1, l2}[i%2] }, reader: pub})
}

const (
	liveLat, liveLng = 37.62, 127.0164
	liveFar          = 37.65 // about 3.3 km north: outside a 500 m circle
)

func liveCSV(rows ...string) string {
	return "code,name,addr,type,lat,lng\n" + strings.Join(rows, "\n") + "\n"
}

func liveRow(code, typ string, lat float64) string {
	return fmt.Sprintf("%s,시험약국%s,서울특별시 강북구 솔매로 10 (미아동),%s,%.6f,%.6f", code, code[len(code)-2:], typ, lat, liveLng)
}

// TestStreamShowsEveryChangeInsideTheCircle follows one citizen's stream
// (DESIGN.md §4.2: `event: outlet` on every change inside the circle) on
// SQLite and on a public node fed by two PostgreSQL ledger nodes, through
// every kind of change an outlet goes through, and checks that each
// arrives, in version order, within a second.
func TestStreamShowsEveryChangeInsideTheCircle(t *testing.T) {
	skipShort(t, "runs four real processes")
	for _, d := range liveDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			const a, b, c = "92000001", "92000002", "92000003"
			w := d.writer
			w(0).mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(a, "01", liveLat), liveRow(b, "01", liveFar)), nil, 200)
			tok := w(0).outletToken(adminToken, a)
			waitUntil(t, 5*time.Second, "outlet visible on the reader", func() bool {
				st, _, _, _ := d.reader.send("GET", "/api/v2/outlets/"+a, "", nil)
				return st == 200
			})
			st := openLive(t, d.reader, liveLat, liveLng, 500, 0)
			steps := []struct {
				name string
				do   func(i int)
				code string
				ok   func(streamEvent) bool
			}{
				{"delivery", func(i int) {
					w(i).mustCall("POST", "/api/v2/outlet/deliveries", tok, map[string]any{"txn_id": "d1", "quantity": 40}, nil, 201)
				}, a, func(e streamEvent) bool { return e.RemainStat == "some" }},
				{"sale", func(i int) {
					w(i).mustCall("POST", "/api/v2/outlet/sales", tok, map[string]any{"txn_id": "s1", "buyer": born83(1), "quantity": 2}, nil, 201)
				}, a, func(e streamEvent) bool { return e.Forecast.SalesPerHour > 0 || e.RemainStat == "some" }},
				{"stock correction to few", func(i int) {
					w(i).mustCall("POST", "/api/v2/outlet/stock", tok, map[string]any{"txn_id": "c1", "count": 10}, nil, 201)
				}, a, func(e streamEvent) bool { return e.RemainStat == "few" }},
				{"suspend", func(i int) { w(i).mustCall("POST", "/api/v2/outlet/suspend", tok, map[string]any{}, nil, 200) },
					a, func(e streamEvent) bool { return e.RemainStat == "break" && e.Forecast.SelloutAt == nil }},
				{"resume", func(i int) { w(i).mustCall("POST", "/api/v2/outlet/resume", tok, map[string]any{}, nil, 200) },
					a, func(e streamEvent) bool { return e.RemainStat == "few" }},
				{"stock correction to empty", func(i int) {
					w(i).mustCall("POST", "/api/v2/outlet/stock", tok, map[string]any{"txn_id": "c2", "count": 1}, nil, 201)
				}, a, func(e streamEvent) bool { return e.RemainStat == "empty" && e.Forecast.SelloutAt == nil }},
				{"outlet imported inside", func(i int) {
					w(i).mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(c, "03", liveLat+0.001)), nil, 200)
				}, c, func(e streamEvent) bool { return e.Type == "03" }},
				{"re-import changes the type", func(i int) {
					w(i).mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(a, "02", liveLat)), nil, 200)
				}, a, func(e streamEvent) bool { return e.Type == "02" }},
				{"outlet moved into the circle", func(i int) {
					w(i).mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(b, "01", liveLat+0.002)), nil, 200)
				}, b, func(e streamEvent) bool { return e.DistanceM < 500 }},
				// The citizen's map shows c inside its circle: moved 3 km
				// away, it must learn that c left (or it keeps a marker
				// where there is no outlet).
				{"outlet moved out of the circle", func(i int) {
					w(i).mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(c, "03", liveFar)), nil, 200)
				}, c, func(e streamEvent) bool { return e.DistanceM > 500 }},
			}
			for i, s := range steps {
				from := len(st.snapshot())
				sent := time.Now()
				s.do(i)
				ev := st.await(from, s.code, 3*time.Second, s.ok)
				if ev == nil {
					t.Errorf("%s: no matching event for %s within 3 s; got %+v", s.name, s.code, st.snapshot()[from:])
					continue
				}
				t.Logf("%s: event %d after %v", s.name, ev.ID, ev.At.Sub(sent).Round(time.Millisecond))
			}
			evs := st.snapshot()
			for i := 1; i < len(evs); i++ {
				if evs[i].ID <= evs[i-1].ID {
					t.Errorf("events out of order: %d after %d", evs[i].ID, evs[i-1].ID)
				}
			}
		})
	}
}

// TestStreamResumesFromLastEventID: a client that lost its connection (a
// phone between cells, or a node that dropped it for lagging) and
// reconnects with the Last-Event-ID that EventSource sends by itself must
// not miss what changed in its circle meanwhile (the stream sends ids, so
// SSE clients resume from them).
func TestStreamResumesFromLastEventID(t *testing.T) {
	skipShort(t, "runs four real processes")
	for _, d := range liveDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			const a, b = "93000001", "93000002"
			w := d.writer
			w(0).mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(liveRow(a, "01", liveLat), liveRow(b, "01", liveLat+0.001)), nil, 200)
			ta, tb := w(0).outletToken(adminToken, a), w(0).outletToken(adminToken, b)
			st := openLive(t, d.reader, liveLat, liveLng, 500, 0)
			w(0).mustCall("POST", "/api/v2/outlet/deliveries", ta, map[string]any{"txn_id": "d1", "quantity": 150}, nil, 201)
			ev := st.await(0, a, 3*time.Second, func(e streamEvent) bool { return e.RemainStat == "plenty" })
			if ev == nil {
				t.Fatal("no event for the delivery")
			}
			st.close()
			// While disconnected: b gets stock, a is suspended.
			w(1).mustCall("POST", "/api/v2/outlet/deliveries", tb, map[string]any{"txn_id": "d2", "quantity": 50}, nil, 201)
			w(0).mustCall("POST", "/api/v2/outlet/suspend", ta, map[string]any{}, nil, 200)
			waitUntil(t, 3*time.Second, "reader caught up", func() bool {
				var o struct {
					RemainStat string `json:"remain_stat"`
				}
				st, _ := d.reader.call("GET", "/api/v2/outlets/"+a, "", nil, &o)
				return st == 200 && o.RemainStat == "break"
			})
			again := openLive(t, d.reader, liveLat, liveLng, 500, ev.ID)
			if again.await(0, a, 2*time.Second, func(e streamEvent) bool { return e.RemainStat == "break" }) == nil {
				t.Errorf("after reconnecting with Last-Event-ID %d: no event for %s's suspension; got %+v", ev.ID, a, again.snapshot())
			}
			if again.await(0, b, time.Second, func(e streamEvent) bool { return e.RemainStat == "some" }) == nil {
				t.Errorf("after reconnecting with Last-Event-ID %d: no event for %s's delivery; got %+v", ev.ID, b, again.snapshot())
			}
		})
	}
}

// TestPublicStreamRidesOutStoreOutage: a public node whose store stops
// answering (a partition: its connections stay open, nothing arrives)
// keeps its streams open with heartbeats and keeps answering from its last
// snapshot, with X-Data-As-Of showing its age (DESIGN.md §4.5); once the
// store answers again, every change made meanwhile arrives on the stream.
func TestPublicStreamRidesOutStoreOutage(t *testing.T) {
	skipShort(t, "runs a ledger and a public node on PostgreSQL, one through a partitioning proxy, for 20 s")
	dsn := pgDSN(t)
	proxy := startPgProxy(t, mustHost(t, dsn))
	common := []string{"--seed", "none", "--clock", "2020-03-11T10:00:00+09:00"}
	l := start(t, append([]string{"--db", dsn, "--role", "ledger", "--secret-file", secretFile(t, t.TempDir())}, common...)...)
	pub := start(t, append([]string{"--db", viaProxy(t, dsn, proxy), "--role", "public"}, common...)...)
	var rows []string
	var codes []string
	for i := range 5 {
		code := fmt.Sprintf("9700000%d", i)
		codes = append(codes, code)
		rows = append(rows, liveRow(code, "01", liveLat+float64(i)*0.0005))
	}
	l.mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(rows...), nil, 200)
	toks := map[string]string{}
	for _, c := range codes {
		toks[c] = l.outletToken(adminToken, c)
		l.mustCall("POST", "/api/v2/outlet/deliveries", toks[c], map[string]any{"txn_id": "open", "quantity": 150}, nil, 201)
	}
	waitUntil(t, 5*time.Second, "stock on the public node", func() bool { return v1Stat(t, pub, codes[4]) == "plenty" })
	st := openLive(t, pub, liveLat, liveLng, 1000, 0)

	nearAsOf := func() time.Time {
		code, hd, _, err := pub.send("GET", fmt.Sprintf("/api/v2/outlets/near?lat=%v&lng=%v&m=1000", liveLat, liveLng), "", nil)
		if err != nil || code != 200 {
			t.Fatalf("near on the public node: %d %v", code, err)
		}
		at, err := time.Parse(time.RFC3339, hd.Get("X-Data-As-Of"))
		if err != nil {
			t.Fatalf("X-Data-As-Of %q: %v", hd.Get("X-Data-As-Of"), err)
		}
		return at
	}
	time.Sleep(1500 * time.Millisecond) // a confirmation of the snapshot
	before := nearAsOf()
	proxy.set(true)
	cut := time.Now()
	for i, c := range codes {
		l.mustCall("POST", "/api/v2/outlet/stock", toks[c], map[string]any{"txn_id": "cut", "count": 10 + i}, nil, 201)
	}
	time.Sleep(17 * time.Second)
	// X-Data-As-Of (service clock) stays where it was at the cut.
	during := nearAsOf()
	t.Logf("X-Data-As-Of moved %v during 17 s of outage", during.Sub(before).Round(time.Millisecond))
	if during.Sub(before) > 2*time.Second {
		t.Errorf("X-Data-As-Of moved %v during the outage: the snapshot looks confirmed while the store is away", during.Sub(before))
	}
	if code, _ := pub.get("/readyz"); code != 200 {
		t.Errorf("public node /readyz during the outage: %d, want 200", code)
	}
	st.mu.Lock()
	beats, evs := st.beats, len(st.events)
	st.mu.Unlock()
	select {
	case <-st.done:
		t.Fatalf("the stream ended during the outage: %v", st.err)
	default:
	}
	if beats == 0 {
		t.Errorf("no heartbeat in %v of outage", time.Since(cut).Round(time.Second))
	}
	if evs != 0 {
		t.Errorf("%d events during the outage, before the store answered", evs)
	}
	proxy.set(false)
	healed := time.Now()
	for _, c := range codes {
		if st.await(0, c, 10*time.Second, func(e streamEvent) bool { return e.RemainStat == "few" }) == nil {
			t.Errorf("%s's count made during the outage never arrived on the stream", c)
		}
	}
	t.Logf("after the store came back, the changes arrived in %v", time.Since(healed).Round(time.Millisecond))
	waitUntil(t, 5*time.Second, "X-Data-As-Of confirmed again", func() bool { return nearAsOf().Sub(before) > 15*time.Second })
}

type v2Outlet struct {
	Code       string   `json:"code"`
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Lat        float64  `json:"lat"`
	Lng        float64  `json:"lng"`
	RemainStat *string  `json:"remain_stat"`
	StockAt    *string  `json:"stock_at"`
	UpdatedAt  *string  `json:"updated_at"`
	DistanceM  *float64 `json:"distance_m"`
	Forecast   struct {
		SalesPerHour float64 `json:"sales_per_hour"`
		SelloutAt    *string `json:"sellout_at"`
	} `json:"forecast"`
}

type nearAnswer struct {
	Version int64      `json:"version"`
	Count   int        `json:"count"`
	Outlets []v2Outlet `json:"outlets"`
}

func str(p *string) string {
	if p == nil {
		return "null"
	}
	return *p
}

// TestCitizenAnswersAgree: after known changes, near (status filter,
// limit, the clamp of m), one outlet, v1 and the summary per 시도 say the
// truth, and the same thing, on SQLite and on a public node fed by two
// PostgreSQL ledger nodes; forecasts are null where DESIGN.md §4.2 says so
// and the selling outlet's rate is plausible.
func TestCitizenAnswersAgree(t *testing.T) {
	skipShort(t, "runs four real processes")
	for _, d := range liveDeployments(t) {
		t.Run(d.name, func(t *testing.T) {
			w := d.writer
			// Six in 강북구 (plenty, some, few, empty, break, never stocked)
			// at 0, 111, …, 555 m north, and two in 부산 (some, few).
			stocks := []int{150, 50, 10, 1, 50, -1}
			var rows []string
			var codes []string
			for i := range stocks {
				code := fmt.Sprintf("9800000%d", i)
				codes = append(codes, code)
				rows = append(rows, liveRow(code, "01", liveLat+float64(i)*0.001))
			}
			rows = append(rows, "98000006,부산약국6,부산광역시 중구 중앙대로 10 (중앙동),01,35.100000,129.030000",
				"98000007,부산약국7,부산광역시 중구 중앙대로 11 (중앙동),03,35.101000,129.030000")
			w(0).mustCall("PUT", "/api/v2/admin/outlets", adminToken, liveCSV(rows...), nil, 200)
			toks := map[string]string{}
			for i, c := range append(slices.Clone(codes), "98000006", "98000007") {
				toks[c] = w(0).outletToken(adminToken, c)
				q := 0
				switch {
				case i < len(stocks):
					q = stocks[i]
				case c == "98000006":
					q = 40
				default:
					q = 5
				}
				if q >= 0 {
					w(i).mustCall("POST", "/api/v2/outlet/deliveries", toks[c], map[string]any{"txn_id": "open", "quantity": q}, nil, 201)
				}
			}
			w(1).mustCall("POST", "/api/v2/outlet/suspend", toks[codes[4]], map[string]any{}, nil, 200)
			// The plenty outlet sells: 5 sales of 2 masks.
			for i := range 5 {
				w(i).mustCall("POST", "/api/v2/outlet/sales", toks[codes[0]], map[string]any{"txn_id": fmt.Sprintf("s%d", i), "buyer": born83(100 + i), "quantity": 2}, nil, 201)
			}
			wantStat := []string{"plenty", "some", "few", "empty", "break", "null"}
			near := func(q string) nearAnswer {
				var a nearAnswer
				d.reader.mustCall("GET", fmt.Sprintf("/api/v2/outlets/near?lat=%v&lng=%v&%s", liveLat, liveLng, q), "", nil, &a, 200)
				return a
			}
			// 15 s: a public node on PostgreSQL polls behind a loaded machine.
			waitUntil(t, 15*time.Second, "the reader caught up", func() bool {
				a := near("m=1000")
				if a.Count != 6 {
					return false
				}
				for i, o := range a.Outlets {
					if str(o.RemainStat) != wantStat[i] {
						return false
					}
				}
				return a.Outlets[0].Forecast.SalesPerHour > 0
			})
			all := near("m=1000")
			for i, o := range all.Outlets {
				if o.Code != codes[i] {
					t.Errorf("near order: %d is %s, want %s", i, o.Code, codes[i])
				}
				// §4.2: null when not selling, suspended or empty. The
				// selling outlet may have none on a node that saw its five
				// sales as fewer changes (§6.7: computed from the rate the
				// node saw; snapshot.minSalesForSellout).
				if i > 0 && o.Forecast.SelloutAt != nil {
					t.Errorf("%s (%s): sellout_at %s, want null", o.Code, str(o.RemainStat), str(o.Forecast.SelloutAt))
				}
				// The one outlet answer is the near entry, less distance_m.
				var one v2Outlet
				d.reader.mustCall("GET", "/api/v2/outlets/"+o.Code, "", nil, &one, 200)
				near := o
				near.DistanceM = nil
				if a, b := mustJSON(t, one), mustJSON(t, near); a != b {
					t.Errorf("%s: /outlets/{code} %s, near %s", o.Code, a, b)
				}
			}
			// 10 masks sold within the last seconds: a rate per hour, a
			// sell-out time after now (140 masks left).
			f := all.Outlets[0].Forecast
			t.Logf("selling outlet's forecast: %v masks/h, sellout_at %s", f.SalesPerHour, str(f.SelloutAt))
			if f.SalesPerHour <= 0 {
				t.Errorf("sales_per_hour %v after 10 masks sold", f.SalesPerHour)
			}
			if ps := near("m=1000&status=plenty,some"); ps.Count != 2 || ps.Outlets[0].Code != codes[0] || ps.Outlets[1].Code != codes[1] {
				t.Errorf("status=plenty,some: %+v", ps)
			}
			if ps := near("m=1000&status=break"); ps.Count != 1 || ps.Outlets[0].Code != codes[4] {
				t.Errorf("status=break: %+v", ps)
			}
			if l := near("m=1000&limit=2"); l.Count != 2 || l.Outlets[1].Code != codes[1] {
				t.Errorf("limit=2: %+v", l)
			}
			if small := near("m=150"); small.Count != 2 {
				t.Errorf("m=150: %d outlets, want 2 (0 and 111 m)", small.Count)
			}
			if a, b := near("m=10000"), near("m=5000"); a.Count != b.Count {
				t.Errorf("m=10000 gives %d outlets, m=5000 %d: want it clamped to 5000", a.Count, b.Count)
			}
			for _, bad := range []string{"m=abc", "limit=abc", "status=lots"} {
				code, _, body, _ := d.reader.send("GET", fmt.Sprintf("/api/v2/outlets/near?lat=%v&lng=%v&%s", liveLat, liveLng, bad), "", nil)
				if code != 400 {
					t.Errorf("near %s: %d %s, want 400", bad, code, body)
				}
			}
			// v1 says the same remain_stat.
			for i, c := range codes {
				if got := v1Stat(t, d.reader, c); got != strings.Replace(wantStat[i], "null", "", 1) {
					t.Errorf("v1 %s: %q, want %q", c, got, wantStat[i])
				}
			}
			// The summary, per 시도 and nationally.
			var sum struct {
				National map[string]int            `json:"national"`
				Sido     map[string]map[string]int `json:"sido"`
			}
			d.reader.mustCall("GET", "/api/v2/summary", "", nil, &sum, 200)
			want := map[string]map[string]int{
				"서울특별시": {"plenty": 1, "some": 1, "few": 1, "empty": 1, "break": 1, "unstocked": 1, "total": 6},
				"부산광역시": {"plenty": 0, "some": 1, "few": 1, "empty": 0, "break": 0, "unstocked": 0, "total": 2},
			}
			for sido, w := range want {
				if fmt.Sprint(sum.Sido[sido]) != fmt.Sprint(w) {
					t.Errorf("summary %s: %v, want %v", sido, sum.Sido[sido], w)
				}
			}
			nat := map[string]int{"plenty": 1, "some": 2, "few": 2, "empty": 1, "break": 1, "unstocked": 1, "total": 8}
			if fmt.Sprint(sum.National) != fmt.Sprint(nat) {
				t.Errorf("summary national: %v, want %v", sum.National, nat)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
