package web

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// fakeAPI implements the handful of public and outlet endpoints the pages
// call (DESIGN.md §4.1–4.3), so that the browser tests do not depend on the
// real server's packages. The lead's end-to-end tests cover the real thing.
type fakeAPI struct {
	mu      sync.Mutex
	outlets []*fakeOutlet
	subs    map[chan []byte]struct{}
	lastLat float64
	lastLng float64
	nearN   int

	token     string
	code      string
	stock     int
	soldToday int
	suspended bool
	sales     []*fakeSale
	txnSeen   map[string]int    // txn_id → sale requests processed while online
	txnBody   map[string]string // txn_id → canonical body of the first request
	receipts  map[string][]byte
	lateSales int
	bodies    []string // every sale body processed (for leak checks)

	// mode: 0 online, 1 unreachable (connection dropped), 2 503.
	mode atomic.Int32
}

type fakeOutlet struct {
	Code       string     `json:"code"`
	Name       string     `json:"name"`
	Addr       string     `json:"addr"`
	Type       string     `json:"type"`
	Lat        float64    `json:"lat"`
	Lng        float64    `json:"lng"`
	RemainStat *string    `json:"remain_stat"`
	StockAt    *time.Time `json:"stock_at"`
	UpdatedAt  *time.Time `json:"updated_at"`
	DistanceM  *int       `json:"distance_m,omitempty"`
}

type fakeSale struct {
	ID          string     `json:"id"`
	SoldAt      time.Time  `json:"sold_at"`
	Quantity    int        `json:"quantity"`
	Cancelled   bool       `json:"cancelled"`
	CancelledAt *time.Time `json:"cancelled_at,omitempty"`
	txn         string
}

func newFakeAPI() *fakeAPI {
	return &fakeAPI{
		subs: map[chan []byte]struct{}{}, token: "outlet-token-1", code: "11820001", stock: 100,
		txnSeen: map[string]int{}, txnBody: map[string]string{}, receipts: map[string][]byte{},
	}
}

func strp(s string) *string { return &s }

func haversine(lat1, lng1, lat2, lng2 float64) float64 {
	const r = 6371008.8
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lng2-lng1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Sqrt(a))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func apiErr(w http.ResponseWriter, code int, ecode string) {
	writeJSON(w, code, map[string]any{"error": map[string]string{"code": ecode, "message": ecode}})
}

func (f *fakeAPI) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v2/outlets/near", f.near)
	mux.HandleFunc("GET /api/v2/stream", f.stream)
	mux.HandleFunc("GET /corona19-masks/v1/storesByAddr/json", f.byAddr)
	o := func(pattern string, h http.HandlerFunc) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			switch f.mode.Load() {
			case 1: // the server cannot be reached: drop the connection
				if hj, ok := w.(http.Hijacker); ok {
					if c, _, err := hj.Hijack(); err == nil {
						c.Close()
						return
					}
				}
				panic(http.ErrAbortHandler)
			case 2:
				w.Header().Set("Retry-After", "1")
				apiErr(w, 503, "store_unavailable")
				return
			}
			if r.Header.Get("Authorization") != "Bearer "+f.token {
				apiErr(w, 401, "unauthorized")
				return
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			h(w, r)
		})
	}
	o("GET /api/v2/outlet", f.outletView)
	o("POST /api/v2/outlet/check", f.check)
	o("POST /api/v2/outlet/sales", f.sell)
	o("GET /api/v2/outlet/sales", f.recent)
	o("POST /api/v2/outlet/sales/{id}/cancel", f.cancel)
	o("POST /api/v2/outlet/deliveries", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Quantity int }
		json.NewDecoder(r.Body).Decode(&in)
		f.stock += in.Quantity
		writeJSON(w, 201, map[string]any{"stock": f.stock, "remain_stat": stat(f.stock)})
	})
	o("POST /api/v2/outlet/stock", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Count int }
		json.NewDecoder(r.Body).Decode(&in)
		f.stock = in.Count
		writeJSON(w, 201, map[string]any{"stock": f.stock, "remain_stat": stat(f.stock)})
	})
	o("POST /api/v2/outlet/suspend", func(w http.ResponseWriter, r *http.Request) { f.suspended = true; f.outletView(w, r) })
	o("POST /api/v2/outlet/resume", func(w http.ResponseWriter, r *http.Request) { f.suspended = false; f.outletView(w, r) })
}

