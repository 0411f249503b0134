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
	"time"

	"github.com/publicmask/publicmask/snapshot"
)

// fakeAPI serves the public reads the map page makes — nearest outlets,
// the change stream and the address search (DESIGN.md §4.1–4.2) — from a
// fixed list of outlets, so that the browser tests here do not depend on
// the real server's packages. What a test changes is explicit: push
// streams one outlet's new status. The counter page is tested against the
// real binary (e2e/counter_test.go).
type fakeAPI struct {
	mu      sync.Mutex
	outlets []*fakeOutlet
	subs    map[chan []byte]struct{}
	lastLat float64 // the last near query's centre
	lastLng float64
	nearN   int // near queries answered
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

func newFakeAPI() *fakeAPI {
	return &fakeAPI{subs: map[chan []byte]struct{}{}}
}

func strp(s string) *string { return &s }

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeAPI) register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/v2/outlets/near", f.near)
	mux.HandleFunc("GET /api/v2/stream", f.stream)
	mux.HandleFunc("GET /corona19-masks/v1/storesByAddr/json", f.byAddr)
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
		d := snapshot.Haversine(lat, lng, o.Lat, o.Lng)
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
		writeJSON(w, 400, map[string]any{"error": map[string]string{"code": "bad_request", "message": "address too short"}})
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
