package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/publicmask/publicmask"
)

// Bearer tokens are resolved from a cache in front of the store. Made-up
// tokens must cost little (DESIGN.md §2 Isolation, §6.5):
//   - known tokens and unknown ones live in separate caches, so a flood of
//     unknown tokens can only evict unknown ones, never a valid token;
//   - an unknown token is remembered (negative cache), so repeating it
//     costs no store read;
//   - store reads for tokens missing from the cache pass a small gate, so a
//     flood of fresh made-up tokens costs the store a bounded load;
//   - before such a read the caller's guard (WithAuthGuard: the HTTP layer's
//     per-client limit of failed look-ups) may refuse it. A token this node
//     has seen valid is never refused by the guard, so clients that share
//     one address (post offices) are not locked out by a neighbour; and
//     the node knows every issued token (followTokens): at start, when
//     their count grows (another node issued some), and before the guard
//     refuses a token it does not know (catchUp), so a valid token not yet
//     served here is no stranger either.

// Cache bounds: known tokens are bounded by what was issued; the bound only
// guards memory. Unknown tokens start over when their cache is full.
const (
	maxKnownTokens  = 500_000
	tokenLookups    = 8               // concurrent store reads for uncached tokens
	tokenLookupWait = 2 * time.Second // then 503 overloaded
)

// maxUnknownTokens bounds the negative cache (a variable for tests).
var maxUnknownTokens int64 = 100_000

// The known tokens are kept without pointers: a map whose key and value
// hold none is not scanned by the collector, where a sync.Map of boxed
// Tokens (three strings, two times each) made ~230 B of scannable heap
// a token — bench.sh's rushes leave ~79,000 cached, half the live heap that
// every mark walked (twenty-eighth session). Reads take a shard's read lock
// (the shards spread the lock's cache line), writes — issue, revocation, a
// store read, a round of reading ahead — its write lock.
//
// A cached token keeps Role, Outlet and RevokedAt; not Hash or CreatedAt
// (no caller reads them from Authenticate's answer; the admin token's
// answer never had them), and the strings come from an interned table
// (internTable), so a look-up allocates nothing.

// knownShards spreads the known tokens (a power of two: a sum's first byte
// picks one).
const knownShards = 64

// knownEntry is a known token as cached.
type knownEntry struct {
	ver     uint64 // its shard's count of writes when written (never 0): compared by putIfUnchanged and refreshAhead
	expires int64  // monotonic nanoseconds (monoNow)
	revoked int64  // RevokedAt, Unix nanoseconds; notRevoked if zero
	role    uint32 // in tokenCache.strs
	outlet  uint32
}

const notRevoked = math.MinInt64

// monoBase is the origin of monoNow.
var monoBase = time.Now()

// monoNow is now in the monotonic nanoseconds the caches expire by: a
// wall-clock step does not expire or revive entries, and it reads the
// clock once (time.Now reads two).
func monoNow() int64 { return int64(time.Since(monoBase)) }

// monoOf is t (read with time.Now) in monoNow's nanoseconds.
func monoOf(t time.Time) int64 { return int64(t.Sub(monoBase)) }

type knownShard struct {
	mu  sync.RWMutex
	m   map[[32]byte]knownEntry // kept after expiry: "seen valid"
	ver uint64
	_   [128 - unsafe.Sizeof(sync.RWMutex{}) - 16]byte // a shard a pair of cache lines: readers of two shards share none
}

// maxShardTokens bounds a shard: maxKnownTokens over all of them.
const maxShardTokens = maxKnownTokens / knownShards

// internTable holds the strings the entries name by index (roles, outlet
// codes; 0 is ""). It only grows: the outlet codes a token names exist
// (IssueTokens checks them), so it is bounded by the outlets, and an index
// read from an entry stays valid without a lock. NoteActivity interns too,
// and the activity table is indexed by these indices (OutletRef): nothing
// may ever reset this table or reuse an index, or a ref would name another
// outlet's record; only the codes of authenticated tokens may be interned.
type internTable struct {
	mu    sync.Mutex
	index map[string]uint32
	strs  atomic.Pointer[[]string] // readers see a prefix; appends beyond it
}

