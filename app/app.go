// Package app wires a publicmask node from its configuration: store, secret,
// ledger, public snapshot, HTTP server. cmd/publicmask only parses flags.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/httpapi"
	"github.com/publicmask/publicmask/internal/metric"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/postgres"
	"github.com/publicmask/publicmask/public"
	"github.com/publicmask/publicmask/rrn"
	"github.com/publicmask/publicmask/seal"
	"github.com/publicmask/publicmask/snapshot"
	"github.com/publicmask/publicmask/sqlite"
	"github.com/publicmask/publicmask/web"

	"github.com/publicmask/publicmask/ops"

	"github.com/publicmask/publicmask/internal/benchbody"
)

// Config is everything `publicmask serve` takes.
type Config struct {
	Addr       string
	DB         string // SQLite path or postgres:// URL
	Role       string // all, ledger, public
	Seed       string // demo or none
	Geo        string // optional sgg_2020.csv-shaped file for the demo seed
	Clock      string // RFC 3339 start of the service clock; "" = real
	ClockRate  float64
	Policy     string // standard, korea-2020 or a file
	AdminToken string
	// AdminTokenFile holds the admin token (preferred over AdminToken,
	// which a command line shows to other processes); it wins when both
	// are set.
	AdminTokenFile string
	// StreamsPerClient caps the live SSE streams per client address
	// (default 64).
	StreamsPerClient int
	// OutletShare bounds one outlet token's admitted requests (default
	// 32; httpapi.Config.OutletShare).
	OutletShare int
	// LogDropped, if set, reports log lines dropped by an asynchronous
	// log writer (exported as publicmask_log_lines_dropped_total).
	LogDropped func() int64
	SecretFile string
	Tiles      string
	Basemap    string
	TLSCert    string
	TLSKey     string
	DebugAddr  string
	// CPUTokens: auto (default), always or off — public requests' CPU
	// tokens (httpapi/cputoken.go).
	CPUTokens string
	// LeanSales serves POST /api/v2/outlet/sales and the hot public GETs on
	// plain-HTTP keep-alive connections by httpapi's lean path (lean.go)
	// instead of net/http.
	LeanSales   bool
	PublicRate  float64 // per-client public requests/s; 0 = off
	TrustProxy  []string
	PollEvery   time.Duration // public role: how often to follow the store
	Logger      *slog.Logger
	Out         io.Writer // where the start-up banner goes
	ReadyNotify func(addr string)

	// Peers names the other nodes (serve --peers: [label=]URL,…) whose
	// public status this node polls for its /status page.
	Peers string
}

