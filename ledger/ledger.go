// Package ledger checks purchases against the rules and records them: one
// sale is one atomic, durable transaction, and concurrent requests are batched
// into group commits so that durability does not cost a flush per sale.
package ledger

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/internal/ratelog"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn"
)

// Config wires a Ledger.
type Config struct {
	Store  publicmask.Store
	Policy *policy.Holder
	Keyer  *rrn.Keyer
	Clock  clock.Clock
	// OnCommit is called after every commit with the new state of each
	// outlet the commit changed (in version order); the in-process public
	// snapshot follows the ledger through it. It must not block for long.
	// With several writers, calls may interleave out of version order:
	// receivers keep the highest version per outlet.
	OnCommit func(changed []publicmask.Outlet)
	// AdminToken is the admin bearer token (compared by hash, in constant time).
	AdminToken string
	// MaxBatch bounds how many requests share one commit (default 256).
	MaxBatch int
	// Writers is how many batches may commit at once (default 1: SQLite has
	// one writer; PostgreSQL gains from a few).
	Writers int
	// GatherWait, if > 0, holds a batch of fewer than GatherBelow
	// requests until GatherWait after its first request was queued, so
	// that below capacity a commit carries more than a few sales (gather
	// in batch.go). 0: a writer starts at once with what is queued.
	GatherWait  time.Duration
	GatherBelow int
	// RetentionWeeks is how many past weeks of person-week rows are kept
	// besides the current week (default 2).
	RetentionWeeks int
	// OutcomeWait bounds how long a request waits for the store to decide
	// its op before it is answered 503 store_unavailable (default 2 s:
	// DESIGN.md §4, the server answers before the counter's 3 s cutoff);
	// the wait ends sooner when the request's answer is due sooner (its
	// context's Due or deadline, due.go). The op is not withdrawn: it may
	// still commit (submit).
	OutcomeWait time.Duration
	// TokenCacheTTL bounds how long another node's revocation may take to be
	// seen here (default 10 s).
	TokenCacheTTL time.Duration
	Registerer    prometheus.Registerer
	Logger        *slog.Logger
}

// Ledger is the write side of publicmask.
type Ledger struct {
	cfg       Config
	store     publicmask.Store
	log       *slog.Logger
	adminHash [32]byte
	hasAdmin  bool
	m         *metrics

	queue   chan *op
	gap     arrivalGap   // between requests, for gather (Config.GatherWait)
	arrived atomic.Int64 // requests queued (enqueue), for gap
	mu      sync.RWMutex // guards closed against sends racing Close
	closed  bool
	writers sync.WaitGroup
	// commitFails keeps commits that keep failing to a log line per
	// interval (batch.go); its Every is commitFailLogEvery.
	commitFails ratelog.Episode

	tokens tokenCache
	// refreshAheadOf: a known token used within this of its entry's expiry
	// is re-read in bulk (refreshAhead); 0 when the store cannot.
	refreshAheadOf time.Duration

	activity activity // outlets' request times seen by this node

	// lister lists the issued tokens (nil: the store cannot); follow is
	// the state of its listings (tokens.go).
	lister publicmask.TokenLister
	follow tokenFollow
	// stopFollow ends followTokens (Close); followers waits for it.
	stopFollow chan struct{}
	followers  sync.WaitGroup

	// importTurn is held by the import whose chunks are being written
	// (ImportOutlets): import bodies that run at once are written one
	// after another, each whole.
	importTurn chan struct{}
}