func (t *internTable) id(s string) uint32 {
	if s == "" {
		return 0
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if i, ok := t.index[s]; ok {
		return i
	}
	var strs []string
	if p := t.strs.Load(); p != nil {
		strs = *p
	} else {
		strs = []string{""}
		t.index = make(map[string]uint32)
	}
	s = strings.Clone(s) // not the request body it came in
	i := uint32(len(strs))
	strs = append(strs, s) // past every reader's length, or a new array
	t.index[s] = i
	t.strs.Store(&strs)
	return i
}

// lookup is s's index, if s was interned (0, false if not).
func (t *internTable) lookup(s string) (uint32, bool) {
	t.mu.Lock()
	i, ok := t.index[s]
	t.mu.Unlock()
	return i, ok
}

// has reports whether i is an index the table gave.
func (t *internTable) has(i uint32) bool {
	p := t.strs.Load()
	return p != nil && int(i) < len(*p)
}

func (t *internTable) str(i uint32) string {
	if i == 0 {
		return ""
	}
	return (*t.strs.Load())[i]
}

// The caches are keyed by the token's SHA-256 sum itself, not by its hex
// form (Token.Hash, the store's key): a request's look-up then makes no
// string (tokenSum).
type tokenCache struct {
	shards       [knownShards]knownShard
	strs         internTable
	unknown      sync.Map // [32]byte sum → int64 expiry (monoNow)
	unknownCount atomic.Int64
	gate         chan struct{}
	gateOnce     sync.Once
	reads        atomic.Int64 // store reads, for tests

	// Known tokens in use whose entry expires soon, to be re-read in bulk
	// (refreshAhead): sum → the knownEntry seen.
	soon       sync.Map
	refreshing atomic.Bool  // a refreshAhead round is on its way
	bulkReads  atomic.Int64 // bulk store reads, for tests

	rounds tokenRounds // first sight in bulk (readTokenGathered)

	// issued holds the first 8 bytes of the sum of every token the store
	// listed (listAllTokens, listTokensSince), sorted, with no spare
	// capacity: it tells an issued token from a made-up one for the guard
	// in 8 bytes a token, where a cache entry of each took ~360 and the
	// bench's store holds ~160,000 tokens (+31 MB RSS).
	issued atomic.Pointer[[]uint64]
}

// wasIssued reports whether sum's token was listed by the store.
func (c *tokenCache) wasIssued(sum *[32]byte) bool {
	p := c.issued.Load()
	if p == nil {
		return false
	}
	_, found := slices.BinarySearch(*p, binary.BigEndian.Uint64(sum[:8]))
	return found
}

func (c *tokenCache) shard(sum *[32]byte) *knownShard {
	return &c.shards[sum[0]%knownShards]
}

// load is the entry of sum, if any.
func (c *tokenCache) load(sum [32]byte) (knownEntry, bool) {
	s := c.shard(&sum)
	s.mu.RLock()
	e, ok := s.m[sum]
	s.mu.RUnlock()
	return e, ok
}

// entry makes the entry of t (its ver set when stored).
func (c *tokenCache) entry(t publicmask.Token, expires time.Time) knownEntry {
	e := knownEntry{expires: monoOf(expires), revoked: notRevoked, role: c.strs.id(t.Role), outlet: c.strs.id(t.Outlet)}
	if !t.RevokedAt.IsZero() {
		e.revoked = t.RevokedAt.UnixNano()
	}
	return e
}

// token is the Token of e, without Hash or CreatedAt.
func (c *tokenCache) token(e knownEntry) publicmask.Token {
	t := publicmask.Token{Role: c.strs.str(e.role), Outlet: c.strs.str(e.outlet)}
	if e.revoked != notRevoked {
		t.RevokedAt = time.Unix(0, e.revoked).UTC()
	}
	return t
}

// storeLocked writes e for sum (s locked): a new token in a full shard
// starts the shard over. The revocations made here that have not expired
// are carried over: a store read that began before one and ends after the
// shard started over would otherwise find no entry and cache the token
// valid for a whole TTL.
func (s *knownShard) storeLocked(sum [32]byte, e knownEntry) {
	if s.m == nil {
		s.m = make(map[[32]byte]knownEntry)
	} else if _, ok := s.m[sum]; !ok && len(s.m) >= maxShardTokens {
		fresh := make(map[[32]byte]knownEntry)
		now := monoNow()
		for k, v := range s.m {
			if v.revoked != notRevoked && v.expires > now && len(fresh) < maxShardTokens/2 {
				fresh[k] = v
			}
		}
		s.m = fresh
	}
	s.ver++
	e.ver = s.ver
	s.m[sum] = e
}

// remember caches a valid token until expires.
func (c *tokenCache) remember(t publicmask.Token, expires time.Time) {
	if sum, ok := tokenSum(t.Hash); ok { // else not a hash this node makes: never looked up by one
		c.put(sum, t, expires)
	}
}

func (c *tokenCache) put(sum [32]byte, t publicmask.Token, expires time.Time) {
	e := c.entry(t, expires)
	s := c.shard(&sum)
	s.mu.Lock()
	s.storeLocked(sum, e)
	s.mu.Unlock()
}

// Delete forgets a token (its revocation here failed: read it again).
func (c *tokenCache) Delete(h string) {
	sum, ok := tokenSum(h)
	if !ok {
		return
	}
	s := c.shard(&sum)
	s.mu.Lock()
	delete(s.m, sum)
	s.mu.Unlock()
}

// revoked caches t (hash h), revoked here, as revoked until expires: a read of the
// token that began before the revocation and ends after it finds this
// entry changed and does not cache its answer (tokenBySum, refreshAhead),
// where forgetting the token would have let it cache the token as valid
// for a whole TTL.
func (c *tokenCache) revoked(h string, t publicmask.Token, expires time.Time) {
	if sum, ok := tokenSum(h); ok {
		c.put(sum, t, expires)
	}
}

// putIfUnchanged caches t read from the store unless the entry changed
// since the one of version prev (0: none) was loaded before the read:
// another request's newer read, or this node's revocation, stands. It
// returns the token the entry holds afterwards, as a cached answer is
// (Role, Outlet, RevokedAt: every answer alike, whichever path gave it).
func (c *tokenCache) putIfUnchanged(sum [32]byte, prev uint64, t publicmask.Token, expires time.Time) publicmask.Token {
	e := c.entry(t, expires)
	s := c.shard(&sum)
	s.mu.Lock()
	cur, ok := s.m[sum]
	if cur.ver == prev { // ver is 0 if absent
		s.storeLocked(sum, e)
		s.mu.Unlock()
		return c.token(e)
	}
	s.mu.Unlock()
	if !ok { // deleted since (a failed revocation): the read stands for this request
		return c.token(e)
	}
	return c.token(cur)
}

// AuthGuard is consulted before the store is read for a token that this
// node has never seen valid. It may refuse the read (an error such as
// rate_limited); otherwise done is called once the read has ended, with
// found false only when the store has no such token (a failed look-up; a
// store error is none).
type AuthGuard func() (done func(found bool), err error)

type authGuardKey struct{}

// WithAuthGuard returns a context whose Authenticate calls consult g.
func WithAuthGuard(ctx context.Context, g AuthGuard) context.Context {
	return context.WithValue(ctx, authGuardKey{}, g)
}

// tokenSum is the sum whose hex form is h (lower case, as hashToken
// writes it).
func tokenSum(h string) (sum [32]byte, ok bool) {
	if len(h) != 2*len(sum) || strings.ToLower(h) != h {
		return sum, false
	}
	_, err := hex.Decode(sum[:], []byte(h))
	return sum, err == nil
}

// cached answers from the caches alone: a known token not expired, or an
// unknown one still remembered; ok is false otherwise. A known token that
// expires within ahead is noted for re-reading (soon reports whether it
// was noted now).
func (c *tokenCache) cached(sum [32]byte, now int64, ahead time.Duration) (_ publicmask.Token, ok, soon bool, _ error) {
	t, _, ok, soon, err := c.cachedRef(sum, now, ahead)
	return t, ok, soon, err
}

// cachedRef is cached, with the interned index of a valid token's outlet
// (0 for none).
func (c *tokenCache) cachedRef(sum [32]byte, now int64, ahead time.Duration) (_ publicmask.Token, outlet uint32, ok, soon bool, _ error) {
	if e, ok := c.load(sum); ok {
		left := time.Duration(e.expires - now)
		if left <= 0 {
			return publicmask.Token{}, 0, false, false, nil
		}
		if ahead > 0 && left < ahead {
			_, loaded := c.soon.LoadOrStore(sum, e)
			soon = !loaded
		}
		if e.revoked != notRevoked {
			return publicmask.Token{}, 0, true, soon, publicmask.Errorf(publicmask.EUnauthorized, "token revoked")
		}
		return c.token(e), e.outlet, true, soon, nil
	}
	if v, ok := c.unknown.Load(sum); ok && now < v.(int64) {
		return publicmask.Token{}, 0, true, false, publicmask.Errorf(publicmask.EUnauthorized, "unknown token")
	}
	return publicmask.Token{}, 0, false, false, nil
}

// Re-reading ahead. On PostgreSQL (several nodes) a known token's entry
// expires TokenCacheTTL after it was read, so that a revocation on
// another node is seen within that time, and the first request after the
// expiry waited for a read of its own: with thousands of outlets, one
// statement per outlet and expiry, each node, all the time (about 6,500
// in a 15 s rush of 1,500 sales/s). Instead, a token used in the last
// quarter of its entry's life is noted, and one round re-reads the noted
// tokens with one statement (publicmask.TokenReader) a moment later; its
// entries then expire TokenCacheTTL after that read began. An entry is
// only replaced if it has not changed meanwhile: a token this node
// revoked (cached revoked) is not brought back by a read that began before the
// revocation. Tokens not used lately are not re-read: they expire, and
// their next request reads them as before.

// refreshDelay is how long a round waits for more tokens to note before
// it reads; refreshChunk bounds the hashes of one statement.
const (
	refreshDelay = 200 * time.Millisecond
	refreshChunk = 5000
)

// refreshEmptyHook, if set (tests), runs when a round found no token noted,
// before it ends. Atomic: a round of an earlier test may still run while a
// later one sets it.
var refreshEmptyHook atomic.Pointer[func()]

// refreshAhead runs rounds until no token is noted; at most one runs.
func (l *Ledger) refreshAhead(r publicmask.TokenReader) {
	c := &l.tokens
	for {
		time.Sleep(refreshDelay)
		sums := make([][32]byte, 0, 64)
		seen := make([]uint64, 0, 64) // the entries' versions when noted
		c.soon.Range(func(k, v any) bool {
			c.soon.Delete(k)
			sums, seen = append(sums, k.([32]byte)), append(seen, v.(knownEntry).ver)
			return len(sums) < refreshChunk
		})
		if len(sums) == 0 {
			if hook := refreshEmptyHook.Load(); hook != nil {
				(*hook)()
			}
			c.refreshing.Store(false)
			// A token noted after the Range found none saw a round on
			// its way and started none: take it up, or it would wait
			// for another token's round (a lost wake-up).
			if !c.anySoon() || !c.refreshing.CompareAndSwap(false, true) {
				return
			}
			continue
		}
		hashes := make([]string, len(sums))
		for i, sum := range sums {
			hashes[i] = hex.EncodeToString(sum[:])
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), tokenLookupWait)
		got, err := r.Tokens(ctx, hashes)
		cancel()
		c.bulkReads.Add(1)
		if err != nil {
			// The entries expire and their next requests read them.
			l.log.Debug("re-reading tokens", "tokens", len(hashes), "err", err)
			continue
		}
		for i, sum := range sums {
			if t, ok := got[hashes[i]]; ok {
				c.putIfUnchanged(sum, seen[i], t, start.Add(l.cfg.TokenCacheTTL))
			}
		}
	}
}