func (c *Config) defaults() {
	if c.Addr == "" {
		c.Addr = "127.0.0.1:8080"
	}
	if c.DB == "" {
		c.DB = filepath.Join("data", "publicmask.db")
	}
	if c.Role == "" {
		c.Role = httpapi.RoleAll
	}
	if c.Seed == "" {
		c.Seed = "demo"
	}
	if c.ClockRate == 0 {
		c.ClockRate = 1
	}
	if c.Policy == "" {
		c.Policy = "standard"
	}
	if c.PollEvery == 0 {
		c.PollEvery = 100 * time.Millisecond
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Out == nil {
		c.Out = os.Stdout
	}
}

func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// Node is a running publicmask process's parts.
type Node struct {
	cfg       Config
	Store     publicmask.Store
	Ledger    *ledger.Ledger
	Refresher *snapshot.Refresher
	Policy    *policy.Holder
	Handler   http.Handler
	// listener wraps the plain-TCP listener of Serve (httpapi's CPU tokens).
	listener func(net.Listener) net.Listener
	// lean wraps it for the lean path (serve --lean-sales).
	lean      func(net.Listener, *http.Server) *httpapi.LeanListener
	Registry  *prometheus.Registry
	Clock     clock.Clock
	admin     string
	generated bool
	statusC   *ops.Collector
	peers     *ops.Peers
	writes    *watchedStore
	stop      context.CancelFunc
	seal      *seal.Key // the counter outbox's key pair, derived from the secret
	// wait answers while a start waits for space on a full disk; Serve
	// takes its listener over (startwait.go).
	wait *startWait
}

// Open builds a node: opens and prepares the store, seeds it, starts the
// ledger and the snapshot. Close releases it.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	cfg.defaults()
	switch cfg.Role {
	case httpapi.RoleAll, httpapi.RoleLedger, httpapi.RolePublic:
	default:
		return nil, fmt.Errorf("--role must be all, ledger or public, not %q", cfg.Role)
	}
	if cfg.Seed != "demo" && cfg.Seed != "none" {
		return nil, fmt.Errorf("--seed must be demo or none, not %q", cfg.Seed)
	}
	if !isPostgres(cfg.DB) && keywordDSN.MatchString(cfg.DB) {
		// Not quoted: it may hold a password.
		return nil, errors.New("--db: give PostgreSQL as a postgres:// URL (e.g. postgres://user@host/db, the password in a pgpass file); a key=value string would be taken for a SQLite file name")
	}
	clk, err := makeClock(cfg.Clock, cfg.ClockRate)
	if err != nil {
		return nil, err
	}
	pol, err := policy.Load(cfg.Policy)
	if err != nil {
		return nil, err
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, Registry: prometheus.NewRegistry(), Clock: clk, Policy: policy.NewHolder(pol)}
	n.registerProcessMetrics()
	bg, stop := context.WithCancel(context.Background())
	n.stop = stop
	if err := n.open(ctx, bg); err != nil {
		n.Close(context.Background())
		return nil, err
	}
	return n, nil
}

// check refuses what the flags get wrong before the store is touched: a
// typo must not create and seed a store, nor generate an admin token that
// the failed start then never shows (on PostgreSQL only its hash is kept).
func (cfg *Config) check() error {
	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	// Negative numbers were taken silently for the defaults (or, for the
	// rate, for off): say so instead.
	for _, f := range []struct {
		name string
		v    float64
	}{{"--public-rate", cfg.PublicRate}, {"--outlet-share", float64(cfg.OutletShare)}, {"--streams-per-client", float64(cfg.StreamsPerClient)}} {
		if f.v < 0 || math.IsNaN(f.v) {
			return fmt.Errorf("%s must not be negative, not %v", f.name, f.v)
		}
	}
	if err := httpapi.CheckTrustProxy(cfg.TrustProxy); err != nil {
		return fmt.Errorf("--trust-proxy: %w", err)
	}
	if err := httpapi.CheckCPUTokenMode(cfg.CPUTokens); err != nil {
		return fmt.Errorf("--cpu-tokens: %w", err)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	if cfg.TLSCert != "" {
		if _, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey); err != nil {
			return fmt.Errorf("load TLS key pair: %w", err)
		}
	}
	if _, err := ops.ParsePeers(cfg.Peers); err != nil {
		return err
	}
	if cfg.Basemap != "" {
		if _, err := os.Stat(cfg.Basemap); err != nil {
			return fmt.Errorf("--basemap: %w", err)
		}
	}
	return nil
}