// New starts a ledger with its writer goroutines.
func New(cfg Config) (*Ledger, error) {
	if cfg.Store == nil || cfg.Policy == nil || cfg.Keyer == nil {
		return nil, errors.New("ledger: Store, Policy and Keyer are required")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real{}
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 256
	}
	if cfg.Writers <= 0 {
		cfg.Writers = 1
	}
	if cfg.RetentionWeeks <= 0 {
		cfg.RetentionWeeks = 2
	}
	if cfg.TokenCacheTTL <= 0 {
		cfg.TokenCacheTTL = 10 * time.Second
	}
	if cfg.OutcomeWait <= 0 {
		cfg.OutcomeWait = 2 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	l := &Ledger{
		commitFails: ratelog.Episode{Every: commitFailLogEvery},
		cfg:         cfg,
		store:       cfg.Store,
		log:         cfg.Logger,
		queue:       make(chan *op, cfg.MaxBatch*4),
		m:           newMetrics(cfg.Registerer),
		importTurn:  make(chan struct{}, 1),
	}
	if _, ok := cfg.Store.(publicmask.TokenReader); ok {
		l.refreshAheadOf = cfg.TokenCacheTTL / 4
	}
	if cfg.AdminToken != "" {
		l.adminHash = sha256.Sum256([]byte(cfg.AdminToken))
		l.hasAdmin = true
	}
	if tl, ok := cfg.Store.(publicmask.TokenLister); ok {
		// Every issued token, before the first request (tokens.go).
		t0 := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		l.follow.mu.Lock()
		err := l.listAllTokens(ctx, tl)
		n := l.follow.known
		l.follow.mu.Unlock()
		cancel()
		if !errors.Is(err, errors.ErrUnsupported) { // else a wrapper whose store cannot list
			if err != nil {
				l.log.Warn("loading tokens", "err", err) // followTokens lists them at its first check
			} else {
				l.log.Info("tokens loaded", "tokens", n, "took_ms", float64(time.Since(t0).Microseconds())/1000)
			}
			l.lister = tl
			l.follow.every = tokenCatchUpEvery
			l.stopFollow = make(chan struct{})
			l.followers.Add(1)
			go l.followTokens(tl, tokenFollowEvery, l.stopFollow)
		}
	}
	for range cfg.Writers {
		l.writers.Add(1)
		go l.writeLoop()
	}
	return l, nil
}

// Close stops accepting requests, lets the writers finish the queued batches
// and returns when they have, or when ctx ends.
func (l *Ledger) Close(ctx context.Context) error {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.queue)
		if l.stopFollow != nil {
			close(l.stopFollow)
		}
	}
	l.mu.Unlock()
	done := make(chan struct{})
	go func() { l.writers.Wait(); l.followers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// NoteActivity records that the outlet made an authenticated request now:
// evidence, for late_while_online, that it was online (DESIGN.md §6.1).
func (l *Ledger) NoteActivity(outlet string) {
	if outlet != "" {
		l.activity.note(OutletRef(l.tokens.strs.id(outlet)), l.Now(), publicmask.MaxLateWindow)
	}
}

// OutletRef names an outlet as this ledger's token cache does (the index
// of its interned code; 0: none), so that NoteActivityRef looks nothing up
// by code. CachedTokenSum gives it with an outlet's token.
type OutletRef uint32

// NoteActivityRef is NoteActivity of the outlet o (from CachedTokenSum);
// o 0, or a ref the intern table never gave, notes nothing: a bogus ref
// would otherwise size the activity table by its value.
func (l *Ledger) NoteActivityRef(o OutletRef) {
	if o != 0 && l.tokens.strs.has(uint32(o)) {
		l.activity.note(o, l.Now(), publicmask.MaxLateWindow)
	}
}

// Now is the service clock.
func (l *Ledger) Now() time.Time { return l.cfg.Clock.Now() }

// Policy is the policy in force now.
func (l *Ledger) Policy() *policy.Policy { return l.cfg.Policy.Load() }

// SetPolicy replaces the policy atomically (reload without restart).
func (l *Ledger) SetPolicy(p *policy.Policy) { l.cfg.Policy.Store(p) }

// Store is the ledger's store.
func (l *Ledger) Store() publicmask.Store { return l.store }

// Outlet is what an outlet sees of itself.
func (l *Ledger) Outlet(ctx context.Context, code string) (*OutletView, error) {
	var o publicmask.Outlet
	var sold int
	err := l.boundedRead(ctx, func(ctx context.Context) (err error) {
		if o, err = l.store.Outlet(ctx, code); err != nil {
			return err
		}
		sold, err = l.store.SoldSince(ctx, code, dayStart(l.Now()))
		return err
	})
	if err != nil {
		return nil, err
	}
	pol, now := l.Policy(), l.Now()
	v := &OutletView{
		Code: o.Code, Name: o.Name, Addr: o.Addr, Type: o.Type, Lat: o.Lat, Lng: o.Lng,
		Stock: o.Stock, Suspended: o.Suspended, SoldToday: sold,
		Limits: Limits{MaxQuantityPerPerson: publicmask.MaxQuantityPerPerson, MaxProxies: publicmask.MaxProxiesPerSale,
			LateWindowSeconds: int(pol.Late() / time.Second), MaxDelivery: maxDelivery, MaxCount: maxCount},
		ProxyCategories: pol.ProxyCategoriesOn(now),
		IDCheck:         rrn.CheckRules(pol.VerifyCheckDigit(now)),
	}
	if st := o.RemainStat(); st != "" {
		v.RemainStat = &st
	}
	if !o.StockAt.IsZero() {
		t := o.StockAt.In(publicmask.Seoul)
		v.StockAt = &t
	}
	if !o.UpdatedAt.IsZero() {
		t := o.UpdatedAt.In(publicmask.Seoul)
		v.UpdatedAt = &t
	}
	return v, nil
}

func dayStart(t time.Time) time.Time {
	s := t.In(publicmask.Seoul)
	y, m, d := s.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, publicmask.Seoul)
}