// anySoon reports whether a token is noted for re-reading.
func (c *tokenCache) anySoon() (found bool) {
	c.soon.Range(func(_, _ any) bool { found = true; return false })
	return found
}

// tokenBySum resolves a token the caches could not answer (cached): it
// looks again (another request may have read it since), then reads the
// store.
func (l *Ledger) tokenBySum(ctx context.Context, sum [32]byte) (publicmask.Token, error) {
	c := &l.tokens
	at := time.Now()
	now := monoOf(at)
	if t, ok, _, err := c.cached(sum, now, 0); ok {
		return t, err
	}
	prev, seenValid := c.load(sum) // expired: read again, but it is no stranger
	var done func(bool)
	if g, _ := ctx.Value(authGuardKey{}).(AuthGuard); g != nil && !seenValid && !c.wasIssued(&sum) {
		var err error
		if done, err = g(); err != nil {
			// Refused: issued a moment ago on another node, it may be
			// missing from the set yet (catchUp).
			if !l.catchUp(ctx) || !c.wasIssued(&sum) {
				return publicmask.Token{}, err
			}
		}
	}
	t, err := l.readToken(ctx, hex.EncodeToString(sum[:]))
	if publicmask.ErrorCode(err) == publicmask.ENotFound {
		if c.unknownCount.Add(1) > maxUnknownTokens {
			c.unknown.Clear()
			c.unknownCount.Store(1)
		}
		c.unknown.Store(sum, now+int64(l.cfg.TokenCacheTTL))
		err = publicmask.Errorf(publicmask.EUnauthorized, "unknown token")
	}
	if done != nil {
		done(publicmask.ErrorCode(err) != publicmask.EUnauthorized)
	}
	if err != nil {
		return publicmask.Token{}, err
	}
	t = c.putIfUnchanged(sum, prev.ver, t, at.Add(l.cfg.TokenCacheTTL))
	if c.unknownCount.Load() > 0 {
		if _, ok := c.unknown.LoadAndDelete(sum); ok { // issued since it was looked up
			c.unknownCount.Add(-1)
		}
	}
	return checkToken(t)
}