func stat(n int) string {
	switch {
	case n >= 100:
		return "plenty"
	case n >= 30:
		return "some"
	case n >= 2:
		return "few"
	}
	return "empty"
}

func (f *fakeAPI) near(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lat, _ := strconv.ParseFloat(q.Get("lat"), 64)
	lng, _ := strconv.ParseFloat(q.Get("lng"), 64)
	m, _ := strconv.ParseFloat(q.Get("m"), 64)
	limit, _ := strconv.Atoi(q.Get("limit"))
	if limit <= 0 {
		limit = 50
	}
	if m <= 0 {
		m = 1000
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastLat, f.lastLng = lat, lng
	f.nearN++
	var out []fakeOutlet
	for _, o := range f.outlets {
		d := haversine(lat, lng, o.Lat, o.Lng)
		if d <= m {
			c := *o
			di := int(d + 0.5)
			c.DistanceM = &di
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return *out[i].DistanceM < *out[j].DistanceM })
	if len(out) > limit {
		out = out[:limit]
	}
	writeJSON(w, 200, map[string]any{"as_of": time.Now().Format(time.RFC3339Nano), "version": 7, "count": len(out), "outlets": out})
}

func (f *fakeAPI) stream(w http.ResponseWriter, r *http.Request) {
	ch := make(chan []byte, 16)
	f.mu.Lock()
	f.subs[ch] = struct{}{}
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		delete(f.subs, ch)
		f.mu.Unlock()
	}()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	fmt.Fprint(w, ": ok\nretry: 2000\n\n")
	w.(http.Flusher).Flush()
	for {
		select {
		case <-r.Context().Done():
			return
		case b := <-ch:
			fmt.Fprintf(w, "event: outlet\ndata: %s\n\n", b)
			w.(http.Flusher).Flush()
		}
	}
}

// subscribers reports how many streams are open.
func (f *fakeAPI) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// push changes an outlet's status and streams the change, as a sale made
// through the API would.
func (f *fakeAPI) push(code, st string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.outlets {
		if o.Code == code {
			o.RemainStat = strp(st)
			now := time.Now()
			o.UpdatedAt = &now
			b, _ := json.Marshal(o)
			for ch := range f.subs {
				select {
				case ch <- b:
				default:
				}
			}
		}
	}
}

