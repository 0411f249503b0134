package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/clock"
	"github.com/publicmask/publicmask/httpapi"
)

// leakyStore fails writes with the kind of text a real store gives: a
// file path, SQL, a database host.
type leakyStore struct{ fakeStore }

const leakyText = `pq: could not extend file "/srv/pgdata/base/16384/2619" on db-primary.internal: No space left on device (INSERT INTO sales ...)`

func (*leakyStore) Ping(context.Context) error { return nil }

// The public /api/v2/status says why writes fail (a cause and a fixed
// sentence) but never the failed write's own text: that may name files,
// SQL and hosts, which the page shows only to the admin (ops.Status).
func TestPublicStatusHidesTheFailedWrite(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &leakyStore{}
	w := watchStore(ctx, &failing{st, errors.New(leakyText)}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	w.every = 1 << 40 // no probes during the test
	w.Write(ctx, nil)
	if cause, _, _ := w.failure(); cause != causeDiskFull {
		t.Fatalf("cause %q", cause)
	}
	n := &Node{Store: st, writes: w, Clock: clock.Real{}, cfg: Config{Role: httpapi.RoleAll}}
	out, err := n.status(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(out)
	for _, leak := range []string{"/srv/pgdata", "db-primary", "INSERT", "pq:"} {
		if strings.Contains(string(b), leak) {
			t.Errorf("public status shows %q: %s", leak, b)
		}
	}
	var got struct {
		Store struct {
			OK     bool   `json:"ok"`
			Cause  string `json:"cause"`
			Error  string `json:"error"`
			Detail string `json:"detail"`
		} `json:"store"`
	}
	json.Unmarshal(b, &got)
	if got.Store.OK || got.Store.Cause != causeDiskFull || got.Store.Error == "" {
		t.Fatalf("public status store = %+v, want the cause and a sentence", got.Store)
	}
}

// failing fails every write with err.
type failing struct {
	*leakyStore
	err error
}

func (f *failing) Write(context.Context, func(publicmask.Tx) error) error { return f.err }

// The admin sees the failed write's text, to find the failing file or host,
// beside the same sentence; every cause has its sentence.
func TestAdminStatusShowsTheFailedWrite(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := &leakyStore{}
	w := watchStore(ctx, &failing{st, errors.New(leakyText)}, prometheus.NewRegistry(), slog.New(slog.DiscardHandler))
	w.every = 1 << 40
	w.Write(ctx, nil)
	n := &Node{Store: st, writes: w, Clock: clock.Real{}, cfg: Config{Role: httpapi.RoleAll}}
	if h := n.storeHealth(ctx, true); h["detail"] != leakyText || h["error"] != causeText[causeDiskFull] {
		t.Fatalf("admin store health = %v", h)
	}
	if h := n.storeHealth(ctx, false); h["detail"] != nil {
		t.Fatalf("public store health = %v", h)
	}
	for _, c := range []string{causeDiskFull, causeFlushFailed, causeIO, causeUnreachable, causeReadOnly} {
		if causeText[c] == "" {
			t.Errorf("no public sentence for cause %q", c)
		}
	}
}