// readToken reads a token from the store through the look-up gate.
func (l *Ledger) readToken(ctx context.Context, h string) (publicmask.Token, error) {
	if r, ok := l.store.(publicmask.TokenReader); ok {
		return l.readTokenGathered(ctx, r, h)
	}
	c := &l.tokens
	c.gateOnce.Do(func() { c.gate = make(chan struct{}, tokenLookups) })
	select {
	case c.gate <- struct{}{}:
	default:
		t := time.NewTimer(tokenLookupWait)
		defer t.Stop()
		select {
		case c.gate <- struct{}{}:
		case <-t.C:
			return publicmask.Token{}, publicmask.Errorf(publicmask.EOverloaded, "too many token look-ups; retry shortly")
		case <-ctx.Done():
			return publicmask.Token{}, ctx.Err()
		}
	}
	defer func() { <-c.gate }()
	c.reads.Add(1)
	return l.store.Token(ctx, h)
}

// First sight of tokens in bulk. A node that did not issue a token reads
// it at its first request, and after a restart every outlet's first
// request finds its token uncached: thousands of single reads at once,
// each a statement. Where the store reads many in one
// (publicmask.TokenReader), the reads that wait for a round trip are
// gathered instead: at most tokenRoundsInFlight rounds are on their way, each
// reading all the tokens asked for while the others were, in one
// statement.

