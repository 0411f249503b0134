// Package rush is `publicmask rush`: a rehearsal of the national 08:00 rush
// of 11 March 2020. It drives a running server (or one it starts in
// process on a temporary store) with open-loop HTTP traffic — pharmacists
// selling to a synthetic population with Korea's age structure, citizens'
// apps reading the open data API, scrapers and live-stream subscribers —
// measures what the counters and the citizens saw (throughput, latency,
// errors, freshness, ghost stock), then proves the invariants: the server's
// own verification, idempotent replays, and a client-side tally that nobody
// bought more than the rules allow. Any violation makes Main return an
// error.
package rush

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/publicmask/publicmask/app"
)

// Config is everything a run takes; Main fills it from flags.
type Config struct {
	Target     string // base URL of a running server (or ledger nodes, comma-separated); "" = start one in process
	ReadTarget string // base URL for public reads when Target has no public API (a ledger-role node)
	AdminToken string
	// AdminTokenFile holds the admin token (serve's rules: its first
	// line, a file others may read refused); it wins over AdminToken.
	AdminTokenFile string
	Duration       time.Duration
	Outlets        int    // number of outlets to use; 0 = all (own server: the national ~26,000)
	OutletsFile    string // CSV (code,name,addr,type,lat,lng) to import instead of synthetic outlets
	SalesRate      float64
	ReadRate       float64
	ReportDir      string
	Clock          string // own server's clock start (RFC 3339)
	Policy         string // own server's policy
	Seed           int64

	SalesWorkers int           // bound on concurrent sale requests
	ReadWorkers  int           // bound on concurrent public reads
	Streams      int           // SSE subscribers
	Scrapers     int           // full stores/sales scrapers
	ProbeEvery   int           // also probe freshness after every Nth acknowledged sale
	Replay       int           // acknowledged sales replayed at the end
	Timeout      time.Duration // per sale attempt; a timed-out sale is retried with its txn_id
	Gzip         bool          // ask for gzip on public reads
	DebugAddr    string        // own server: pprof listener
	ServerPID    int           // with Target: the server's process on this machine, for its CPU per sale
	Procs        int           // CPUs the generator runs on (GOMAXPROCS), set by Main; 0 = its default (procs)
	Quiet        bool          // no progress line
	Progress     io.Writer     // progress line and summary; default os.Stderr
}

// DefaultConfig holds the defaults of DESIGN.md §3 and the simulator's own.
func DefaultConfig() Config {
	return Config{
		Duration:     60 * time.Second,
		SalesRate:    2000,
		ReadRate:     5000,
		ReportDir:    "rush-report",
		Clock:        "2020-03-11T08:00:00+09:00", // a Wednesday: birth years ending 3 or 8
		Policy:       "standard",
		Seed:         2020,
		SalesWorkers: 256,
		ReadWorkers:  256,
		Streams:      8,
		Scrapers:     2,
		ProbeEvery:   25,
		Replay:       200,
		Timeout:      2 * time.Second,
	}
}

// Main runs `publicmask rush ARGS`: it parses the flags, runs, writes the
// report and returns an error if the run could not be made or any
// invariant was violated.
func Main(args []string) error {
	c, err := parseFlags(args)
	if err != nil {
		return err
	}
	if n := c.procs(); n > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(n))
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rep, err := Run(ctx, c)
	if rep != nil {
		if werr := rep.Write(c.ReportDir); werr != nil {
			err = errors.Join(err, werr)
		} else if !c.Quiet {
			fmt.Fprintf(c.progress(), "report: %s\n", strings.TrimSuffix(c.ReportDir, "/")+"/report.html")
		}
	}
	if err != nil {
		return err
	}
	if n := len(rep.Violations); n > 0 {
		return fmt.Errorf("rush: %d invariant violation(s), first: %s", n, rep.Violations[0])
	}
	return nil
}