func (f *fakeAPI) byAddr(w http.ResponseWriter, r *http.Request) {
	a := strings.Fields(r.URL.Query().Get("address"))
	if len(a) == 1 && a[0] == "중구" {
		writeJSON(w, 400, map[string]any{"error": map[string]string{"code": "ambiguous_address", "message": "\"중구\" names several places"},
			"candidates": []string{"서울특별시 중구", "부산광역시 중구"}})
		return
	}
	if len(a) < 2 {
		apiErr(w, 400, "bad_request")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var st []*fakeOutlet
	for _, o := range f.outlets {
		if strings.Contains(o.Addr, a[len(a)-1]) {
			st = append(st, o)
		}
	}
	writeJSON(w, 200, map[string]any{"address": strings.Join(a, " "), "count": len(st), "stores": st})
}

func (f *fakeAPI) outletView(w http.ResponseWriter, r *http.Request) {
	st := stat(f.stock)
	writeJSON(w, 200, map[string]any{
		"code": f.code, "name": "승약국", "addr": "서울특별시 강북구 삼양로 247 (미아동)", "type": "01",
		"lat": 37.6254369, "lng": 127.0164096, "stock": f.stock, "remain_stat": st,
		"suspended": f.suspended, "sold_today": f.soldToday,
	})
}

// eligibility: IDs of people born in 1984 may not buy today; "99…" have
// used their quota; anything shorter than 13 digits is invalid.
func verdict(id string) (ok bool, reason, next any, code int) {
	d := strings.ReplaceAll(id, "-", "")
	switch {
	case len(d) != 13:
		return false, "invalid_id", nil, 400
	case strings.HasPrefix(d, "84"):
		return false, "not_eligible_today", "2020-03-13", 422
	case strings.HasPrefix(d, "99"):
		return false, "quota_exceeded", "2020-03-16", 422
	}
	return true, nil, nil, 0
}

type personIn struct {
	ID       string `json:"id"`
	Category string `json:"category"`
	Quantity int    `json:"quantity"`
}

func (f *fakeAPI) check(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Buyer      string     `json:"buyer"`
		OnBehalfOf []personIn `json:"on_behalf_of"`
	}
	json.NewDecoder(r.Body).Decode(&in)
	all := true
	var persons []map[string]any
	add := func(role, id string) {
		ok, reason, next, code := verdict(id)
		if code == 400 {
			return
		}
		all = all && ok
		persons = append(persons, map[string]any{"role": role, "eligible": ok, "reason": reason, "remaining_this_week": map[bool]int{true: 2}[ok], "next_date": next})
	}
	if _, _, _, code := verdict(in.Buyer); code == 400 {
		apiErr(w, 400, "invalid_id")
		return
	}
	add("buyer", in.Buyer)
	for _, p := range in.OnBehalfOf {
		add("proxy", p.ID)
	}
	writeJSON(w, 200, map[string]any{"eligible": all, "persons": persons})
}