// tokenRoundsInFlight bounds the rounds on their way: with more, fewer
// reads gather (scripts/bench-pg.sh's capacity rush with 8, the gate's
// bound: 1.8 tokens a statement).
const tokenRoundsInFlight = 2

// tokenRound is one statement's worth of token reads.
type tokenRound struct {
	hashes []string
	done   chan struct{} // closed when got and err are set
	got    map[string]publicmask.Token
	err    error
}

// tokenRounds gathers the reads.
type tokenRounds struct {
	mu       sync.Mutex
	next     *tokenRound // gathering: read by the next round to start
	inFlight int
}

// readTokenGathered is readToken for a store with bulk reads.
func (l *Ledger) readTokenGathered(ctx context.Context, r publicmask.TokenReader, h string) (publicmask.Token, error) {
	g := &l.tokens.rounds
	g.mu.Lock()
	if g.next == nil {
		g.next = &tokenRound{done: make(chan struct{})}
	}
	rd := g.next
	if len(rd.hashes) >= refreshChunk {
		g.mu.Unlock()
		return publicmask.Token{}, publicmask.Errorf(publicmask.EOverloaded, "too many token look-ups; retry shortly")
	}
	rd.hashes = append(rd.hashes, h)
	lead := g.inFlight < tokenRoundsInFlight
	if lead {
		g.inFlight++
		g.next = nil
	}
	g.mu.Unlock()
	if lead {
		go l.runTokenRounds(r, rd)
	}
	t := time.NewTimer(tokenLookupWait)
	defer t.Stop()
	select {
	case <-rd.done:
	case <-t.C:
		return publicmask.Token{}, publicmask.Errorf(publicmask.EOverloaded, "too many token look-ups; retry shortly")
	case <-ctx.Done():
		return publicmask.Token{}, ctx.Err()
	}
	if rd.err != nil {
		return publicmask.Token{}, rd.err
	}
	tok, ok := rd.got[h]
	if !ok {
		return publicmask.Token{Hash: h}, publicmask.Errorf(publicmask.ENotFound, "token not found")
	}
	return tok, nil
}

