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

// clientKeyer names the client of a request for per-client limits: its
// address, or — when the peer is a trusted proxy — the address the proxy
// forwarded. A forwarded address is believed only from a configured proxy,
// or anyone could pick a fresh key per request. IPv6 clients are keyed by
// their /64: one subscriber line gets a whole /64 and could otherwise take
// a fresh address per request.
type clientKeyer struct {
	trusted []netip.Prefix
}

func newClientKeyer(trusted []string) (*clientKeyer, error) {
	k := &clientKeyer{}
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
		k.trusted = append(k.trusted, p.Masked())
	}
	return k, nil
}

func (k *clientKeyer) isTrusted(a netip.Addr) bool {
	for _, p := range k.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHop parses one X-Forwarded-For entry: a bare address, or one with a
// port (203.0.113.9:4711, [2001:db8::1]:443) or in brackets ([2001:db8::1]),
// as proxies variously write them.
func parseHop(h string) (netip.Addr, bool) {
	h = strings.TrimSpace(h)
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(h); err == nil {
		return ap.Addr().Unmap(), true
	}
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		if a, err := netip.ParseAddr(h[1 : len(h)-1]); err == nil {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// clientAddr is the peer address, or — when the peer is a trusted proxy —
// the right-most address in X-Forwarded-For that is not itself trusted.
func (k *clientKeyer) clientAddr(r *http.Request) netip.Addr {
	var addr netip.Addr
	if lc, ok := r.Context().(*leanCtx); ok {
		// A lean connection's peer, parsed once (its RemoteAddr is the
		// connection's).
		if !lc.peerOK {
			lc.peer, lc.peerOK = peerAddr(r.RemoteAddr), true
		}
		addr = lc.peer
	} else {
		addr = peerAddr(r.RemoteAddr)
	}
	if !addr.IsValid() {
		return netip.Addr{}
	}
	if !k.isTrusted(addr) {
		return addr
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, ok := parseHop(hops[i])
		if !ok {
			break
		}
		if !k.isTrusted(a) {
			return a
		}
	}
	return addr
}

// peerAddr is the address of a RemoteAddr (host:port, or a bare host),
// unmapped; the zero Addr if it is none.
func peerAddr(remote string) netip.Addr {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return addr.Unmap()
}

// key is the client's limit key: its address, an IPv6 one cut to its /64.
func (k *clientKeyer) key(r *http.Request) netip.Addr {
	return keyOf(k.clientAddr(r))
}

func keyOf(a netip.Addr) netip.Addr {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().Addr()
	}
	return a
}

// limiter is a per-client token bucket for the public API: rate tokens per
// second, bursts up to burst.
type limiter struct {
	rate, burst float64
	clients     *clientKeyer
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

func newLimiter(rate float64, clients *clientKeyer) *limiter {
	l := &limiter{rate: rate, burst: math.Max(1, 2*rate), maxKeys: 100_000, clients: clients}
	for i := range l.shards {
		l.shards[i].buckets = make(map[netip.Addr]*bucket)
	}
	return l
}

func (l *limiter) shard(a netip.Addr) *limiterShard {
	h := a.As16()
	// Bytes 7, 6 and 5 vary between /64s; 15, 14, 13 between IPv4 hosts.
	return &l.shards[(uint(h[15])^uint(h[14])<<1^uint(h[13])^uint(h[7])^uint(h[6])<<1^uint(h[5])<<2)%uint(len(l.shards))]
}

// allow takes a token for the client; when there is none it says how long
// until there will be.
func (l *limiter) allow(a netip.Addr, now time.Time) (bool, time.Duration) {
	sh := l.shard(a)
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

// reserve takes a token for a look-up whose outcome is not known yet; done
// gives it back unless the look-up failed. Taking it before the look-up,
// not after a failure, keeps concurrent look-ups within the bucket: when a
// peek only checked that one was left, every request arriving before the
// first failure was counted passed (a flood's connections arrive in waves).
func (l *limiter) reserve(a netip.Addr, now time.Time) (done func(failed bool), ok bool) {
	if ok, _ := l.allow(a, now); !ok {
		return nil, false
	}
	return func(failed bool) {
		if !failed {
			l.refund(a)
		}
	}, true
}

// refund gives back a token that allow took.
func (l *limiter) refund(a netip.Addr) {
	sh := l.shard(a)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if b := sh.buckets[a]; b != nil {
		b.tokens = math.Min(l.burst, b.tokens+1)
	}
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
	ok, wait := s.limiter.allow(s.clients.key(r), time.Now())
	if ok {
		return true
	}
	class := ClassPublic
	if ri := infoOf(r); ri != nil {
		class = ri.class
	}
	s.metrics.limited.WithLabelValues(class).Inc()
	w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	writeErrorCode(w, r, publicmask.ERateLimited, "too many requests from this client; retry after the time in Retry-After")
	return false
}

// CheckTrustProxy validates a --trust-proxy list (addresses or CIDRs), so
// that a typo is a clear start-up error rather than a refused New.
func CheckTrustProxy(list []string) error {
	_, err := newClientKeyer(list)
	return err
}

// streamCounter counts the live streams of each client key.
type streamCounter struct {
	max int
	mu  sync.Mutex
	n   map[netip.Addr]int
}

func newStreamCounter(max int) *streamCounter {
	return &streamCounter{max: max, n: make(map[netip.Addr]int)}
}

func (c *streamCounter) acquire(k netip.Addr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[k] >= c.max {
		return false
	}
	c.n[k]++
	return true
}

func (c *streamCounter) release(k netip.Addr) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[k]--; c.n[k] <= 0 {
		delete(c.n, k)
	}
}