// parseFlags is Main's command line (and environment) as a Config.
func parseFlags(args []string) (Config, error) {
	c := DefaultConfig()
	fs := flag.NewFlagSet("rush", flag.ContinueOnError)
	fs.StringVar(&c.Target, "target", "", "base URL of a running server, or of ledger nodes separated by commas (default: start one in process on a temporary store)")
	fs.StringVar(&c.ReadTarget, "read-target", "", "base URL of a public node for reads, probes and streams (default: the first --target)")
	fs.StringVar(&c.AdminToken, "admin-token", os.Getenv("PUBLICMASK_ADMIN_TOKEN"), "admin bearer token of --target")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", os.Getenv("PUBLICMASK_ADMIN_TOKEN_FILE"), "file holding the admin bearer token of --target (preferred over --admin-token: a command line is visible to other processes; wins over it)")
	fs.DurationVar(&c.Duration, "duration", c.Duration, "length of the rush")
	fs.IntVar(&c.Outlets, "outlets", 0, "outlets to use (default: all; without --target the national ~26,000 synthetic outlets)")
	fs.StringVar(&c.OutletsFile, "outlets-file", "", "CSV of outlets (code,name,addr,type,lat,lng) to import, e.g. stores-2020-04.csv")
	fs.Float64Var(&c.SalesRate, "sales-rate", c.SalesRate, "sale attempts per second at the peak of the surge, all counters together")
	fs.Float64Var(&c.ReadRate, "read-rate", c.ReadRate, "citizens' public reads per second at the peak")
	fs.StringVar(&c.ReportDir, "report", c.ReportDir, "directory for report.json, report.html and the SVG charts")
	fs.StringVar(&c.Clock, "clock", c.Clock, "without --target: the server's clock start (RFC 3339)")
	fs.StringVar(&c.Policy, "policy", c.Policy, "without --target: the server's policy")
	fs.Int64Var(&c.Seed, "seed", c.Seed, "random seed (outlets, buyers, traffic)")
	fs.IntVar(&c.SalesWorkers, "sales-workers", c.SalesWorkers, "bound on concurrent sale requests")
	fs.IntVar(&c.ReadWorkers, "read-workers", c.ReadWorkers, "bound on concurrent public reads")
	fs.IntVar(&c.Streams, "streams", c.Streams, "live stream (SSE) subscribers")
	fs.IntVar(&c.Scrapers, "scrapers", c.Scrapers, "full stores/sales scrapers")
	fs.IntVar(&c.ProbeEvery, "probe-every", c.ProbeEvery, "probe freshness after every Nth acknowledged sale too (band changes are always probed)")
	fs.IntVar(&c.Replay, "replay", c.Replay, "acknowledged sales replayed at the end")
	fs.DurationVar(&c.Timeout, "timeout", c.Timeout, "per sale attempt; timed-out sales are retried with the same txn_id")
	fs.BoolVar(&c.Gzip, "gzip", false, "ask for gzip on public reads (as browsers do)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "without --target: pprof listener of the server, e.g. 127.0.0.1:6060")
	fs.BoolVar(&c.Quiet, "quiet", false, "no progress line")
	fs.IntVar(&c.ServerPID, "server-pid", 0, "with --target: the server's process id on this machine; the report gives its CPU per acknowledged sale over the load phase")
	fs.IntVar(&c.Procs, "procs", 0, "CPUs the generator's Go runtime uses (GOMAXPROCS; 0 = the runtime's choice)")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("rush: unexpected argument %q", fs.Arg(0))
	}
	return c, nil
}

// procs is the GOMAXPROCS Main runs the rush with, 0 = as the runtime
// chose (all CPUs, or the environment's GOMAXPROCS, which it reads itself). One P cost the
// generator 0.84× the CPU a request in a capacity rush (BENCHMARKS.md,
// cpu16), and scripts/bench.sh asks for it there; it is not the default
// because on one P an answer waits for the generator's only P before its
// latency is taken, and the latency figures would carry the generator's
// own queue.
func (c *Config) procs() int { return max(c.Procs, 0) }

func (c *Config) progress() io.Writer {
	if c.Progress == nil {
		return os.Stderr
	}
	return c.Progress
}

func (c *Config) check() error {
	if c.AdminTokenFile != "" {
		tok, err := app.ReadAdminTokenFile(c.AdminTokenFile)
		if err != nil {
			return err
		}
		c.AdminToken = tok
	}
	switch {
	case c.Duration <= 0:
		return errors.New("--duration must be positive")
	case c.SalesRate < 0 || c.ReadRate < 0:
		return errors.New("--sales-rate and --read-rate must not be negative")
	case c.Outlets < 0:
		return errors.New("--outlets must not be negative")
	case c.Target != "" && c.AdminToken == "":
		return errors.New("--target needs --admin-token-file or --admin-token (or PUBLICMASK_ADMIN_TOKEN_FILE, PUBLICMASK_ADMIN_TOKEN): the rush issues outlet tokens and delivers stock")
	}
	c.SalesWorkers = max(c.SalesWorkers, 1)
	c.ReadWorkers = max(c.ReadWorkers, 1)
	c.ProbeEvery = max(c.ProbeEvery, 0)
	if c.Timeout <= 0 {
		c.Timeout = 2 * time.Second
	}
	if c.ReportDir == "" {
		c.ReportDir = "rush-report"
	}
	return nil
}

// Surge is the shape of the morning: the share of the peak rate at
// fraction f of the run. Doors open at 08:00 with a queue already
// outside, so traffic starts at a quarter of the peak and ramps up over
// the first 20%, holds the peak until 70% and decays to 70% of it by the
// end (the first wave of buyers served). The mean is 0.88 of the peak.
func Surge(f float64) float64 {
	switch {
	case f < 0:
		return 0.25
	case f < 0.2:
		return 0.25 + 0.75*f/0.2
	case f < 0.7:
		return 1
	case f <= 1:
		return 1 - 0.3*(f-0.7)/0.3
	}
	return 0.7
}