// open starts the node's parts in order; Open closes them on an error.
func (n *Node) open(ctx, bg context.Context) error {
	cfg := n.cfg
	// A public node only reads outlets and the change feed: it may run
	// under a read-only database role, on a standby, and never migrates.
	var err error
	if n.Store, err = openStore(ctx, cfg.DB, cfg.Role == httpapi.RolePublic, cfg.Logger); err != nil {
		return err
	}
	registerStoreMetrics(n.Registry, n.Store)
	n.writes = watchStore(bg, n.Store, n.Registry, cfg.Logger)
	n.Store = n.writes.store()
	var keyer *rrn.Keyer
	if cfg.Role == httpapi.RolePublic {
		// The most exposed machines hold no secret, so they cannot
		// brute-force person keys (§2 Privacy).
		if cfg.SecretFile != "" {
			cfg.Logger.Warn("a public node does not use the HMAC secret: --secret-file ignored; keep the secret off public machines")
		}
	} else if keyer, err = n.loadKeys(ctx); err != nil {
		return err
	}
	if cfg.Role != httpapi.RoleLedger {
		n.newRefresher()
	}
	// After newRefresher: its OnResize hook has read the configured limit
	// (memoryForOutlets) before it is lifted here.
	if err := n.loadUnlimited(ctx, bg, keyer); err != nil {
		return err
	}
	n.newPeers()
	if err := n.buildHandler(); err != nil {
		return err
	}
	n.registerOpsMetrics(bg)
	startReleaseWhenQuiet(bg)
	startHeapPacing(bg)
	n.startStatus(bg)
	return nil
}

// loadUnlimited starts the ledger's writer and builds the first snapshot
// with the soft memory limit lifted (liftMemoryLimit), restored on every
// way out.
func (n *Node) loadUnlimited(ctx, bg context.Context, keyer *rrn.Keyer) error {
	defer liftMemoryLimit()()
	if n.cfg.Role != httpapi.RolePublic {
		if err := n.startLedger(ctx, bg, keyer); err != nil {
			return err
		}
	}
	if n.Refresher != nil {
		if err := n.Refresher.Start(bg); err != nil {
			return fmt.Errorf("build public snapshot: %w", err)
		}
	}
	return nil
}

