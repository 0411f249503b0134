package snapshot

import (
	"context"
	"maps"
	"testing"
	"time"

	publicmask "github.com/publicmask/publicmask"
)

// historySource is a fakeSource with a chain of epochs.
type historySource struct {
	*fakeSource
	epochs publicmask.Epochs
}

func (h *historySource) Epochs(context.Context) (publicmask.Epochs, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.epochs, nil
}

// TestPollNoticesARestoredStore: a public node follows a store that is
// restored from a backup under it, and whose versions then pass the
// node's again. The node's snapshot must become the restored store's (not
// the lost history patched with the changes above its watermark), its
// streams must end (their clients reconnect and get a reset), and its
// events carry the new epoch. A ledger restart (a new epoch in the same
// history) changes none of that.
func TestPollNoticesARestoredStore(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	src := &historySource{fakeSource: newFakeSource(synthetic(20, 3)), epochs: publicmask.Epochs{{ID: "a", Start: 0}}}
	r := NewRefresher(src, Options{LateCommitWindow: time.Hour})
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.Current().Epoch(); got != "a" {
		t.Fatalf("epoch %q, want a", got)
	}
	all, _, _ := src.Outlets(ctx)
	x, y := all[0], all[1]

	// The backup: the store as it is now.
	src.mu.Lock()
	backup, backupV := maps.Clone(src.outlets), src.version
	src.mu.Unlock()

	// A ledger restart in the same history: epoch b, nothing rebuilt.
	src.mu.Lock()
	src.epochs = src.epochs.With(publicmask.Epoch{ID: "b", Start: src.version})
	src.mu.Unlock()
	sub := r.Subscribe(64, nil)
	x.Stock = 3 // few, after the backup
	x = src.put(x)
	if err := r.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { e, _ := r.Current().Lookup(x.Code); return e.Stock == 3 })
	if got := r.Current().Epoch(); got != "b" || r.History() != 0 {
		t.Fatalf("after a restart in the same history: epoch %q, rebuilds %d; want b, 0", got, r.History())
	}
	held := r.Current().Version()

	// Restored from the backup and started (epoch c from the backup's
	// version); sales at y raise the version past the node's.
	src.mu.Lock()
	src.outlets, src.version = backup, backupV
	src.epochs = publicmask.Epochs{{ID: "a", Start: 0}, {ID: "c", Start: backupV}}
	src.mu.Unlock()
	for src.version <= held {
		y.Stock++
		y = src.put(y)
	}
	if err := r.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return r.Current().Epoch() == "c" })
	if e, _ := r.Current().Lookup(x.Code); e.Stock != backup[x.Code].Stock {
		t.Errorf("%s after the restore: stock %d, the restored store has %d", x.Code, e.Stock, backup[x.Code].Stock)
	}
	if e, _ := r.Current().Lookup(y.Code); e.Stock != y.Stock || r.Current().Version() != y.Version {
		t.Errorf("%s after the restore: stock %d at version %d, want %d at %d", y.Code, e.Stock, r.Current().Version(), y.Stock, y.Version)
	}
	if r.History() != 1 {
		t.Errorf("rebuilds %d, want 1", r.History())
	}
	deadline := time.After(2 * time.Second)
	for open := true; open; {
		select {
		case _, open = <-sub.C:
		case <-deadline:
			t.Fatal("the stream's subscription of the lost history is still open")
		}
	}
	// And it follows the restored store from there.
	y.Stock = 1
	y = src.put(y)
	if err := r.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { e, _ := r.Current().Lookup(y.Code); return e.Stock == 1 })
}