// RecentSales lists an outlet's latest sales, newest first.
func (l *Ledger) RecentSales(ctx context.Context, outlet string, limit int) ([]publicmask.Sale, error) {
	if limit <= 0 || limit > MaxRecentSales {
		limit = 50
	}
	var sales []publicmask.Sale
	err := l.boundedRead(ctx, func(ctx context.Context) (err error) {
		sales, err = l.store.RecentSales(ctx, outlet, limit)
		return err
	})
	return sales, err
}

// Conflicts lists flagged late sales, newest first (at most 10,000).
func (l *Ledger) Conflicts(ctx context.Context, limit int) ([]publicmask.Sale, error) {
	if limit <= 0 || limit > MaxConflicts {
		limit = MaxConflicts
	}
	return l.store.Conflicts(ctx, limit)
}

// LateSaleCounts counts late sales and conflicts per outlet.
func (l *Ledger) LateSaleCounts(ctx context.Context) ([]publicmask.LateSaleCount, error) {
	return l.store.LateSaleCounts(ctx)
}

// IssueToken creates a bearer token for role (outlet tokens name their
// outlet) and returns it; only its hash is kept.
func (l *Ledger) IssueToken(ctx context.Context, role, outlet string) (string, error) {
	toks, err := l.IssueTokens(ctx, role, []string{outlet})
	if err != nil {
		return "", err
	}
	return toks[0], nil
}

// IssueOutletTokens issues a token for each of codes that names an outlet,
// all in one transaction, and lists the codes that name none (in their
// order). The outlets are checked in one store read where the store can
// (publicmask.OutletFinder): issuing the tokens of 5,000 outlets one
// IssueToken at a time cost 5,000 reads and 5,000 commits.
func (l *Ledger) IssueOutletTokens(ctx context.Context, codes []string) (map[string]string, []string, error) {
	missing, err := publicmask.MissingOutlets(ctx, l.store, codes)
	if err != nil {
		return nil, nil, err
	}
	absent := make(map[string]bool, len(missing))
	for _, c := range missing {
		absent[c] = true
	}
	// A code listed twice gets one token (the answer is a map by code).
	known := make([]string, 0, len(codes)-len(missing))
	seen := make(map[string]bool, len(codes))
	for _, c := range codes {
		if !absent[c] && !seen[c] {
			seen[c] = true
			known = append(known, c)
		}
	}
	tokens := make(map[string]string, len(known))
	if len(known) == 0 {
		return tokens, missing, nil
	}
	toks, err := l.issue(ctx, publicmask.RoleOutlet, known)
	if err != nil {
		return nil, nil, err
	}
	for i, c := range known {
		tokens[c] = toks[i]
	}
	return tokens, missing, nil
}

// IssueTokens issues one token per outlet in one transaction (role outlet),
// or len(outlets) tokens of another role.
func (l *Ledger) IssueTokens(ctx context.Context, role string, outlets []string) ([]string, error) {
	switch role {
	case publicmask.RoleOutlet:
		missing, err := publicmask.MissingOutlets(ctx, l.store, outlets)
		if err != nil {
			return nil, err
		}
		if len(missing) > 0 {
			return nil, publicmask.Errorf(publicmask.ENotFound, "outlet %q not found", missing[0])
		}
	case publicmask.RoleDistributor, publicmask.RoleAdmin:
		for i := range outlets {
			outlets[i] = ""
		}
	default:
		return nil, publicmask.Errorf(publicmask.EBadRequest, "role must be outlet or distributor")
	}
	return l.issue(ctx, role, outlets)
}