// runTokenRounds reads rd, then the round gathered meanwhile, if any, and
// so on; the reads are not tied to one request's context.
func (l *Ledger) runTokenRounds(r publicmask.TokenReader, rd *tokenRound) {
	g := &l.tokens.rounds
	for rd != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*tokenLookupWait)
		rd.got, rd.err = r.Tokens(ctx, rd.hashes)
		cancel()
		l.tokens.reads.Add(1)
		close(rd.done)
		g.mu.Lock()
		rd, g.next = g.next, nil
		if rd == nil {
			g.inFlight--
		}
		g.mu.Unlock()
	}
}

// Knowing the issued tokens. The guard spares tokens with an entry, so
// after a restart, or on a PostgreSQL node for a token issued on another
// node, a counter's first request competed with a neighbour's flood of
// made-up tokens from the same address (audit40a: 1 of 10 got 429;
// DESIGN.md §6.5 intends none). So the node lists every token's hash at
// start (publicmask.TokenLister) into the issued set, and then follows:
//   - every tokenFollowEvery it counts the tokens (one count(*)); when the
//     count grew (they are never deleted), it lists those created after the
//     latest creation time listed and adds them. The creation times are
//     the issuing nodes' clocks, and a transaction can commit after a later
//     one (PostgreSQL, several nodes), so a token can be created before the
//     latest listed and still be new: if the set then counts fewer tokens
//     than the store, the node lists those created in tokenFollowWindow
//     before it, and if still fewer, all of them. No token is missed for
//     more than one check.
//   - when the guard refuses a token missing from the set (a flood from
//     its address), the node catches up once before refusing (catchUp):
//     it lists the tokens created after the latest listed, one listing at
//     a time for every such request, at most every tokenCatchUpEvery, so a
//     token issued on another node a moment ago is not refused. A flood
//     costs the store one such listing (an index probe that finds nothing
//     new) an interval, whatever its size.
// The guard spares a listed token's store read; the read itself, and the
// cache entry it makes, come with its first request as before. A revoked
// token stays in the set: the set never authorises, so it costs that token
// a store read past the guard (which answers 401), no more.

// tokenFollowEvery is how often the token count is checked; tokenFollowWindow
// is how far before the latest creation time listed the second listing
// of a check starts; tokenCatchUpEvery spaces the catch-ups (variables for tests).
var (
	tokenFollowEvery  = 2 * time.Second
	tokenFollowWindow = time.Minute
	tokenCatchUpEvery = 50 * time.Millisecond
)

