package app

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A flag that is wrong is refused before the store is touched: a typo must
// not create and seed a store, or generate an admin token that the failed
// start never shows.
func TestBadFlagsTouchNoStore(t *testing.T) {
	dir := t.TempDir()
	half := filepath.Join(dir, "cert.pem")
	os.WriteFile(half, []byte("not a certificate"), 0o600)
	cases := []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"cpu-tokens", func(c *Config) { c.CPUTokens = "bogus" }, "--cpu-tokens"},
		{"trust-proxy", func(c *Config) { c.TrustProxy = []string{"not-a-cidr"} }, "--trust-proxy"},
		{"tls half", func(c *Config) { c.TLSCert = half }, "go together"},
		{"tls bad", func(c *Config) { c.TLSCert, c.TLSKey = half, half }, "TLS key pair"},
		{"addr", func(c *Config) { c.Addr = "bogus" }, "--addr"},
		{"basemap", func(c *Config) { c.Basemap = filepath.Join(dir, "none.geojson") }, "--basemap"},
		{"public-rate", func(c *Config) { c.PublicRate = -1 }, "--public-rate"},
		{"outlet-share", func(c *Config) { c.OutletShare = -1 }, "--outlet-share"},
		{"streams-per-client", func(c *Config) { c.StreamsPerClient = -5 }, "--streams-per-client"},
	}
	for _, c := range cases {
		db := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "-")+".db")
		cfg := Config{DB: db, Addr: "127.0.0.1:0", Seed: "demo", Logger: slog.New(slog.DiscardHandler), Out: &strings.Builder{}}
		c.set(&cfg)
		n, err := Open(context.Background(), cfg)
		if err == nil {
			n.Close(context.Background())
			t.Errorf("%s: accepted", c.name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want it to name %s", c.name, err, c.want)
		}
		matches, _ := filepath.Glob(db + "*")
		if len(matches) > 0 {
			t.Errorf("%s: refused only after creating %v", c.name, matches)
		}
	}
}