// issue writes one token of role per entry of outlets (checked by the
// caller) in one transaction and returns them.
func (l *Ledger) issue(ctx context.Context, role string, outlets []string) ([]string, error) {
	now := l.Now()
	toks := make([]string, len(outlets))
	recs := make([]publicmask.Token, len(outlets))
	for i, code := range outlets {
		toks[i] = "pm_" + role[:1] + "_" + randomID(24)
		recs[i] = publicmask.Token{Hash: hashToken(toks[i]), Role: role, Outlet: code, CreatedAt: now}
	}
	err := l.store.Write(ctx, func(tx publicmask.Tx) error {
		for _, r := range recs {
			if err := tx.PutToken(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// This node knows them valid: an outlet's first request needs no
	// store read.
	expires := time.Now().Add(l.cfg.TokenCacheTTL)
	for _, r := range recs {
		l.tokens.remember(r, expires)
	}
	return toks, nil
}

// Authenticate resolves a bearer token; EUnauthorized if unknown or revoked.
// The answer carries Role and Outlet only (not Hash or CreatedAt: the
// token cache keeps what requests need, without pointers — tokens.go).
func (l *Ledger) Authenticate(ctx context.Context, token string) (publicmask.Token, error) {
	if token == "" {
		return publicmask.Token{}, publicmask.Errorf(publicmask.EUnauthorized, "a bearer token is required")
	}
	sum := sha256.Sum256([]byte(token))
	if t, _, ok, err := l.cachedToken(sum); ok {
		return t, err
	}
	return l.tokenBySum(ctx, sum)
}

// CachedToken is Authenticate answered from what this node holds (the
// admin token, the token caches), without a store read: ok is false when
// only Authenticate can answer. A caller that would give Authenticate a
// guard (WithAuthGuard) need not make one for the tokens it sees on every
// request. With a valid token that names an outlet it gives the outlet's
// OutletRef (for NoteActivityRef), else 0.
func (l *Ledger) CachedToken(token string) (publicmask.Token, OutletRef, bool, error) {
	if token == "" {
		return publicmask.Token{}, 0, true, publicmask.Errorf(publicmask.EUnauthorized, "a bearer token is required")
	}
	return l.cachedToken(sha256.Sum256([]byte(token)))
}

// CachedTokenSum is CachedToken of the (non-empty) token whose SHA-256 is
// sum: a caller that keeps the sum of a connection's token need not hash
// it again for each request. The caches answer as for CachedToken
// (expiry, revocation), and give the OutletRef alike.
func (l *Ledger) CachedTokenSum(sum [32]byte) (publicmask.Token, OutletRef, bool, error) {
	return l.cachedToken(sum)
}

func (l *Ledger) cachedToken(sum [32]byte) (publicmask.Token, OutletRef, bool, error) {
	if l.hasAdmin && subtle.ConstantTimeCompare(sum[:], l.adminHash[:]) == 1 {
		return publicmask.Token{Role: publicmask.RoleAdmin}, 0, true, nil
	}
	t, ref, ok, soon, err := l.tokens.cachedRef(sum, monoNow(), l.refreshAheadOf)
	if soon && l.tokens.refreshing.CompareAndSwap(false, true) {
		go l.refreshAhead(l.store.(publicmask.TokenReader))
	}
	return t, OutletRef(ref), ok, err
}

func checkToken(t publicmask.Token) (publicmask.Token, error) {
	if !t.RevokedAt.IsZero() {
		return publicmask.Token{}, publicmask.Errorf(publicmask.EUnauthorized, "token revoked")
	}
	return t, nil
}

// RevokeToken revokes an issued token.
func (l *Ledger) RevokeToken(ctx context.Context, token string) error {
	h := hashToken(token)
	t, err := l.store.Token(ctx, h)
	if err != nil {
		return err
	}
	now := l.Now()
	err = l.store.Write(ctx, func(tx publicmask.Tx) error { return tx.RevokeToken(h, now) })
	if err != nil {
		l.tokens.Delete(h)
		return err
	}
	t.RevokedAt = now
	l.tokens.revoked(h, t, time.Now().Add(l.cfg.TokenCacheTTL))
	return nil
}

func hashToken(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomID returns n random bytes, base32 encoded.
func randomID(n int) string {
	b := make([]byte, n)
	rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return idEncoding.EncodeToString(b)
}

// sortedEncoding is base32 whose alphabet is in ASCII order, so that IDs
// sort as the bytes they encode.
var sortedEncoding = base32.NewEncoding("234567abcdefghijklmnopqrstuvwxyz").WithPadding(base32.NoPadding)

// newSaleID is time-ordered (microseconds, then random bytes): sale rows and
// their items are keyed by it, and keys that grow append at the right edge
// of the B-trees instead of dirtying a random page each — fewer pages per
// commit to write out.
func newSaleID() string { return "s" + timeOrderedID() }

func timeOrderedID() string {
	var b [13]byte
	binary.BigEndian.PutUint64(b[:8], uint64(time.Now().UnixMicro()))
	rand.Read(b[8:])
	return sortedEncoding.EncodeToString(b[:])
}
