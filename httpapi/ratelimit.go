package httpapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/publicmask/publicmask"
)

// limiter is a per-client token bucket for the public API: rate tokens per
// second, bursts up to burst. Clients are keyed by address; a forwarded
// address is believed only from a configured proxy, or anyone could pick a
// fresh key per request.
type limiter struct {
	rate, burst float64
	trusted     []netip.Prefix
	shards      [64]limiterShard
	maxKeys     int
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, trusted []string) (*limiter, error) {
	l := &limiter{rate: rate, burst: math.Max(1, 2*rate), maxKeys: 100_000}
	for _, t := range trusted {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if !strings.Contains(t, "/") {
			a, err := netip.ParseAddr(t)
			if err != nil {
				return nil, err
			}
			t = netip.PrefixFrom(a, a.BitLen()).String()
		}
		p, err := netip.ParsePrefix(t)
		if err != nil {
			return nil, err
		}
		l.trusted = append(l.trusted, p.Masked())
	}
	for i := range l.shards {
		l.shards[i].buckets = make(map[netip.Addr]*bucket)
	}
	return l, nil
}

func (l *limiter) isTrusted(a netip.Addr) bool {
	for _, p := range l.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the peer address, or — when the peer is a trusted proxy —
// the right-most address in X-Forwarded-For that is not itself trusted.
func (l *limiter) clientAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	addr = addr.Unmap()
	if !l.isTrusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		a = a.Unmap()
		if !l.isTrusted(a) {
			return a
		}
	}
	return addr
}

// allow takes a token for the client; when there is none it says how long
// until there will be.
func (l *limiter) allow(a netip.Addr, now time.Time) (bool, time.Duration) {
	h := a.As16()
	sh := &l.shards[(uint(h[15])^uint(h[14])<<1^uint(h[13]))%uint(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.buckets[a]
	if b == nil {
		if len(sh.buckets) >= l.maxKeys/len(l.shards) {
			l.evict(sh, now)
		}
		b = &bucket{tokens: l.burst, last: now}
		sh.buckets[a] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

// evict drops buckets that have refilled (they hold no state worth keeping),
// and if that frees nothing, all of them: memory stays bounded under a flood
// of distinct addresses.
func (l *limiter) evict(sh *limiterShard, now time.Time) {
	full := l.burst / l.rate
	for k, b := range sh.buckets {
		if now.Sub(b.last).Seconds() >= full {
			delete(sh.buckets, k)
		}
	}
	if len(sh.buckets) >= l.maxKeys/len(l.shards) {
		clear(sh.buckets)
	}
}

// rateLimit answers 429 rate_limited with Retry-After when the client is
// over its rate; it reports whether the request may go on.
func (s *Server) rateLimit(w http.ResponseWriter, r *http.Request) bool {
	if s.limiter == nil {
		return true
	}
	ok, wait := s.limiter.allow(s.limiter.clientAddr(r), time.Now())
	if ok {
		return true
	}
	s.metrics.limited.Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeErrorCode(w, r, publicmask.ERateLimited, "too many requests from this client; retry after the time in Retry-After")
	return false
}

// CheckTrustProxy validates a --trust-proxy list (addresses or CIDRs), so
// that a typo is a clear start-up error rather than a refused New.
func CheckTrustProxy(list []string) error {
	_, err := newLimiter(1, list)
	return err
}
