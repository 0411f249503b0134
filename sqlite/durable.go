package sqlite

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/publicmask/publicmask"

	"github.com/publicmask/publicmask/internal/fsx"
)

// Durability is pipelined. SQLite commits with synchronous=NORMAL (the WAL
// is written but not flushed), and Write returns only after a flush of the
// WAL file that covers its commit. Flushes are shared: one flush covers
// every commit that finished before it started, and while one runs the
// next transaction already executes. A sale is thus acknowledged only when
// it is on disk (as with synchronous=FULL), but the disk's flush latency no
// longer stands between one batch and the next.

type durability struct {
	wal       string        // path of the -wal file
	committed atomic.Uint64 // commits finished (incremented under writeMu)

	mu      sync.Mutex
	cond    *sync.Cond
	durable uint64 // commits known to be on disk
	syncing bool
	broken  error // a failed flush: nothing more can be promised
	walIno  uint64
	flushFn func() error // d.flush; replaced in tests
	flushes atomic.Int64
	seconds prometheus.Observer // each flush's time (metrics.go); nil in tests
}

func newDurability(path string) *durability {
	d := &durability{wal: path + "-wal"}
	d.cond = sync.NewCond(&d.mu)
	d.flushFn = d.flush
	return d
}

// committedOne records a finished commit and returns its sequence number.
// Call it under writeMu, right after the commit.
func (d *durability) committedOne() uint64 { return d.committed.Add(1) }

// wait returns when commit seq is on disk.
func (d *durability) wait(seq uint64) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.durable < seq {
		if d.broken != nil {
			return d.brokenErr()
		}
		if d.syncing {
			d.cond.Wait()
			continue
		}
		d.syncing = true
		target := d.committed.Load() // every commit counted here has written its frames
		d.mu.Unlock()
		t0 := time.Now()
		err := d.flushFn()
		if d.seconds != nil {
			since(d.seconds, t0)
		}
		d.flushes.Add(1)
		d.mu.Lock()
		d.syncing = false
		if err != nil {
			// The kernel may have dropped the dirty pages: no later flush
			// can vouch for them. Refuse to acknowledge anything more.
			d.broken = err
		} else if target > d.durable {
			d.durable = target
		}
		d.cond.Broadcast()
	}
	return nil
}

// ErrFlushFailed is in the error of every write after a failed flush.
var ErrFlushFailed = errors.New("sqlite: a flush of the WAL to disk failed")

func (d *durability) brokenErr() error {
	return fmt.Errorf("%w: %s (%v): restart the node so that SQLite recovers from its log: %w",
		ErrFlushFailed, d.wal, d.broken, publicmask.Errorf(publicmask.EStoreUnavailable, "store unavailable"))
}

// err reports a failed flush, for readiness.
func (d *durability) err() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken != nil {
		return d.brokenErr()
	}
	return nil
}

// flush fsyncs the WAL file. It is opened afresh each time, so that a WAL
// file that SQLite recreated is the one flushed; a new one also has its
// directory entry flushed.
func (d *durability) flush() error {
	f, err := os.Open(d.wal)
	if errors.Is(err, os.ErrNotExist) {
		return nil // nothing written yet (or checkpointed away and removed)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return err
	}
	if info, err := f.Stat(); err == nil {
		if st, ok := info.Sys().(*syscall.Stat_t); ok && st.Ino != d.walIno {
			if err := fsx.SyncDir(filepath.Dir(d.wal)); err != nil {
				return err
			}
			d.walIno = st.Ino
		}
	}
	return nil
}