func (n *Node) registerProcessMetrics() {
	// The scheduler's latencies (go_sched_latencies_seconds: how long a
	// runnable goroutine waited for a core), the collector's pauses and
	// cycles, and its CPU (go_cpu_classes_gc_total_cpu_seconds_total): where
	// a sale's tail goes when the cores are busy, and what the heap's pacing
	// costs (startHeapPacing).
	n.Registry.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
		collectors.MetricsScheduler, collectors.MetricsGC,
		collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/cpu/classes/(gc/total|total|user):`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if runQueueAvailable() {
		rq := newRunQueueWait("/proc/self/task")
		n.Registry.MustRegister(metric.CounterFunc("publicmask_process_run_queue_wait_seconds_total",
			"Time the process's threads were runnable but waiting for a core of the operating system (the kernel's schedstat, summed over threads): beside process_cpu_seconds_total, whether a tail was this process's work or a machine busy with other work.",
			func() float64 { s, _ := rq.seconds(); return s }))
	}
	if f := n.cfg.LogDropped; f != nil {
		n.Registry.MustRegister(metric.CounterFunc("publicmask_log_lines_dropped_total",
			"Log lines dropped because the log output did not keep up.", func() float64 { return float64(f()) }))
	}
}

// loadKeys reads (or, with SQLite, creates) the HMAC secret and derives
// the person keyer and the outbox's sealing key from it; it also loads the
// admin token.
func (n *Node) loadKeys(ctx context.Context) (*rrn.Keyer, error) {
	cfg := n.cfg
	secretFile, mayCreate := cfg.SecretFile, false
	if secretFile == "" {
		if isPostgres(cfg.DB) {
			return nil, errors.New("with PostgreSQL every ledger node needs the same --secret-file (or PUBLICMASK_SECRET_FILE)")
		}
		secretFile, mayCreate = cfg.DB+".secret", true
	}
	secret, err := loadSecret(ctx, n.Store, secretFile, mayCreate)
	if err != nil {
		return nil, err
	}
	keyer, err := rrn.NewKeyer(secret)
	if err != nil {
		return nil, err
	}
	if n.seal, err = seal.NewKey(secret); err != nil {
		return nil, err
	}
	return keyer, n.loadAdmin(ctx)
}

// newRefresher makes the public snapshot's refresher. A public node
// follows the store. So does an "all" node on PostgreSQL: other ledger
// nodes write there too, and a commit whose answer was lost (so OnCommit
// never ran) must still show.
func (n *Node) newRefresher() {
	cfg := n.cfg
	var poll time.Duration
	if cfg.Role == httpapi.RolePublic || isPostgres(cfg.DB) {
		poll = cfg.PollEvery
	}
	n.Refresher = snapshot.NewRefresher(n.Store, snapshot.Options{
		Clock: n.Clock.Now, Registerer: n.Registry, Logger: cfg.Logger, PollInterval: poll,
		OnResize: memoryForOutlets(cfg.Logger),
	})
}

// fullDiskRetry and fullDiskLogEvery pace a start on a full disk (newEpoch).
const (
	fullDiskRetry    = time.Second
	fullDiskLogEvery = 30 * time.Second
)

// newEpoch starts a store epoch, the first write of a ledger's start. On a
// full disk it waits for space, trying again each second, instead of
// exiting: a node restarted on a full disk (after a crash, or by an
// operator) would otherwise fail its start a few times and systemd would
// give up on it (StartLimitBurst), so that it stayed down once space
// returned. Meanwhile the node listens, unready (listenWhileWaiting): its
// /readyz and /status say why it waits, and so does the log; the failed
// write is observed like any other, so its probe finds the space again.
// SIGTERM ends the wait.
func (n *Node) newEpoch(ctx context.Context) (publicmask.Epochs, error) {
	var since, logged time.Time
	for {
		es, err := n.Store.NewEpoch(ctx, publicmask.NewEpochID())
		if err == nil && !since.IsZero() {
			n.writes.observe(nil)
			n.cfg.Logger.Info("space on the disk again: the node starts", "waited_s", time.Since(since).Seconds())
		}
		if err == nil || writeFailureCause(err) != causeDiskFull {
			return es, err
		}
		n.writes.observe(err)
		now := time.Now()
		if since.IsZero() {
			since = now
			if lerr := n.listenWhileWaiting(); lerr != nil {
				return nil, fmt.Errorf("%w (and listen while waiting for space: %w)", err, lerr)
			}
		}
		if logged.IsZero() || now.Sub(logged) >= fullDiskLogEvery {
			logged = now
			n.cfg.Logger.Error("the disk is full: the node waits for space before it starts (listening, not ready)",
				"waiting_s", now.Sub(since).Seconds(), "err", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (stopped while waiting for space on the disk)", err)
		case <-time.After(fullDiskRetry):
		}
	}
}

// startLedger starts the ledger (and its purge), seeding the demo first.
func (n *Node) startLedger(ctx, bg context.Context, keyer *rrn.Keyer) error {
	cfg := n.cfg
	// A new epoch before the first write: if the store was restored from a
	// backup or recreated, clients and public nodes holding cursors of the
	// history it lost learn it from the chain (epoch.go).
	es, err := n.newEpoch(ctx)
	if err != nil {
		return fmt.Errorf("start an epoch: %w", err)
	}
	cfg.Logger.Info("store epoch started", "epoch", es.Latest(), "from_version", es[len(es)-1].Start)
	lc := ledger.Config{
		Store: n.Store, Policy: n.Policy, Keyer: keyer, Clock: n.Clock, AdminToken: n.admin,
		Registerer: n.Registry, Logger: cfg.Logger,
	}
	tuneWriters(&lc, isPostgres(cfg.DB))
	if n.Refresher != nil {
		lc.OnCommit = n.Refresher.Notify
	}
	if n.Ledger, err = ledger.New(lc); err != nil {
		return err
	}
	if cfg.Seed == "demo" {
		if err := seedDemo(ctx, n, cfg); err != nil {
			return err
		}
	}
	go n.Ledger.RunPurge(bg, time.Hour)
	return nil
}

// CheckClockRate refuses a --clock-rate the clock cannot keep (DESIGN.md
// §3: simulated seconds per real second): zero, negative, NaN or infinite.
// The command line checks its flag with it, where an explicit 0 is still
// seen (Config's 0 means the default, 1).
func CheckClockRate(rate float64) error {
	if !(rate > 0) || math.IsInf(rate, 1) {
		return fmt.Errorf("--clock-rate must be a positive number of simulated seconds per real second, not %v", rate)
	}
	return nil
}

func makeClock(start string, rate float64) (clock.Clock, error) {
	if err := CheckClockRate(rate); err != nil {
		return nil, err
	}
	if start == "" {
		if rate == 1 {
			return clock.Real{}, nil
		}
		return clock.NewSim(time.Now(), rate), nil
	}
	t, err := time.Parse(time.RFC3339, start)
	if err != nil {
		return nil, fmt.Errorf("--clock must be RFC 3339 like 2020-03-11T08:00:00+09:00: %w", err)
	}
	return clock.NewSim(t, rate), nil
}

func openStore(ctx context.Context, db string, readOnly bool, log *slog.Logger) (publicmask.Store, error) {
	if isPostgres(db) {
		st, err := postgres.Open(ctx, db, postgres.Options{Logger: log, NoMigrate: readOnly})
		if err != nil {
			return nil, err // not a typed nil in the interface
		}
		return st, nil
	}
	st, err := sqlite.Open(ctx, db)
	if err != nil {
		return nil, err
	}
	if p := st.MadePrivate(); len(p) > 0 {
		log.Warn("the store's files were readable by others (a backup put in place keeps its umask's mode): made readable by the owner only", "files", strings.Join(p, ", "))
	}
	return st, nil
}

func (n *Node) buildHandler() error {
	cfg := n.cfg
	var pub http.Handler
	if n.Refresher != nil {
		pub = public.NewHandler(n.Refresher, public.Options{
			Rules:  func(date time.Time, birthYear int) any { return n.Policy.Load().Rules(date, birthYear) },
			Logger: cfg.Logger,
		})
	}
	var basemap []byte
	if cfg.Basemap != "" {
		b, err := os.ReadFile(cfg.Basemap)
		if err != nil {
			return fmt.Errorf("--basemap: %w", err)
		}
		basemap = b
	}
	pages := n.peers.MarkSelf(web.Handler(web.Options{Tiles: cfg.Tiles, Basemap: basemap, Status: n.status}))
	hc := httpapi.Config{
		Ledger: n.Ledger, Public: pub, Pages: pages, Role: cfg.Role,
		Ready: n.ready, Logger: cfg.Logger, Registerer: n.Registry, Gatherer: n.Registry,
		PublicRate: cfg.PublicRate, TrustProxy: cfg.TrustProxy, StreamsPerClient: cfg.StreamsPerClient, OutletShare: cfg.OutletShare, Seal: n.seal,
		CPUTokenMode: cfg.CPUTokens,
	}
	if n.Ledger != nil {
		hc.SetPolicy = n.Ledger.SetPolicy
		// A verify reads every sale and person-week of the window: give
		// back at once what it took (BENCHMARKS.md "RSS after a rush, 2nd
		// pass"), as after a bulk write, rather than three quiet seconds
		// later.
		hc.AfterScan = debug.FreeOSMemory
	}
	if n.Ledger != nil && n.Refresher != nil {
		// Once a load is over, the snapshot's merge state (the place
		// index's map by label, kept from one import body's merge to the
		// next) goes too: it is ~10 MB at 540,000 outlets.
		hc.BulkWrite = releaseAfterBulk(gcRoomDuringBulk(n.Refresher.Bulk), func() {
			n.Refresher.DropMergeState()
			debug.FreeOSMemory()
		})
	}
	srv := httpapi.New(hc)
	n.Handler = srv.Handler()
	n.listener = srv.Listener
	if cfg.Role != httpapi.RolePublic {
		n.lean = srv.LeanListener
	}
	return nil
}

func (n *Node) ready(ctx context.Context) error {
	if n.cfg.Role == httpapi.RolePublic {
		// A public node keeps serving its last snapshot while the store is
		// unreachable; its age shows in X-Data-As-Of, /status and metrics.
		if !n.Refresher.Ready() {
			return publicmask.Errorf(publicmask.EStoreUnavailable, "public snapshot not built yet")
		}
		return nil
	}
	if err := n.Store.Ping(ctx); err != nil {
		if errors.Is(err, sqlite.ErrFileReplaced) {
			n.writes.observe(err) // logged once, counted, and on /status like a failed write
			if errors.Is(err, sqlite.ErrWALReplaced) {
				return publicmask.Errorf(publicmask.EStoreUnavailable, "the store's -wal file was removed or replaced under the running node: restart it")
			}
			return publicmask.Errorf(publicmask.EStoreUnavailable, "the store's file was replaced under the running node: restart it on the new file, or stop it and put the old one back")
		}
		if errors.Is(err, sqlite.ErrFlushFailed) {
			return publicmask.Errorf(publicmask.EStoreUnavailable, "a flush to disk failed: restart the node")
		}
		return publicmask.Errorf(publicmask.EStoreUnavailable, "store unreachable")
	}
	if n.cfg.Role != httpapi.RolePublic {
		if err := n.writes.readyErr(); err != nil {
			return err
		}
	}
	if n.Refresher != nil && !n.Refresher.Ready() {
		return publicmask.Errorf(publicmask.EStoreUnavailable, "public snapshot not built yet")
	}
	return nil
}

// AdminToken is the admin bearer token in force.
func (n *Node) AdminToken() string { return n.admin }

// Close stops the node's background work, drains the ledger and closes the
// store.
func (n *Node) Close(ctx context.Context) error {
	if n.stop != nil {
		n.stop()
	}
	var errs []error
	if n.wait != nil {
		n.wait.close()
		n.wait = nil
	}
	if n.Ledger != nil {
		errs = append(errs, n.Ledger.Close(ctx))
	}
	if n.Store != nil {
		errs = append(errs, n.Store.Close())
	}
	return errors.Join(errs...)
}

// Serve listens and serves until ctx ends, then drains: in-flight requests
// and open batches finish, new connections are refused.
func (n *Node) Serve(ctx context.Context) error {
	cfg := n.cfg
	var (
		ln  net.Listener
		err error
	)
	if n.wait != nil {
		// The start listened while it waited for space: the same socket,
		// open all along.
		hctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		ln = n.wait.handover(hctx)
		cancel()
		n.wait = nil
	} else {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return err
		}
	}
	hs := &http.Server{
		Handler:           n.Handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Handlers set a write deadline scaled to each answer (httpapi);
		// this is the backstop for the rest. Idle keep-alive connections
		// cost a file descriptor only, never an admission slot.
		WriteTimeout:   2 * time.Minute,
		IdleTimeout:    90 * time.Second,
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelWarn),
	}
	scheme := "http"
	var lean *httpapi.LeanListener
	if cfg.TLSCert == "" && cfg.TLSKey == "" {
		if n.listener != nil {
			ln = n.listener(ln) // plain HTTP only: the tokens read request lines
		}
		if cfg.LeanSales && n.lean != nil {
			lean = n.lean(ln, hs) // plain HTTP only
			ln = lean
		}
	} else {
		if cfg.TLSCert == "" || cfg.TLSKey == "" {
			ln.Close()
			return errors.New("--tls-cert and --tls-key go together")
		}
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			ln.Close()
			return fmt.Errorf("load TLS key pair: %w", err)
		}
		hs.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		ln = tls.NewListener(ln, hs.TLSConfig)
		scheme = "https"
	}
	if cfg.DebugAddr != "" {
		go serveDebug(cfg.DebugAddr, cfg.Logger)
	}
	base := scheme + "://" + ln.Addr().String()
	n.banner(base)
	if cfg.ReadyNotify != nil {
		cfg.ReadyNotify(ln.Addr().String())
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	// Once listening: a peer list that names this node finds it at once.
	n.startPeers(ctx)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	cfg.Logger.Info("shutting down: draining requests")
	shutCtx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = hs.Shutdown(shutCtx)
	if lean != nil {
		// The lean path's requests in flight finish before the ledger closes.
		err = errors.Join(err, lean.Drain(shutCtx))
	}
	if cerr := n.Close(shutCtx); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

func serveDebug(addr string, log *slog.Logger) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", redactedCmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/fixed", benchbody.Serve)
	log.Info("debug listener (pprof)", "addr", addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		log.Error("debug listener", "err", err)
	}
}

// redactedCmdline is pprof's cmdline without secrets: the value of
// --admin-token and a PostgreSQL password in --db are replaced
// (DESIGN.md §6.14).
func redactedCmdline(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprint(w, strings.Join(RedactArgs(os.Args), "\x00"))
}

// RedactArgs returns args with secret flag values replaced.
func RedactArgs(args []string) []string {
	out := make([]string, len(args))
	copy(out, args)
	secretNext := false
	for i, a := range out {
		if secretNext {
			out[i], secretNext = "REDACTED", false
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") {
			continue
		}
		switch name {
		case "admin-token":
			if hasVal {
				out[i] = a[:len(a)-len(val)] + "REDACTED"
			} else {
				secretNext = true
			}
		case "db", "target":
			if hasVal {
				out[i] = a[:len(a)-len(val)] + redactDSN(val)
			} else if i+1 < len(out) {
				out[i+1] = redactDSN(out[i+1])
			}
		}
	}
	return out
}

func (n *Node) banner(base string) {
	w := n.cfg.Out
	fmt.Fprintf(w, "publicmask %s serving on %s (role %s, store %s, policy %s)\n", Version, base, n.cfg.Role, redactDSN(n.cfg.DB), n.Policy.Load().Name)
	if n.cfg.Role != httpapi.RoleLedger {
		fmt.Fprintf(w, "  map:      %s/\n  status:   %s/status\n  open API: %s/corona19-masks/v1/storesByGeo/json?lat=37.5665&lng=126.9780&m=1000\n", base, base, base)
	}
	if n.cfg.Role != httpapi.RolePublic {
		fmt.Fprintf(w, "  counter:  %s/outlet\n", base)
		switch {
		case n.generated && isPostgres(n.cfg.DB):
			// Printed when it was generated (loadAdmin), above.
		case n.generated:
			fmt.Fprintf(w, "  admin token (generated, kept in %s): %s\n", n.cfg.DB+".admin-token", n.admin)
		case n.cfg.AdminTokenFile != "":
			fmt.Fprintf(w, "  admin token: in %s\n", n.cfg.AdminTokenFile)
		case n.cfg.AdminToken == "" && isPostgres(n.cfg.DB):
			fmt.Fprintf(w, "  admin token: the one printed by the first ledger node (the database keeps only its hash)\n")
		case n.cfg.AdminToken == "":
			fmt.Fprintf(w, "  admin token: in %s\n", n.cfg.DB+".admin-token")
		}
		code := n.exampleOutletCode()
		fmt.Fprintf(w, "  outlet token: curl -s -X POST -H 'Authorization: Bearer <admin token>' -d '{\"role\":\"outlet\",\"outlet\":\"%s\"}' %s/api/v2/admin/tokens\n", code, base)
	}
}

// exampleOutletCode is an outlet code for the banner's example, or a
// placeholder. It must stay cheap: the banner is printed before the server
// accepts connections, and reading every outlet for it took seconds of a
// 540,000-outlet start. The snapshot's first code when there is one,
// otherwise the store's oldest change.
func (n *Node) exampleOutletCode() string {
	if n.Refresher != nil {
		if s := n.Refresher.Current(); s != nil && s.Len() > 0 {
			return s.At(0).Code()
		}
	}
	if outs, err := n.Store.OutletChanges(context.Background(), 0, 1); err == nil && len(outs) > 0 {
		return outs[0].Code
	}
	return "<outlet code>"
}

func redactDSN(db string) string {
	if !isPostgres(db) {
		return db
	}
	// The user information: up to the last @ before the path or query
	// (a password may hold an @ or a /, a query a @).
	if j := strings.Index(db, "://"); j > 0 {
		auth := db[j+3:]
		if k := strings.IndexAny(auth, "?"); k >= 0 {
			auth = auth[:k]
		}
		if i := strings.LastIndexByte(auth, '@'); i >= 0 {
			db = db[:j+3] + "…" + db[j+3+i:]
		}
	}
	// libpq and pgx also take the password (and a client key's
	// passphrase, sslpassword) as query parameters.
	q := strings.IndexByte(db, '?')
	if q < 0 {
		return db
	}
	params := strings.Split(db[q+1:], "&")
	for i, kv := range params {
		if k, _, _ := strings.Cut(kv, "="); strings.HasSuffix(strings.ToLower(k), "password") {
			params[i] = k + "=REDACTED"
		}
	}
	return db[:q+1] + strings.Join(params, "&")
}

// keywordDSN: a libpq key=value connection string ("host=… user=…"), which
// --db does not read as PostgreSQL: it would be taken for a SQLite file
// name, and a password in it written into the file system.
var keywordDSN = regexp.MustCompile(`(^|\s)(host|hostaddr|port|user|password|dbname|sslmode)=`)

// Version is set at build time with -ldflags "-X …/app.Version=…".
var Version = "dev"

// Migrate brings the store at db up to this binary's schema (`publicmask
// migrate`).
func Migrate(ctx context.Context, db string) error {
	st, err := openStore(ctx, db, false, slog.Default())
	if err != nil {
		return err
	}
	return st.Close()
}

// tuneWriters sets how a node's ledger batches its writes for its store.
func tuneWriters(lc *ledger.Config, postgres bool) {
	if postgres {
		// One writer a node, and below capacity a batch waits up to 5 ms
		// for company (ledger.gather; 5 ms so that ~750 requests/s a node
		// pass gatherCompany). Every node's batches that change outlets
		// commit one after another (the version counter, postgres/tx.go),
		// and PostgreSQL's CPU a sale falls steeply with the sales a
		// batch: ~650 µs at 1.1 sales a batch, ~180 at 8–11
		// (BenchmarkSaleBatches/paced). In the 1,500/s step of
		// scripts/bench-pg.sh two writers a node ran 1.4–2.1 requests a
		// batch and PostgreSQL's ledger backends took 11.6–14.8 s of CPU;
		// one writer with the gather 3.0–3.9 a batch and 8.9–10.3 s, and
		// the sale p99 was lower in 4 of 5 alternating pairs (medians 25.3
		// against 30.0 ms; BENCHMARKS.md, 2026-12-05). From GatherBelow
		// requests a batch starts at once, so near capacity nothing waits
		// (capacity 3,521–4,631 sales/s). One writer also means a batch
		// waiting on another node's outlet lock holds up the node's queue;
		// at the load measured (4–7 on two cores) the larger batches pay.
		lc.Writers, lc.MaxBatch = 1, 64
		lc.GatherWait, lc.GatherBelow = 5*time.Millisecond, 32
		return
	}
	// SQLite has one writer, but a batch waiting for its flush to
	// disk need not hold it: a second writer runs the next batch.
	lc.Writers = 2
	// Below capacity a batch waits a moment for company rather than
	// commit a few sales alone (ledger.gather).
	lc.GatherWait, lc.GatherBelow = 3*time.Millisecond, 32
	// Only this process writes the file, and it forgets a token it
	// revokes at once: the cache's expiry, which bounds how late
	// another node's revocation is seen, would only cost a store
	// read per outlet every few seconds.
	lc.TokenCacheTTL = 15 * time.Minute
}