// catchUpShare: the next catch-up starts no sooner than this many times the
// last listing's duration after it started, and no later than catchUpMaxGap.
const (
	catchUpShare  = 5
	catchUpMaxGap = time.Second
)

// tokenFollow is the state of the issued set's listings.
type tokenFollow struct {
	every time.Duration // tokenCatchUpEvery when the ledger was made

	mu    sync.Mutex // one listing at a time; guards known and mark
	known int        // tokens the set was counted from (-1: never listed)
	mark  time.Time  // the latest creation time listed

	cmu     sync.Mutex
	round   chan struct{} // closed when the next catch-up to start has listed
	running bool          // runCatchUps is on its way
	last    time.Time     // when the last catch-up started
	gap     time.Duration // to wait after last: every, or more after a slow listing
	listed  atomic.Int64  // listings (full and following), for tests
	rows    atomic.Int64  // hashes listed, for tests
}

// issuedKey is the key of a listed hash in the issued set: the first 8 bytes
// of the sum it is the hex form of (as hashToken writes it). A hash in
// another form (none this node makes) is keyed by 8 bytes of its own sum,
// so that it is counted like the others.
func issuedKey(h []byte) uint64 {
	var sum [32]byte
	if len(h) == 2*len(sum) && isLowerHex(h) {
		hex.Decode(sum[:], h)
	} else {
		sum = sha256.Sum256(h)
	}
	return binary.BigEndian.Uint64(sum[:8])
}

func isLowerHex(h []byte) bool {
	for _, b := range h {
		if (b < '0' || b > '9') && (b < 'a' || b > 'f') {
			return false
		}
	}
	return true
}

// listAllTokens lists every token's hash into a new issued set, swapped in
// whole (l.follow.mu held).
func (l *Ledger) listAllTokens(ctx context.Context, tl publicmask.TokenLister) error {
	f := &l.follow
	var keys []uint64
	if p := l.tokens.issued.Load(); p != nil {
		keys = make([]uint64, 0, len(*p)+1024)
	}
	n := 0
	var mark time.Time
	err := tl.TokenHashes(ctx, time.Time{}, func(h []byte, created time.Time) error {
		n++
		keys = append(keys, issuedKey(h))
		if created.After(mark) {
			mark = created
		}
		return nil
	})
	f.listed.Add(1)
	f.rows.Add(int64(n))
	if err != nil {
		if f.known == 0 && l.tokens.issued.Load() == nil {
			f.known = -1
		}
		return err
	}
	slices.Sort(keys)
	keys = slices.Clip(slices.Compact(keys))
	l.tokens.issued.Store(&keys)
	f.known, f.mark = n, mark
	return nil
}

// listTokensSince adds the tokens created at or after since that the set
// lacks (l.follow.mu held; the set listed). A new set is swapped in only
// if some were missing.
func (l *Ledger) listTokensSince(ctx context.Context, tl publicmask.TokenLister, since time.Time) error {
	f := &l.follow
	cur := *l.tokens.issued.Load()
	var fresh []uint64
	mark := f.mark
	n := 0
	err := tl.TokenHashes(ctx, since, func(h []byte, created time.Time) error {
		n++
		if k := issuedKey(h); !has(cur, k) {
			fresh = append(fresh, k)
		}
		if created.After(mark) {
			mark = created
		}
		return nil
	})
	f.listed.Add(1)
	f.rows.Add(int64(n))
	if err != nil {
		return err
	}
	f.mark = mark
	if len(fresh) == 0 {
		return nil
	}
	slices.Sort(fresh)
	fresh = slices.Compact(fresh)
	f.known += len(fresh)
	keys := make([]uint64, 0, len(cur)+len(fresh))
	i := 0
	for _, k := range fresh { // merge: both sorted, disjoint
		for i < len(cur) && cur[i] < k {
			keys = append(keys, cur[i])
			i++
		}
		keys = append(keys, k)
	}
	keys = append(keys, cur[i:]...)
	l.tokens.issued.Store(&keys)
	return nil
}

