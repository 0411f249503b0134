package ops

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask/httpapi"
)

// Peers polls the other nodes' public /api/v2/status in the background, so
// that every node's /status lists every node (DESIGN.md §1.7: every hop's
// freshness on one page). A request for /status only reads what the last
// polls brought: a flood of /status never becomes traffic to the peers.
// Nodes do not register anywhere (public nodes are read-only on the
// database, §6.8): the operator names them with `serve --peers`.
const (
	PeerEvery   = 2 * time.Second
	peerTimeout = 1500 * time.Millisecond
	// A node's status is ~1 KB brief, ~100 KB whole (an older node, which
	// ignores ?brief=1, sends its ten minutes of history).
	peerMaxBody = 1 << 20
	maxPeers    = 32
	// peerSelfHeader carries this process's random nonce on its polls; a
	// node that sees its own nonce says so (peerSelfAnswer), so a peer list
	// naming the node itself (one list for every node) is recognised.
	peerSelfHeader = "X-Publicmask-Peer-Probe"
	peerSelfAnswer = "X-Publicmask-Peer-Self"
	maxStoreError  = 160
	maxStoreCause  = 32
)

// Why a peer is shown unreachable (codes the page translates).
const (
	reasonWaiting  = "waiting"    // not polled yet
	reasonRefused  = "refused"    // connection refused: the process is down
	reasonTimeout  = "timeout"    // no answer within peerTimeout
	reasonNetwork  = "network"    // any other transport failure (DNS, TLS, reset)
	reasonStatus   = "status"     // an HTTP status other than 200
	reasonTooLarge = "too_large"  // an answer over peerMaxBody
	reasonBadJSON  = "bad_answer" // not a publicmask status
)

// PeerSpec is one entry of --peers: an optional label and a base URL.
type PeerSpec struct{ Label, URL string }

var labelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$`)

// ParsePeers reads --peers: comma-separated base URLs, each optionally
// preceded by label= (the name the status page shows to everyone; without
// one, "peerN" by position, since a URL may name an internal host).
func ParsePeers(s string) ([]PeerSpec, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	var out []PeerSpec
	seenURL, seenLabel := map[string]bool{}, map[string]bool{}
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		label, raw := fmt.Sprintf("peer%d", i+1), item
		if k, v, ok := strings.Cut(item, "="); ok && !strings.Contains(k, "/") {
			label, raw = k, v
		}
		if !labelRE.MatchString(label) {
			return nil, fmt.Errorf("--peers: label %q: letters, digits, '.', '_' or '-', at most 32", label)
		}
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("--peers: %q is not an http(s) base URL", raw)
		}
		if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			return nil, fmt.Errorf("--peers: %q: a base URL takes no user, query or fragment", raw)
		}
		base := strings.TrimRight(u.String(), "/")
		if seenURL[base] || seenLabel[label] {
			return nil, fmt.Errorf("--peers: %q named twice", item)
		}
		seenURL[base], seenLabel[label] = true, true
		out = append(out, PeerSpec{Label: label, URL: base})
	}
	if len(out) > maxPeers {
		return nil, fmt.Errorf("--peers: at most %d nodes, not %d", maxPeers, len(out))
	}
	return out, nil
}

// NodeView is one row of the status's "nodes": this node's or a peer's
// figures as that node measured them. Ages are durations each node took on
// its own clock (never a difference between two machines' clocks), and
// AnsweredAgoMs is measured on this node's monotonic clock.
type NodeView struct {
	Name string `json:"name,omitempty"` // the operator's label (--peers)
	Self bool   `json:"self,omitempty"`
	Node string `json:"node,omitempty"` // host and address: admin only
	URL  string `json:"url,omitempty"`  // admin only
	Role string `json:"role,omitempty"`

	Reachable     bool     `json:"reachable"`
	Reason        string   `json:"reason,omitempty"`
	HTTPStatus    int      `json:"http_status,omitempty"`
	Detail        string   `json:"detail,omitempty"` // the error's text: admin only
	AnsweredAgoMs *float64 `json:"answered_ago_ms,omitempty"`

	Version           *int64   `json:"version,omitempty"`
	AgeMs             *float64 `json:"age_ms,omitempty"`
	BehindStore       *bool    `json:"behind_store,omitempty"`
	OldestUnappliedMs *float64 `json:"oldest_unapplied_ms,omitempty"`
	FreshnessP50Ms    *float64 `json:"freshness_p50_ms,omitempty"`
	FreshnessP99Ms    *float64 `json:"freshness_p99_ms,omitempty"`
	CommitP50Ms       *float64 `json:"commit_p50_ms,omitempty"`
	CommitP99Ms       *float64 `json:"commit_p99_ms,omitempty"`
	QueueP99Ms        *float64 `json:"queue_p99_ms,omitempty"`
	OutletP99Ms       *float64 `json:"outlet_p99_ms,omitempty"`
	PublicP99Ms       *float64 `json:"public_p99_ms,omitempty"`
	StoreOK           *bool    `json:"store_ok,omitempty"`
	StoreError        string   `json:"store_error,omitempty"`
	// StoreCause is the store's cause code (disk_full, …): the page shows
	// it in the reader's language, StoreError being the server's English.
	StoreCause string `json:"store_cause,omitempty"`
}

// peerStore is a peer's store line: ok, and when not, the cause code and
// the server's sentence.
type peerStore struct {
	OK    *bool  `json:"ok"`
	Error string `json:"error"`
	Cause string `json:"cause"`
}

// peerAnswer is the part of a peer's public /api/v2/status that is read.
type peerAnswer struct {
	Role     string     `json:"role"`
	Version  *int64     `json:"version"`
	Store    *peerStore `json:"store"`
	Snapshot *struct {
		Version           *int64   `json:"version"`
		AgeMs             *float64 `json:"age_ms"`
		BehindStore       *bool    `json:"behind_store"`
		OldestUnappliedMs *float64 `json:"oldest_unapplied_ms"`
		FreshnessP50Ms    *float64 `json:"freshness_p50_ms"`
		FreshnessP99Ms    *float64 `json:"freshness_p99_ms"`
	} `json:"snapshot"`
	Latency map[string]latencyView `json:"latency"`
	Ledger  map[string]latencyView `json:"ledger"`
}

// view checks a peer's answer and keeps only the figures the page shows.
func (a *peerAnswer) view() (NodeView, error) {
	var v NodeView
	switch a.Role {
	case httpapi.RoleAll, httpapi.RoleLedger, httpapi.RolePublic:
	default:
		return v, fmt.Errorf("role %.20q", a.Role)
	}
	v.Role = a.Role
	nonNeg := func(fs ...*float64) error {
		for _, f := range fs {
			if f != nil && *f < 0 {
				return errors.New("negative duration")
			}
		}
		return nil
	}
	if s := a.Snapshot; s != nil {
		if s.Version == nil || *s.Version < 0 {
			return v, errors.New("snapshot without a version")
		}
		v.Version, v.AgeMs, v.BehindStore, v.OldestUnappliedMs = s.Version, s.AgeMs, s.BehindStore, s.OldestUnappliedMs
		v.FreshnessP50Ms, v.FreshnessP99Ms = s.FreshnessP50Ms, s.FreshnessP99Ms
	}
	v.CommitP50Ms, v.CommitP99Ms = a.Ledger["commit"].P50Ms, a.Ledger["commit"].P99Ms
	v.QueueP99Ms = a.Ledger["queue"].P99Ms
	v.OutletP99Ms, v.PublicP99Ms = a.Latency[httpapi.ClassOutlet].P99Ms, a.Latency[httpapi.ClassPublic].P99Ms
	if err := nonNeg(v.AgeMs, v.OldestUnappliedMs, v.FreshnessP50Ms, v.FreshnessP99Ms, v.CommitP50Ms, v.CommitP99Ms, v.QueueP99Ms, v.OutletP99Ms, v.PublicP99Ms); err != nil {
		return v, err
	}
	if a.Store != nil && a.Store.OK != nil {
		v.StoreOK = a.Store.OK
		if !*a.Store.OK {
			v.StoreError = cleanText(a.Store.Error, maxStoreError)
			v.StoreCause = cleanText(a.Store.Cause, maxStoreCause)
		}
	}
	return v, nil
}

// cleanText bounds a peer's free text and drops control characters; the
// page sets it as text, never as markup.
func cleanText(s string, max int) string {
	var b strings.Builder
	n := 0
	for _, r := range s {
		if n == max {
			b.WriteRune('…')
			break
		}
		if unicode.IsControl(r) || r == unicode.ReplacementChar {
			continue
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// selfView is this node's row, from its own status.
func selfView(out map[string]any) NodeView {
	v := NodeView{Self: true, Reachable: true}
	v.Role, _ = out["role"].(string)
	if snap, ok := out["snapshot"].(map[string]any); ok {
		if ver, ok := snap["version"].(int64); ok {
			v.Version = &ver
		}
		v.AgeMs = floatOf(snap["age_ms"])
		if b, ok := snap["behind_store"].(bool); ok {
			v.BehindStore = &b
		}
		v.OldestUnappliedMs = floatOf(snap["oldest_unapplied_ms"])
		v.FreshnessP50Ms, _ = snap["freshness_p50_ms"].(*float64)
		v.FreshnessP99Ms, _ = snap["freshness_p99_ms"].(*float64)
	}
	if l, ok := out["ledger"].(map[string]latencyView); ok {
		v.CommitP50Ms, v.CommitP99Ms, v.QueueP99Ms = l["commit"].P50Ms, l["commit"].P99Ms, l["queue"].P99Ms
	}
	if l, ok := out["latency"].(map[string]latencyView); ok {
		v.OutletP99Ms, v.PublicP99Ms = l[httpapi.ClassOutlet].P99Ms, l[httpapi.ClassPublic].P99Ms
	}
	if st, ok := out["store"].(map[string]any); ok {
		if b, ok := st["ok"].(bool); ok {
			v.StoreOK = &b
			if e, ok := st["error"].(string); ok && !b {
				v.StoreError = e
			}
			if c, ok := st["cause"].(string); ok && !b {
				v.StoreCause = c
			}
		}
	}
	return v
}

func floatOf(x any) *float64 {
	if f, ok := x.(float64); ok {
		return &f
	}
	return nil
}

// peer is one polled node.
type peer struct {
	PeerSpec
	mu       sync.Mutex
	self     bool // the node itself, recognised by its nonce
	last     *NodeView
	lastAt   time.Time // when last answered (monotonic)
	reason   string
	status   int
	detail   string
	upGauge  prometheus.Gauge
	ageGauge prometheus.Gauge
	polls    *prometheus.CounterVec
}

// Peers is the poller of --peers.
type Peers struct {
	list   []*peer
	nonce  string
	client *http.Client
	logf   func(msg string, args ...any)
}

// NewPeers returns the poller of specs, its metrics registered on reg
// (publicmask_peer_*); nil when there are none.
func NewPeers(specs []PeerSpec, reg prometheus.Registerer, logf func(msg string, args ...any)) *Peers {
	if len(specs) == 0 {
		return nil
	}
	b := make([]byte, 16)
	rand.Read(b)
	p := &Peers{nonce: hex.EncodeToString(b), logf: logf, client: &http.Client{
		Timeout: peerTimeout,
		// Peers are named by the operator: no environment proxy, no
		// redirect followed (a redirect is an answer that is not a status).
		Transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: peerTimeout}).DialContext,
			TLSHandshakeTimeout:   peerTimeout,
			ResponseHeaderTimeout: peerTimeout,
			MaxIdleConnsPerHost:   1,
			IdleConnTimeout:       2 * PeerEvery,
			DisableCompression:    false,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	up := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "publicmask_peer_up",
		Help: "1 if the peer node (--peers) answered its last status poll with a valid status, else 0."}, []string{"peer"})
	age := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "publicmask_peer_answer_age_seconds",
		Help: "Seconds since the peer node's last valid status answer, on this node's clock (-1: none yet)."}, []string{"peer"})
	polls := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "publicmask_peer_polls_total",
		Help: "Status polls of peer nodes, by peer and result (ok, or why it failed)."}, []string{"peer", "result"})
	reg.MustRegister(up, age, polls)
	for _, s := range specs {
		pe := &peer{PeerSpec: s, reason: reasonWaiting, upGauge: up.WithLabelValues(s.Label), ageGauge: age.WithLabelValues(s.Label), polls: polls}
		pe.ageGauge.Set(-1)
		p.list = append(p.list, pe)
	}
	return p
}

// Run polls every peer every PeerEvery until ctx ends, each on its own so
// that a slow peer delays no other.
func (p *Peers) Run(ctx context.Context) {
	if p == nil {
		return
	}
	var wg sync.WaitGroup
	for _, pe := range p.list {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t := time.NewTicker(PeerEvery)
			defer t.Stop()
			for {
				if p.poll(ctx, pe) {
					return // the node itself: nothing more to learn
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	}
	wg.Wait()
}

// poll asks one peer once; it reports whether the peer is this node.
func (p *Peers) poll(ctx context.Context, pe *peer) (self bool) {
	ctx, cancel := context.WithTimeout(ctx, peerTimeout)
	defer cancel()
	v, isSelf, status, reason, err := p.fetch(ctx, pe.URL)
	pe.mu.Lock()
	defer pe.mu.Unlock()
	if isSelf {
		pe.self = true
		pe.upGauge.Set(1) // this node answers: it is up
		pe.ageGauge.Set(0)
		return true
	}
	result := "ok"
	if err != nil {
		result = reason
		if pe.reason != reason {
			p.logf("peer status poll failed", "peer", pe.Label, "reason", reason, "err", err)
		}
		pe.reason, pe.status, pe.detail = reason, status, err.Error()
		pe.upGauge.Set(0)
	} else {
		if pe.reason != "" && pe.reason != reasonWaiting {
			p.logf("peer answers again", "peer", pe.Label)
		}
		pe.last, pe.lastAt, pe.reason, pe.status, pe.detail = &v, time.Now(), "", 0, ""
		pe.upGauge.Set(1)
	}
	if !pe.lastAt.IsZero() {
		pe.ageGauge.Set(time.Since(pe.lastAt).Seconds())
	}
	pe.polls.WithLabelValues(pe.Label, result).Inc()
	return false
}

func (p *Peers) fetch(ctx context.Context, base string) (v NodeView, self bool, status int, reason string, err error) {
	// brief=1: the answer without its history (~1 KB in place of ~90 KB);
	// a node older than the option ignores it and sends the whole status,
	// which reads the same.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v2/status?brief=1", nil)
	if err != nil {
		return v, false, 0, reasonNetwork, err
	}
	req.Header.Set(peerSelfHeader, p.nonce)
	req.Header.Set("Accept", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return v, false, 0, reasonRefused, err
		case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
			return v, false, 0, reasonTimeout, err
		}
		return v, false, 0, reasonNetwork, err
	}
	defer resp.Body.Close()
	if resp.Header.Get(peerSelfAnswer) == "1" {
		return v, true, 0, "", nil
	}
	if resp.StatusCode != http.StatusOK {
		return v, false, resp.StatusCode, reasonStatus, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, peerMaxBody+1))
	if err != nil {
		if isTimeout(err) || errors.Is(err, context.DeadlineExceeded) {
			return v, false, 0, reasonTimeout, err
		}
		return v, false, 0, reasonNetwork, err
	}
	if len(body) > peerMaxBody {
		return v, false, 0, reasonTooLarge, fmt.Errorf("answer over %d bytes", peerMaxBody)
	}
	var a peerAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		return v, false, 0, reasonBadJSON, fmt.Errorf("not a status: %.80s", err.Error())
	}
	if v, err = a.view(); err != nil {
		return v, false, 0, reasonBadJSON, fmt.Errorf("not a status: %w", err)
	}
	return v, false, 0, "", nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// views are the peers' rows, and the label the list gives this node.
func (p *Peers) views(admin bool) (rows []NodeView, selfLabel, selfURL string) {
	if p == nil {
		return nil, "", ""
	}
	for _, pe := range p.list {
		pe.mu.Lock()
		if pe.self {
			selfLabel, selfURL = pe.Label, pe.URL
			pe.mu.Unlock()
			continue
		}
		var v NodeView
		if pe.last != nil {
			v = *pe.last
			ago := float64(time.Since(pe.lastAt).Microseconds()) / 1000
			v.AnsweredAgoMs = &ago
		}
		v.Name, v.Reachable = pe.Label, pe.reason == ""
		if !v.Reachable {
			v.Reason, v.HTTPStatus = pe.reason, pe.status
			if admin {
				v.Detail = pe.detail
			}
		}
		if admin {
			v.URL = pe.URL
		}
		pe.mu.Unlock()
		rows = append(rows, v)
	}
	return rows, selfLabel, selfURL
}

// MarkSelf wraps the handler of /api/v2/status: a poll carrying this
// process's own nonce is answered with peerSelfAnswer, so the node finds
// itself in its peer list. Only the holder of the nonce learns anything.
func (p *Peers) MarkSelf(h http.Handler) http.Handler {
	if p == nil {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/v2/status" && r.Header.Get(peerSelfHeader) == p.nonce {
			w.Header().Set(peerSelfAnswer, "1")
		}
		h.ServeHTTP(w, r)
	})
}
