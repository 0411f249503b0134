// Command publicmask runs the national public-mask service, its load
// simulator and its data generator. It only parses flags; package app wires.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/publicmask/publicmask/app"
	"github.com/publicmask/publicmask/internal/asynclog"
	"github.com/publicmask/publicmask/seed"

	"github.com/publicmask/publicmask/httpapi"

	"github.com/publicmask/publicmask/outletio"
)

const usage = `publicmask — Korea's public-mask rationing service (2020), rebuilt.

Usage:
  publicmask serve   [flags]   run a node (see publicmask serve -h)
  publicmask rush    [flags]   replay a national 08:00 rush and verify it
  publicmask gen outlets [--count N] [--geo FILE] [--format csv|json]
  publicmask migrate --db postgres://…   apply the schema migrations and exit
  publicmask version
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "rush":
		err = rush(os.Args[2:])
	case "gen":
		err = gen(os.Args[2:])
	case "migrate":
		err = migrate(os.Args[2:])
	case "version", "--version", "-v":
		fmt.Println("publicmask", app.Version)
	case "help", "-h", "--help":
		fmt.Print(usage)
	default:
		fmt.Fprintf(os.Stderr, "publicmask: unknown command %q\n\n%s", os.Args[1], usage)
		os.Exit(2)
	}
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "publicmask:", err)
		os.Exit(1)
	}
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	var c app.Config
	fs.StringVar(&c.Addr, "addr", env("PUBLICMASK_ADDR", "127.0.0.1:8080"), "listen address")
	fs.StringVar(&c.DB, "db", env("PUBLICMASK_DB", "data/publicmask.db"), "SQLite file or postgres:// URL")
	fs.StringVar(&c.Role, "role", httpapi.RoleAll, "all | ledger (outlet and admin APIs) | public (public APIs and pages)")
	fs.StringVar(&c.Seed, "seed", "demo", "demo (national demo outlets on an empty store) | none")
	fs.StringVar(&c.Geo, "geo", "", "CSV of 시군구 (shape of sgg_2020.csv) for the demo seed")
	fs.StringVar(&c.Clock, "clock", "", "start the service clock at this RFC 3339 instant, e.g. 2020-03-11T08:00:00+09:00")
	fs.Float64Var(&c.ClockRate, "clock-rate", 1, "simulated seconds per real second")
	fs.StringVar(&c.Policy, "policy", "standard", "standard | korea-2020 | a JSON/YAML policy file")
	fs.StringVar(&c.AdminToken, "admin-token", os.Getenv("PUBLICMASK_ADMIN_TOKEN"), "admin bearer token (default: generated on first start and kept beside the database)")
	fs.StringVar(&c.AdminTokenFile, "admin-token-file", os.Getenv("PUBLICMASK_ADMIN_TOKEN_FILE"), "file holding the admin bearer token (preferred over --admin-token: a command line is visible to other processes)")
	fs.StringVar(&c.SecretFile, "secret-file", os.Getenv("PUBLICMASK_SECRET_FILE"), "HMAC secret for person keys (default beside the SQLite file; required with PostgreSQL)")
	fs.StringVar(&c.Tiles, "tiles", "", "map tile URL template, or none (default OpenStreetMap)")
	fs.StringVar(&c.Basemap, "basemap", "", "GeoJSON outline layer for the map (works offline)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate (PEM)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS key (PEM)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "separate listener for pprof, e.g. 127.0.0.1:6060")
	fs.BoolVar(&c.LeanSales, "lean-sales", true, "serve POST /api/v2/outlet/sales and the hot public GETs (v1, /api/v2/outlets/near, /api/v2/outlets/{code}) on plain-HTTP keep-alive connections by a lean HTTP/1.1 path (same handlers, same answers) instead of net/http; anything else goes to net/http")
	fs.StringVar(&c.CPUTokens, "cpu-tokens", httpapi.TokensAuto, "public requests take CPU tokens, so that sales go first: auto (only while the cores are contended and sales are served) | always | off")
	fs.Float64Var(&c.PublicRate, "public-rate", 0, "per-client public requests per second (0 = off)")
	fs.IntVar(&c.OutletShare, "outlet-share", 32, "sales and other outlet requests one outlet token may have admitted (running or queued) at once; its others wait in its own line (at most 1,024, beyond 429)")
	fs.IntVar(&c.StreamsPerClient, "streams-per-client", 64, "live change streams one client address (IPv6: its /64) may hold; beyond, 429")
	fs.StringVar(&c.Peers, "peers", os.Getenv("PUBLICMASK_PEERS"), "the other nodes' base URLs, comma-separated, each optionally label=URL (the label is shown on the public /status; the URL only to the admin): their public status is polled every 2 s and listed on /status beside this node's; the list may name this node too")
	var trust string
	fs.StringVar(&trust, "trust-proxy", "", "comma-separated proxy addresses/CIDRs whose X-Forwarded-For is trusted")
	logLevel := fs.String("log-level", "info", "debug | info | warn | error")
	memLimit := fs.String("memory-limit", "192MiB", "soft limit of the Go heap (GOMEMLIMIT syntax; 0 = none; the GOMEMLIMIT variable wins)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("serve: unexpected argument %q", fs.Arg(0))
	}
	// A rate the clock cannot keep is refused, not replaced by 1.
	if err := app.CheckClockRate(c.ClockRate); err != nil {
		return err
	}
	if trust != "" {
		c.TrustProxy = strings.Split(trust, ",")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	// Log lines go through a bounded queue: a stalled stderr drops lines
	// (counted in publicmask_log_lines_dropped_total) rather than stalling
	// requests.
	logOut := asynclog.New(os.Stderr, 8192)
	defer logOut.Close()
	c.Logger = slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: level}))
	c.LogDropped = logOut.Dropped
	slog.SetDefault(c.Logger)

	if err := setMemoryLimit(*memLimit); err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	node, err := app.Open(ctx, c)
	if err != nil {
		return err
	}
	go node.ReloadOnHUP(ctx)
	return node.Serve(ctx)
}

// migrate applies the store's migrations and exits: public nodes never
// migrate (they may run under a read-only role, on a standby), so an
// upgrade runs this, or starts a ledger node, first.
func migrate(args []string) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	db := fs.String("db", env("PUBLICMASK_DB", "data/publicmask.db"), "SQLite file or postgres:// URL")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("migrate: unexpected argument %q", fs.Arg(0))
	}
	if err := app.Migrate(context.Background(), *db); err != nil {
		return err
	}
	fmt.Println("publicmask: schema up to date")
	return nil
}

func gen(args []string) error {
	if len(args) == 0 || args[0] != "outlets" {
		return errors.New("usage: publicmask gen outlets [--count N] [--geo FILE] [--format csv|json]")
	}
	fs := flag.NewFlagSet("gen outlets", flag.ContinueOnError)
	count := fs.Int("count", 0, "number of outlets (default: the national figure, about 26,000)")
	geo := fs.String("geo", "", "CSV of 시군구 (shape of sgg_2020.csv)")
	format := fs.String("format", "csv", "csv | json (the 2020 storeInfos shape)")
	seedN := fs.Int64("seed", 2020, "random seed")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	opt := seed.Options{Count: *count, Seed: *seedN}
	if *geo != "" {
		f, err := os.Open(*geo)
		if err != nil {
			return err
		}
		defer f.Close()
		if opt.Areas, err = seed.ReadGeo(f); err != nil {
			return err
		}
	}
	outlets := seed.Outlets(opt)
	switch *format {
	case "csv":
		return outletio.WriteCSV(os.Stdout, outlets)
	case "json":
		return outletio.WriteJSON(os.Stdout, outlets)
	}
	return fmt.Errorf("--format must be csv or json, not %q", *format)
}

// setMemoryLimit applies --memory-limit unless GOMEMLIMIT is set. Without a
// limit the heap grows to twice the live data between collections (about
// 290 MB RSS after two rushes); with it the collector works harder as the
// heap nears the limit, and never stops the program (the limit is soft).
// Measured with the national outlet list (live heap 60–110 MB under load):
// 96 MiB cost a third of the sales throughput and 128 MiB made a rush that
// followed another collapse (sale p99 0.6 s; the collector ran almost
// without pause); at 192 MiB the second rush ran as on a fresh server.
func setMemoryLimit(v string) error {
	if os.Getenv("GOMEMLIMIT") != "" {
		return nil
	}
	n, err := parseBytes(v)
	if err != nil {
		return fmt.Errorf("--memory-limit: %w", err)
	}
	if n > 0 {
		debug.SetMemoryLimit(n)
	}
	return nil
}

func parseBytes(v string) (int64, error) {
	v = strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSuffix(v, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size like 96MiB", v)
	}
	return n * mult, nil
}
