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
	closed  bool         // close ran: a later flush lets go of the file it opens
	broken  error        // a failed flush: nothing more can be promised
	walIno  uint64       // the inode whose directory entry was flushed
	flushFn func() error // d.flush; replaced in tests
	// checkDB, when set, vouches after each flush that the database file
	// at the store's path is still the one SQLite writes (replaced.go).
	checkDB func() error
	// walw tells whether the -wal at the path is the WAL SQLite holds
	// (replaced.go); walGone runs once, in its own goroutine, when it is
	// not (Store.salvageWAL).
	walw    *walWatch
	walGone func()
	walOnce sync.Once
	// f is the WAL file flush keeps open, fileIno its inode; only the
	// flush in progress (syncing) touches them.
	f       *os.File
	fileIno uint64
	flushes atomic.Int64
	// began is when the flush in progress began (Unix ns; 0: none), for
	// Stalled: a flush that hangs shows before it ends.
	began   atomic.Int64
	seconds prometheus.Observer // each flush's time (metrics.go); nil in tests
}

func newDurability(path string) *durability {
	d := &durability{wal: path + "-wal", walw: newWALWatch(path + "-wal")}
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
		d.began.Store(t0.UnixNano())
		err := d.flushFn()
		d.began.Store(0)
		if d.seconds != nil {
			since(d.seconds, t0)
		}
		d.flushes.Add(1)
		d.mu.Lock()
		d.syncing = false
		if d.closed {
			d.closeFile() // a write that committed before Store.Close waited after it
		}
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

// stalled is how long the flush in progress has run (0 when none).
func (d *durability) stalled() time.Duration {
	b := d.began.Load()
	if b == 0 {
		return 0
	}
	return max(0, time.Since(time.Unix(0, b)))
}

// FlushRunning is how long the flush of the WAL now in progress has run (0
// when none runs). Every acknowledgement waits for a flush: a disk whose
// flushes take seconds holds every sale that long, and this shows it while
// it happens (the flush's histogram only once it ends).
func (s *Store) FlushRunning() time.Duration { return s.dur.stalled() }

// fail marks the store broken (as a failed flush does) with err, unless
// it already is.
func (d *durability) fail(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.broken == nil {
		d.broken = err
	}
	d.cond.Broadcast()
}

// ErrFlushFailed is in the error of every write after a failed flush.
var ErrFlushFailed = errors.New("sqlite: a flush of the WAL to disk failed")

func (d *durability) brokenErr() error {
	if errors.Is(d.broken, ErrFileReplaced) {
		return d.broken
	}
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

// flush makes the WAL file's data durable. The file stays open from one
// flush to the next: opening it by name each time was a quarter of the
// flush's CPU (os.Open: 0.24 of 0.97 s in a mixed rush of 6,184 flushes).
// A stat of the name still vouches that the file held is the WAL SQLite
// writes: should SQLite have recreated it (a new inode), or removed it,
// the one held is closed and the name opened again, and a new file also
// has its directory entry flushed.
//
// fdatasync, not fsync (where there is one, datasync): it flushes the data
// and what reading it back needs (the file's size), not the modification
// time, which SQLite never reads; fsync made every flush commit the file
// system's journal for that time alone, since a restarted WAL is written
// over its old length (SQLite's own syncs are fdatasync too).
func (d *durability) flush() error {
	if d.checkDB != nil {
		// Before the WAL's own checks: a restore under the node removes
		// the -wal too, which reads as nothing to flush.
		if err := d.checkDB(); err != nil {
			return err
		}
	}
	var st syscall.Stat_t
	err := syscall.Stat(d.wal, &st)
	// The same stat tells whether the path's WAL is the one SQLite holds:
	// one removed under the node reads as nothing to flush.
	if err := d.walChanged(d.walw.observe(&st, err)); err != nil {
		return err
	}
	if err != nil {
		d.closeFile()
		if errors.Is(err, syscall.ENOENT) {
			// Nothing written yet (or checkpointed away and removed). A
			// WAL created again may get the same inode number: its
			// directory entry must be flushed all the same.
			d.walIno = 0
			return nil
		}
		return &os.PathError{Op: "stat", Path: d.wal, Err: err}
	}
	if d.f == nil || st.Ino != d.fileIno {
		d.closeFile()
		f, err := os.Open(d.wal)
		if errors.Is(err, os.ErrNotExist) {
			d.walIno = 0
			return nil // removed since the stat
		}
		if err != nil {
			return err
		}
		var fst syscall.Stat_t
		if err := syscall.Fstat(int(f.Fd()), &fst); err != nil {
			f.Close()
			return &os.PathError{Op: "fstat", Path: d.wal, Err: err}
		}
		d.f, d.fileIno = f, fst.Ino
		d.walw.ownFD.Store(int64(f.Fd()))
	}
	if err := datasync(d.f); err != nil {
		return err
	}
	if d.fileIno != d.walIno {
		if err := fsx.SyncDir(filepath.Dir(d.wal)); err != nil {
			return err
		}
		d.walIno = d.fileIno
	}
	return nil
}

// walChanged passes on err, the WAL watch's verdict; the first time it is
// one, walGone starts.
func (d *durability) walChanged(err error) error {
	if err != nil && d.walGone != nil {
		d.walOnce.Do(func() { go d.walGone() })
	}
	return err
}

// closeFile closes the WAL file flush holds, if any.
func (d *durability) closeFile() {
	if d.f != nil {
		d.walw.ownFD.Store(-1)
		d.f.Close()
		d.f, d.fileIno = nil, 0
	}
}

// close releases what flush holds (Store.Close).
func (d *durability) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for d.syncing {
		d.cond.Wait()
	}
	d.closed = true
	d.closeFile()
}
