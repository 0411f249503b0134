// Package testenv builds a ledger on a temporary SQLite store for tests, and
// makes valid synthetic buyer IDs.
package testenv

import (
	"github.com/prometheus/client_golang/prometheus"

	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/ledger"
	"github.com/publicmask/publicmask/policy"
	"github.com/publicmask/publicmask/rrn/rrntest"
	"github.com/publicmask/publicmask/sqlite"
)

// Start is Wednesday 2020-03-11 10:00 KST: birth years ending 3 or 8 buy.
var Start = time.Date(2020, 3, 11, 10, 0, 0, 0, publicmask.Seoul)

// Env is a ledger with its store and clock.
type Env struct {
	Ledger     *ledger.Ledger
	Store      *sqlite.Store
	Clock      *clock.Manual
	AdminToken string
	Secret     []byte
	// Changed receives every OnCommit notification.
	Changed chan []publicmask.Outlet
}

// Options tune New.
type Options struct {
	Policy   *policy.Policy
	OnCommit func([]publicmask.Outlet)
	// Registerer, if set, takes the ledger's metrics.
	Registerer prometheus.Registerer
}

// New returns an Env on a fresh store, closed when the test ends.
func New(t testing.TB) *Env { return NewWith(t, Options{}) }

// NewWith is New with options.
func NewWith(t testing.TB, opt Options) *Env {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "pm.db"))
	if err != nil {
		t.Fatal(err)
	}
	keyer, secret := rrntest.Keyer(t)
	pol := opt.Policy
	if pol == nil {
		pol = policy.Standard()
	}
	e := &Env{Store: st, Clock: clock.NewManual(Start), AdminToken: "admin-test-token", Secret: secret, Changed: make(chan []publicmask.Outlet, 1024)}
	l, err := ledger.New(ledger.Config{
		Store: st, Policy: policy.NewHolder(pol), Keyer: keyer, Clock: e.Clock, AdminToken: e.AdminToken,
		Registerer: opt.Registerer,
		Writers:    2, // as serve runs SQLite: the next batch runs while one is flushed
		// and as serve, a small batch waits a moment for company (ledger.gather)
		GatherWait: 3 * time.Millisecond, GatherBelow: 32,
		OnCommit: func(ch []publicmask.Outlet) {
			if opt.OnCommit != nil {
				opt.OnCommit(ch)
			}
			select {
			case e.Changed <- ch:
			default:
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.Ledger = l
	t.Cleanup(func() {
		l.Close(context.Background())
		st.Close()
	})
	return e
}

// AddOutlet registers an outlet and delivers stock (if > 0).
func (e *Env) AddOutlet(t testing.TB, code, typ string, stock int) {
	t.Helper()
	ctx := context.Background()
	_, err := e.Ledger.ImportOutlets(ctx, []publicmask.Outlet{{
		Code: code, Name: "테스트약국 " + code, Addr: "서울특별시 강북구 솔매로 38 (미아동)", Type: typ,
		Lat: 37.6254369, Lng: 127.0164096,
	}})
	if err != nil {
		t.Fatal(err)
	}
	if stock > 0 {
		if _, _, err := e.Ledger.Deliver(ctx, code, "open-"+code, stock); err != nil {
			t.Fatal(err)
		}
	}
}

// OutletToken issues an outlet token.
func (e *Env) OutletToken(t testing.TB, code string) string {
	t.Helper()
	tok, err := e.Ledger.IssueToken(context.Background(), publicmask.RoleOutlet, code)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// ID returns a valid 13-digit registration number for a birth date
// "YYMMDD", a century/sex digit ('1'–'8') and a serial (0–99999).
func ID(birth string, sexDigit byte, serial int) string { return rrntest.ID(birth, sexDigit, serial) }

// Born returns a valid ID of someone born in year (on March 15), serial n.
func Born(year, n int) string {
	sex := byte('1')
	if year >= 2000 {
		sex = '3'
	}
	if n%2 == 1 {
		sex++
	}
	return ID(fmt.Sprintf("%02d0315", year%100), sex, n)
}

// PostgresDSN is $PUBLICMASK_TEST_POSTGRES; without it the test skips,
// except under CI=true, where it fails (scripts/pg.sh starts a server).
func PostgresDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("PUBLICMASK_TEST_POSTGRES")
	if dsn == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but PUBLICMASK_TEST_POSTGRES is not set: the PostgreSQL tests must run in CI (scripts/pg.sh starts a server and prints the DSN)")
		}
		t.Skip("set PUBLICMASK_TEST_POSTGRES=postgres://… to run the PostgreSQL tests (scripts/pg.sh starts one)")
	}
	return dsn
}