func (f *fakeAPI) sell(w http.ResponseWriter, r *http.Request) {
	var in struct {
		TxnID      string     `json:"txn_id"`
		Buyer      string     `json:"buyer"`
		Quantity   int        `json:"quantity"`
		OnBehalfOf []personIn `json:"on_behalf_of"`
		SoldAt     *string    `json:"sold_at"`
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.TxnID == "" {
		apiErr(w, 400, "bad_request")
		return
	}
	canon, _ := json.Marshal(in)
	f.bodies = append(f.bodies, string(canon))
	f.txnSeen[in.TxnID]++
	if prev, ok := f.txnBody[in.TxnID]; ok {
		if prev != string(canon) {
			apiErr(w, 409, "txn_conflict")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		w.Write(f.receipts[in.TxnID])
		return
	}
	total := in.Quantity
	for _, p := range in.OnBehalfOf {
		total += p.Quantity
	}
	late := in.SoldAt != nil
	// A late sale is recorded even if it breaks a rule (the masks were
	// handed over), but a malformed ID is refused whenever it arrives.
	if _, reason, _, code := verdict(in.Buyer); code == 400 || (code != 0 && !late) {
		apiErr(w, code, reason.(string))
		return
	}
	if f.stock < total && !late {
		apiErr(w, 422, "out_of_stock")
		return
	}
	at := time.Now()
	if late {
		t, err := time.Parse(time.RFC3339, *in.SoldAt)
		if err != nil || t.After(time.Now().Add(5*time.Minute)) {
			apiErr(w, 400, "bad_request")
			return
		}
		at = t
		f.lateSales++
	}
	f.stock -= total
	f.soldToday += total
	s := &fakeSale{ID: fmt.Sprintf("S%04d", len(f.sales)+1), SoldAt: at, Quantity: total, txn: in.TxnID}
	f.sales = append(f.sales, s)
	rec, _ := json.Marshal(map[string]any{
		"sale_id": s.ID, "sold_at": at.Format(time.RFC3339Nano),
		"items":  []map[string]any{{"role": "buyer", "quantity": in.Quantity, "remaining_this_week": 0}},
		"outlet": map[string]any{"stock": f.stock, "remain_stat": stat(f.stock)},
	})
	f.txnBody[in.TxnID] = string(canon)
	f.receipts[in.TxnID] = append(rec, '\n')
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	w.Write(f.receipts[in.TxnID])
}

func (f *fakeAPI) recent(w http.ResponseWriter, r *http.Request) {
	out := []*fakeSale{}
	for i := len(f.sales) - 1; i >= 0; i-- {
		out = append(out, f.sales[i])
	}
	writeJSON(w, 200, map[string]any{"sales": out})
}

func (f *fakeAPI) cancel(w http.ResponseWriter, r *http.Request) {
	for _, s := range f.sales {
		if s.ID == r.PathValue("id") && !s.Cancelled {
			now := time.Now()
			s.Cancelled, s.CancelledAt = true, &now
			f.stock += s.Quantity
			f.soldToday -= s.Quantity
			writeJSON(w, 200, map[string]any{"sale_id": s.ID, "cancelled_at": now, "outlet": map[string]any{"stock": f.stock, "remain_stat": stat(f.stock)}})
			return
		}
	}
	apiErr(w, 404, "not_found")
}

// seedGangbuk places 승약국 near 솔매로 in Gangbuk and a few dozen
// outlets of every status around it, plus some further away for clusters.
func (f *fakeAPI) seedGangbuk() {
	now := time.Now()
	stockAt := now.Add(-3 * time.Hour)
	mk := func(code, name, addr, typ string, lat, lng float64, st *string, age time.Duration) *fakeOutlet {
		u := now.Add(-age)
		o := &fakeOutlet{Code: code, Name: name, Addr: addr, Type: typ, Lat: lat, Lng: lng, RemainStat: st, UpdatedAt: &u}
		if st != nil {
			o.StockAt = &stockAt
		} else {
			o.UpdatedAt = nil
		}
		return o
	}
	f.outlets = append(f.outlets, mk("11820001", "승약국", "서울특별시 강북구 삼양로 247 (미아동)", "01", 37.6254369, 127.0164096, strp("plenty"), 12*time.Second))
	names := []string{"미아온누리약국", "삼양약국", "강북우체국", "늘푸른약국", "수유건강약국", "하나약국", "미아농협하나로마트", "솔샘약국", "우리들약국", "번동약국", "정다운약국", "새봄약국", "길음역약국", "미아사거리약국", "송천약국", "햇살약국", "보건약국", "북서울약국", "오현약국", "미아우체국"}
	stats := []*string{strp("some"), strp("few"), strp("plenty"), strp("empty"), strp("break"), nil, strp("some"), strp("few"), strp("plenty"), strp("empty")}
	dongs := []string{"미아동", "번동", "수유동", "미아동", "송중동"}
	for i, n := range names {
		ang := float64(i) * 2.39996
		r := 0.0012 + 0.00042*float64(i)
		typ := "01"
		if strings.Contains(n, "우체국") {
			typ = "02"
		} else if strings.Contains(n, "농협") {
			typ = "03"
		}
		f.outlets = append(f.outlets, mk(fmt.Sprintf("118200%02d", i+2), n,
			fmt.Sprintf("서울특별시 강북구 도봉로 %d (%s)", 100+i*7, dongs[i%len(dongs)]), typ,
			37.6254369+r*math.Sin(ang), 127.0164096+r*1.25*math.Cos(ang), stats[i%len(stats)], time.Duration(i*47)*time.Second))
	}
	// Further out, for the clustered view.
	for i := 0; i < 120; i++ {
		ang := float64(i) * 2.39996
		r := 0.012 + 0.0004*float64(i)
		f.outlets = append(f.outlets, mk(fmt.Sprintf("1183%04d", i), fmt.Sprintf("서울약국 %d호점", i+1), "서울특별시 성북구 길음동", "01",
			37.6254369+r*math.Sin(ang), 127.0164096+r*1.25*math.Cos(ang), stats[i%len(stats)], time.Hour))
	}
}
