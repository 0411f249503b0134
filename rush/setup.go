package rush

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/app"
	"github.com/publicmask/publicmask/outletio"
	"github.com/publicmask/publicmask/seed"
	"github.com/publicmask/publicmask/snapshot"
)

// newClient returns a client tuned for load generation on loopback: one
// keep-alive connection per worker, never closed for being idle, no
// transparent gzip (decompressing costs the same two cores the server
// runs on; --gzip asks for it explicitly).
func newClient(conns int, timeout time.Duration) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        0, // no global cap
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
		WriteBufferSize:     16 << 10,
		ReadBufferSize:      32 << 10,
	}
	return &http.Client{Transport: tr, Timeout: timeout}
}

// ownServer is a node started in process on a temporary store.
type ownServer struct {
	base  string
	dir   string
	token string
	stop  context.CancelFunc
	done  chan error
}

// startServer opens a node on 127.0.0.1:0 with an empty store and the
// clock at cfg.Clock, and serves it until close.
func startServer(ctx context.Context, cfg *Config) (*ownServer, error) {
	dir, err := os.MkdirTemp("", "publicmask-rush-")
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 24)
	rand.Read(tok)
	s := &ownServer{dir: dir, token: "rush-" + hex.EncodeToString(tok), done: make(chan error, 1)}
	addr := make(chan string, 1)
	// Warnings only: the access log of tens of thousands of requests per
	// second would cost the CPU the rush is measuring.
	logger := slog.New(slog.NewTextHandler(cfg.progress(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	node, err := app.Open(ctx, app.Config{
		Addr: "127.0.0.1:0", DB: filepath.Join(dir, "rush.db"), Seed: "none",
		Clock: cfg.Clock, ClockRate: 1, Policy: cfg.Policy, AdminToken: s.token,
		DebugAddr: cfg.DebugAddr, Logger: logger, Out: io.Discard,
		ReadyNotify: func(a string) { addr <- a },
	})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("start server: %w", err)
	}
	sctx, stop := context.WithCancel(context.Background())
	s.stop = stop
	go func() { s.done <- node.Serve(sctx) }()
	select {
	case a := <-addr:
		s.base = "http://" + a
	case err := <-s.done:
		os.RemoveAll(dir)
		return nil, fmt.Errorf("serve: %w", err)
	}
	return s, nil
}

// close drains the node and removes the temporary store.
func (s *ownServer) close() error {
	s.stop()
	err := <-s.done
	if rerr := os.RemoveAll(s.dir); rerr != nil {
		err = errors.Join(err, rerr)
	}
	return err
}

// api is a small JSON client for the setup and check phases.
type api struct {
	base  string // admin and outlet API
	pub   string // public API ("" = base): a ledger-role node has none
	admin string
	c     *http.Client
}

type apiError struct {
	Status int
	Code   string
	Body   string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("HTTP %d %s: %.200s", e.Status, e.Code, e.Body)
}

func (a *api) do(ctx context.Context, method, path, token, ctype string, body io.Reader, out any) (http.Header, error) {
	return a.doAt(ctx, a.base, method, path, token, ctype, body, out)
}

func (a *api) doAt(ctx context.Context, base, method, path, token, ctype string, body io.Reader, out any) (http.Header, error) {
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := a.c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return resp.Header, &apiError{Status: resp.StatusCode, Code: errorCode(b), Body: string(b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.Header, fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return resp.Header, nil
}

// getJSON reads the public API. A public side under load sheds with 503
// (or 429) and Retry-After; like any well-behaved client the setup waits
// and asks again rather than give up.
func (a *api) getJSON(ctx context.Context, path string, out any) error {
	base := a.pub
	if base == "" {
		base = a.base
	}
	for attempt := 0; ; attempt++ {
		h, err := a.doAt(ctx, base, http.MethodGet, path, "", "", nil, out)
		var ae *apiError
		if !errors.As(err, &ae) || (ae.Status != http.StatusServiceUnavailable && ae.Status != http.StatusTooManyRequests) || attempt >= 50 {
			return err
		}
		wait := 200 * time.Millisecond
		if secs, perr := strconv.Atoi(h.Get("Retry-After")); perr == nil && secs > 0 {
			wait = time.Duration(secs) * time.Second
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// errorCode extracts error.code from an error body without a full decode:
// from the server's own shape, {"error":{"code":"…", …}} with a plain code
// first, by a scan (a refused sale's body through encoding/json was ~2% of
// the generator's CPU in a capacity rush); anything else by decoding.
// Either way a body that is not JSON has no code.
func errorCode(b []byte) string {
	const prefix = `{"error":{"code":"`
	if len(b) > len(prefix) && string(b[:len(prefix)]) == prefix {
		rest := b[len(prefix):]
		n := 0
		for n < len(rest) && (rest[n] >= 'a' && rest[n] <= 'z' || rest[n] == '_' || rest[n] >= '0' && rest[n] <= '9') {
			n++
		}
		if n > 0 && n < len(rest) && rest[n] == '"' && n+1 < len(rest) && (rest[n+1] == ',' || rest[n+1] == '}') &&
			plainKeys(b) && json.Valid(b) {
			return string(rest[:n])
		}
	}
	var e struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && e.Error.Code != "" {
		return e.Error.Code
	}
	return ""
}

// plainKeys reports that b has no escapes and names "error" and "code" once
// each, ignoring case: encoding/json matches keys case-insensitively and
// after unescaping, so a body like {"error":{"code":"a","CODE":"b"}} would
// decode to a code the scan did not take.
func plainKeys(b []byte) bool {
	if bytes.IndexByte(b, '\\') >= 0 {
		return false
	}
	lower := bytes.ToLower(b)
	return bytes.Count(lower, []byte(`"code"`)) == 1 && bytes.Count(lower, []byte(`"error"`)) == 1
}

// waitReady polls /readyz: a node answers it once its snapshot is built.
func (a *api) waitReady(ctx context.Context, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for {
		_, err := a.do(ctx, http.MethodGet, "/readyz", "", "", nil, nil)
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// dayRules is what the rush needs of GET /api/v2/rules on the server's
// current date.
type dayRules struct {
	Date             string `json:"date"`
	SalesOpen        bool   `json:"sales_open"`
	DigitsToday      []int  `json:"digits_today"`
	WeeklyQuota      *int   `json:"weekly_quota"`
	PurchasesPerWeek *int   `json:"purchases_per_week"`
	AsOf             string `json:"-"`
}

// rulesToday asks the server what day it is (the as_of of its summary, on
// the service clock) and which rules hold, so that the population and the
// client-side checks follow the server's policy rather than assume one.
func (a *api) rulesToday(ctx context.Context) (*dayRules, error) {
	var sum struct {
		AsOf string `json:"as_of"`
	}
	if err := a.getJSON(ctx, "/api/v2/summary", &sum); err != nil {
		return nil, fmt.Errorf("summary: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, sum.AsOf)
	if err != nil {
		return nil, fmt.Errorf("summary as_of %q: %w", sum.AsOf, err)
	}
	var r dayRules
	if err := a.getJSON(ctx, "/api/v2/rules?date="+t.Format("2006-01-02"), &r); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	r.AsOf = sum.AsOf
	return &r, nil
}

// loadOutlets returns the outlets the rush sells at, importing them first
// when the server is ours or a file is given. Against a target without a
// file it uses the target's own outlets (read through /stores/json),
// importing synthetic ones only when it has none.
func loadOutlets(ctx context.Context, a *api, cfg *Config, own bool, rng *mrand.Rand) ([]publicmask.Outlet, error) {
	var outlets []publicmask.Outlet
	var body []byte
	needImport := own || cfg.OutletsFile != ""
	switch {
	case cfg.OutletsFile != "":
		b, err := os.ReadFile(cfg.OutletsFile)
		if err != nil {
			return nil, err
		}
		parsed, _, err := outletio.Parse(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.OutletsFile, err)
		}
		outlets, body = parsed, b
	case !own:
		existing, err := scrapeStores(ctx, a)
		if err != nil {
			return nil, err
		}
		outlets = existing
	}
	if len(outlets) == 0 {
		outlets = seed.Outlets(seed.Options{Count: cfg.Outlets, Seed: cfg.Seed})
		body, needImport = nil, true
	}
	if cfg.Outlets > 0 && len(outlets) > cfg.Outlets {
		rng.Shuffle(len(outlets), func(i, j int) { outlets[i], outlets[j] = outlets[j], outlets[i] })
		outlets = outlets[:cfg.Outlets]
		body = nil
	}
	if needImport {
		if body == nil {
			var buf bytes.Buffer
			if err := outletio.WriteCSV(&buf, outlets); err != nil {
				return nil, err
			}
			body = buf.Bytes()
		}
		var res struct {
			Upserted int                 `json:"upserted"`
			Rejected []outletio.Rejected `json:"rejected"`
		}
		if _, err := a.do(ctx, http.MethodPut, "/api/v2/admin/outlets", a.admin, "text/csv", bytes.NewReader(body), &res); err != nil {
			return nil, fmt.Errorf("import outlets: %w", err)
		}
		if res.Upserted == 0 {
			return nil, errors.New("import outlets: nothing upserted")
		}
	}
	return outlets, nil
}

// scrapeStores reads a server's outlet list through /stores/json.
func scrapeStores(ctx context.Context, a *api) ([]publicmask.Outlet, error) {
	var out []publicmask.Outlet
	for page := 1; ; page++ {
		var p struct {
			Count      int `json:"count"`
			StoreInfos []struct {
				Code, Name, Addr, Type string
				Lat, Lng               float64
			} `json:"storeInfos"`
		}
		if err := a.getJSON(ctx, fmt.Sprintf("/corona19-masks/v1/stores/json?page=%d&perPage=5000", page), &p); err != nil {
			return nil, fmt.Errorf("read outlets: %w", err)
		}
		for _, s := range p.StoreInfos {
			out = append(out, publicmask.Outlet{Code: s.Code, Name: s.Name, Addr: s.Addr, Type: s.Type, Lat: s.Lat, Lng: s.Lng})
		}
		if p.Count < 5000 {
			return out, nil
		}
	}
}

// issueTokens gets an outlet token for every code: in bulk when the
// server has the bulk endpoint, else one request per outlet.
func issueTokens(ctx context.Context, a *api, codes []string) (map[string]string, error) {
	tokens := make(map[string]string, len(codes))
	const chunk = 10_000
	for i := 0; i < len(codes); i += chunk {
		part := codes[i:min(i+chunk, len(codes))]
		body, _ := json.Marshal(map[string][]string{"outlets": part})
		var res struct {
			Tokens map[string]string `json:"tokens"`
		}
		_, err := a.do(ctx, http.MethodPost, "/api/v2/admin/tokens/bulk", a.admin, "application/json", bytes.NewReader(body), &res)
		var ae *apiError
		if errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed) {
			return issueTokensOneByOne(ctx, a, codes)
		}
		if err != nil {
			return nil, fmt.Errorf("issue outlet tokens: %w", err)
		}
		for k, v := range res.Tokens {
			tokens[k] = v
		}
	}
	return tokens, nil
}

func issueTokensOneByOne(ctx context.Context, a *api, codes []string) (map[string]string, error) {
	tokens := make(map[string]string, len(codes))
	var mu sync.Mutex
	var firstErr error
	eachConcurrently(ctx, 16, codes, func(code string) {
		body, _ := json.Marshal(map[string]string{"role": publicmask.RoleOutlet, "outlet": code})
		var res struct {
			Token string `json:"token"`
		}
		_, err := a.do(ctx, http.MethodPost, "/api/v2/admin/tokens", a.admin, "application/json", bytes.NewReader(body), &res)
		mu.Lock()
		if err != nil && firstErr == nil {
			firstErr = err
		} else if err == nil {
			tokens[code] = res.Token
		}
		mu.Unlock()
	})
	if firstErr == nil {
		firstErr = ctx.Err() // codes left unissued
	}
	if firstErr != nil {
		return nil, fmt.Errorf("issue outlet token: %w", firstErr)
	}
	return tokens, nil
}

// openingStock draws an outlet's delivery: most get a normal day's supply
// (about 250 in 2020), some less, and a few only a handful, so that hot
// outlets run out during the rush (→ out_of_stock) and bands change.
func openingStock(rng *mrand.Rand) int {
	switch x := rng.Float64(); {
	case x < 0.65:
		return 100 + rng.IntN(200)
	case x < 0.85:
		return 30 + rng.IntN(70)
	default:
		return 4 + rng.IntN(26)
	}
}

// deliver records the opening stock and returns each outlet's stock after
// it, as the ledger acknowledged it.
func deliver(ctx context.Context, a *api, runID string, qty map[string]int, codes []string) (map[string]int, error) {
	type line struct {
		Outlet   string `json:"outlet"`
		Quantity int    `json:"quantity"`
		TxnID    string `json:"txn_id"`
	}
	stock := make(map[string]int, len(codes))
	const chunk = 20_000
	for i := 0; i < len(codes); i += chunk {
		part := codes[i:min(i+chunk, len(codes))]
		lines := make([]line, len(part))
		for j, c := range part {
			lines[j] = line{c, qty[c], "rush-" + runID + "-open-" + c}
		}
		body, _ := json.Marshal(lines)
		var res struct {
			Results []struct {
				Outlet  string `json:"outlet"`
				OK      bool   `json:"ok"`
				Receipt *struct {
					Stock int `json:"stock"`
				} `json:"receipt"`
				Error *struct {
					Code, Message string
				} `json:"error"`
			} `json:"results"`
		}
		if _, err := a.do(ctx, http.MethodPost, "/api/v2/admin/deliveries", a.admin, "application/json", bytes.NewReader(body), &res); err != nil {
			return nil, fmt.Errorf("deliver opening stock: %w", err)
		}
		for _, r := range res.Results {
			if r.OK && r.Receipt != nil {
				stock[r.Outlet] = r.Receipt.Stock
			}
		}
	}
	return stock, nil
}

// waitVisible waits until the public API shows stock at the given outlets,
// so that the rush starts from a snapshot that has the opening deliveries
// and ghost-stock accounting is not polluted by them.
func waitVisible(ctx context.Context, a *api, codes []string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	for _, code := range codes {
		for {
			var o struct {
				RemainStat *string `json:"remain_stat"`
			}
			err := a.getJSON(ctx, "/api/v2/outlets/"+url.PathEscape(code), &o)
			if err == nil && o.RemainStat != nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("opening stock of %s not visible in the public API: %v", code, err)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// addrQueries derives storesByAddr queries from outlet addresses: 시도 +
// 시군구 (with a 구 of a city when there is one) and, for most, the 동 or
// 읍/면 as written (in parentheses for road-name addresses, inline for
// 읍/면) or the road name. Every query names the outlet's own place, so the
// server answers it with outlets, never with a 400.
func addrQueries(outlets []publicmask.Outlet, rng *mrand.Rand) []string {
	var qs []string
	for _, o := range outlets {
		f := strings.Fields(o.Addr)
		if len(f) < 3 || !(strings.HasSuffix(f[1], "시") || strings.HasSuffix(f[1], "군") || strings.HasSuffix(f[1], "구")) {
			continue // 세종 has no 시군구, and storesByAddr needs one
		}
		q := f[0] + " " + f[1]
		rest := f[2:]
		if strings.HasSuffix(f[2], "구") && strings.HasSuffix(f[1], "시") {
			q += " " + f[2]
			rest = f[3:]
		}
		// An inline 읍/면/동 is the place; only without one does the
		// parenthesis name the 동 (after an 읍/면 it holds a building: "(경향아파트상가)").
		dong := ""
		if len(rest) > 0 && (strings.HasSuffix(rest[0], "읍") || strings.HasSuffix(rest[0], "면") || strings.HasSuffix(rest[0], "동")) {
			dong = rest[0]
			rest = rest[1:]
		} else {
			// The parenthesis read as the place index reads it: a nested
			// one or an arcade (…상가) names no 동.
			dong = snapshot.ParseAddress(o.Addr).Dong
		}
		switch x := rng.IntN(10); {
		case dong != "" && x < 6:
			q += " " + dong
		case x < 8:
			if road := roadOf(rest); road != "" {
				q += " " + road
			}
		}
		qs = append(qs, q)
	}
	return qs
}

// roadOf is the road name that rest starts with ("솔매로 38", "남해안대로442",
// "처인성로 185번길 23" → 처인성로185번길), or "".
func roadOf(rest []string) string {
	if len(rest) == 0 {
		return ""
	}
	road := strings.TrimRight(rest[0], "0123456789-")
	if !strings.HasSuffix(road, "로") && !strings.HasSuffix(road, "길") {
		return ""
	}
	if road == rest[0] && len(rest) > 1 && strings.HasSuffix(rest[1], "길") &&
		strings.Trim(strings.TrimSuffix(strings.TrimSuffix(rest[1], "길"), "번"), "0123456789") == "" {
		road += rest[1]
	}
	return road
}

func newRunID() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// jitter moves a point by up to r metres in a random direction, so that
// citizens search around, not exactly at, their pharmacy.
func jitter(rng *mrand.Rand, lat, lng, r float64) (float64, float64) {
	d := r * math.Sqrt(rng.Float64())
	th := 2 * math.Pi * rng.Float64()
	dlat := d * math.Cos(th) / 111_320
	dlng := d * math.Sin(th) / (111_320 * math.Cos(lat*math.Pi/180))
	return lat + dlat, lng + dlng
}

func fmtCoord(x float64) string { return strconv.FormatFloat(x, 'f', 6, 64) }