func has(keys []uint64, k uint64) bool {
	_, found := slices.BinarySearch(keys, k)
	return found
}

// followTokens checks the token count every tokenFollowEvery and lists the
// tokens created since the last listing whenever it grew (see above), until
// stop is closed.
func (l *Ledger) followTokens(tl publicmask.TokenLister, every time.Duration, stop <-chan struct{}) {
	defer l.followers.Done()
	tick := time.NewTicker(every)
	defer tick.Stop()
	f := &l.follow
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), tokenLookupWait)
		n, err := tl.TokenCount(ctx)
		if err == nil {
			f.mu.Lock()
			switch {
			case f.known < 0 || n < f.known: // never listed; or tokens were deleted
				err = l.listAllTokens(ctx, tl)
			case n > f.known:
				// Counted before the listings began: fewer in the set
				// after one means a token was missed. First those
				// created after the latest listed (nearly always all of
				// them); then a window before it; then all.
				mark := f.mark
				err = l.listTokensSince(ctx, tl, mark.Add(time.Microsecond))
				if err == nil && f.known < n {
					err = l.listTokensSince(ctx, tl, mark.Add(-tokenFollowWindow))
				}
				if err == nil && f.known < n {
					err = l.listAllTokens(ctx, tl)
				}
			}
			f.mu.Unlock()
		}
		cancel()
		if err != nil {
			l.log.Debug("following tokens", "err", err)
		}
	}
}

// catchUp waits for a listing of the tokens created after the latest
// listed that starts after it was called, and reports whether one ran. It
// is called for a token missing from the set that the guard refused: one
// listing serves every request that waits meanwhile, and they start at
// most every tokenCatchUpEvery.
func (l *Ledger) catchUp(ctx context.Context) bool {
	if l.lister == nil || l.tokens.issued.Load() == nil {
		return false
	}
	f := &l.follow
	f.cmu.Lock()
	if f.round == nil {
		f.round = make(chan struct{})
	}
	ch := f.round
	if !f.running {
		f.running = true
		go l.runCatchUps()
	}
	f.cmu.Unlock()
	t := time.NewTimer(tokenLookupWait)
	defer t.Stop()
	select {
	case <-ch:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

// runCatchUps runs the catch-ups asked for until none is.
func (l *Ledger) runCatchUps() {
	f := &l.follow
	for {
		f.cmu.Lock()
		wait := max(f.every, f.gap) - time.Since(f.last)
		f.cmu.Unlock()
		if wait > 0 {
			time.Sleep(wait)
		}
		f.cmu.Lock()
		ch := f.round
		f.round = nil // requests from now on wait for the next one
		if ch == nil {
			f.running = false
			f.cmu.Unlock()
			return
		}
		f.last = time.Now()
		f.cmu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), tokenLookupWait)
		f.mu.Lock()
		began := time.Now() // the listing's own time, not the wait for f.mu
		var err error
		select {
		case <-l.stopFollow: // closed: the store may be too
		default:
			if f.known >= 0 {
				// After the latest listed only: tokens issued at once
				// share their creation time, and a window would re-read
				// them all at every catch-up. A token this misses is the
				// follow's.
				err = l.listTokensSince(ctx, l.lister, f.mark.Add(time.Microsecond))
			}
		}
		took := time.Since(began)
		f.mu.Unlock()
		cancel()
		if err != nil {
			l.log.Debug("catching up with the tokens", "err", err)
		}
		close(ch)
		// A slow listing (a PostgreSQL table not analyzed yet plans the
		// range as a whole scan: 25-40 ms at 160,000 tokens) spaces the
		// next: a flood keeps the store at most 1/catchUpShare busy with
		// them, and a token issued meanwhile waits at most catchUpMaxGap.
		f.cmu.Lock()
		f.gap = min(catchUpShare*took, catchUpMaxGap)
		f.cmu.Unlock()
	}
}
