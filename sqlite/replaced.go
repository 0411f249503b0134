package sqlite

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/publicmask/publicmask"
)

// ErrFileReplaced is in the error of every write, and of Ping, once the
// database file at the store's path is no longer the file the store holds:
// it was replaced (a backup put in place under the running node, against
// the runbook), moved or removed. SQLite keeps writing to the file it
// opened, which no one will read again (the next start opens the path), so
// a sale acknowledged from then on would be lost: the store refuses
// every write until the node is restarted on the file at the path, or
// stopped and the file put back.
var ErrFileReplaced = errors.New("sqlite: the database file was replaced, moved or removed under the running node")

// fileID is what tells one file from another: its device and inode.
type fileID struct{ dev, ino uint64 }

func heldID(f *os.File) (fileID, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return fileID{}, err
	}
	return fileID{uint64(st.Dev), st.Ino}, nil
}

// checkPath compares the file at path with the one the store holds, id. It
// costs one stat: the flush of each batch calls it, so that no write is
// acknowledged once the path holds another file.
func checkPath(path string, id fileID) error {
	var st syscall.Stat_t
	err := syscall.Stat(path, &st)
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%w: %s no longer exists: writes refused; restart the node on the file now at the path (a restore), or stop it and put back the file it held (its sales are there): %w",
			ErrFileReplaced, path, publicmask.Errorf(publicmask.EStoreUnavailable, "store unavailable"))
	case err != nil:
		return nil // cannot tell (a permission change, a stale mount): the WAL's flush judges the store
	case uint64(st.Dev) != id.dev || st.Ino != id.ino:
		return fmt.Errorf("%w: %s is another file (device %d inode %d) than the one the node holds (device %d inode %d): writes refused; restart the node on the file now at the path (a restore), or stop it and put back the file it held (its sales are there): %w",
			ErrFileReplaced, path, st.Dev, st.Ino, id.dev, id.ino, publicmask.Errorf(publicmask.EStoreUnavailable, "store unavailable"))
	}
	return nil
}

// ErrWALReplaced is in the error (besides ErrFileReplaced) once the -wal
// at the store's path is no longer the WAL SQLite holds open: it was
// removed or replaced under the running node. SQLite goes on appending
// commits to the WAL it holds, unlinked, which no restart reads: writes
// are refused, and what the held WAL has is copied into the database file
// (Store.salvageWAL), which is still the one at the path.
var ErrWALReplaced = errors.New("sqlite: the -wal file was removed or replaced under the running node")

// walWatch tells whether the file at the -wal path is still the WAL
// SQLite holds. SQLite keeps its WAL open, with the same inode, for as long
// as any connection is (a checkpoint restarts or truncates it in place;
// only the last connection's close removes it, and no connection opens a
// new one while another holds the old), so the inode seen at Open stays
// the path's. Should the path change all the same, the process's open
// files say whether SQLite still holds the old inode (the file was removed
// or replaced under it) or let go of it (a WAL SQLite made anew: adopted).
type walWatch struct {
	path  string
	ownFD atomic.Int64 // the flush's own descriptor on the WAL (-1: none), not SQLite's
	mu    sync.Mutex
	held  fileID // zero: no WAL seen yet
}

func newWALWatch(path string) *walWatch {
	w := &walWatch{path: path}
	w.ownFD.Store(-1)
	return w
}

// observe compares the result of a stat of the path (st, or err) with the
// WAL held; flush passes its own stat, so that the check costs nothing
// more on its path while the WAL stays the one held.
func (w *walWatch) observe(st *syscall.Stat_t, err error) error {
	var cur fileID
	switch {
	case err == nil:
		cur = fileID{uint64(st.Dev), st.Ino}
	case !errors.Is(err, syscall.ENOENT):
		return nil // cannot tell: the flush's own error judges
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if cur == w.held {
		return nil
	}
	if w.held == (fileID{}) {
		w.held = cur // the first WAL seen
		return nil
	}
	held, scanErr := processHolds(w.held, int(w.ownFD.Load()))
	if scanErr == nil && !held {
		w.held = cur // SQLite let go of the old WAL: the path's is its own
		return nil
	}
	what := "no longer exists"
	if cur != (fileID{}) {
		what = fmt.Sprintf("is another file (device %d inode %d)", cur.dev, cur.ino)
	}
	return fmt.Errorf("%w: %w: %s %s, while SQLite appends to the WAL it holds (device %d inode %d), which no restart would read: writes refused; what that WAL holds is copied into the database file; restart the node: %w",
		ErrFileReplaced, ErrWALReplaced, w.path, what, w.held.dev, w.held.ino, publicmask.Errorf(publicmask.EStoreUnavailable, "store unavailable"))
}

// check stats the path and observes it (Ping: a node that sells nothing
// flushes nothing).
func (w *walWatch) check() error {
	var st syscall.Stat_t
	err := syscall.Stat(w.path, &st)
	return w.observe(&st, err)
}

// processHolds tells whether a descriptor of this process other than skip
// is open on the file id. It reads /proc/self/fd (/dev/fd elsewhere); it
// runs only when the path's file changed, never on a flush's usual path.
func processHolds(id fileID, skip int) (bool, error) {
	dir := "/proc/self/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		dir = "/dev/fd"
		if ents, err = os.ReadDir(dir); err != nil {
			return false, err
		}
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd == skip {
			continue
		}
		var st syscall.Stat_t
		if syscall.Fstat(fd, &st) != nil {
			continue // closed since the listing (or the listing's own)
		}
		if uint64(st.Dev) == id.dev && st.Ino == id.ino {
			return true, nil
		}
	}
	return false, nil
}

// salvageWAL runs once the -wal was removed or replaced under the node
// (walWatch). The database file is still the one at the path, and the WAL
// SQLite holds, unlinked, has every commit since the last checkpoint, the
// acknowledged sales among them: a checkpoint through the writer's
// connection, open since Open and so on that WAL (a connection opened
// later, such as the checkpointer's may be, opens a new, empty -wal at the
// path), copies them into the database file, so that a restart, even
// after kill -9, finds them. Writes are refused meanwhile (the store is
// broken); the lock keeps the write path out while it copies.
func (s *Store) salvageWAL() {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, frames, copied int
	var err error
	// A reader's snapshot can hold back the end of the copy for a moment.
	for try := 0; try < 100; try++ {
		err = s.writer.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
		if err != nil || copied >= frames {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err == nil && copied < frames {
		err = fmt.Errorf("%d of %d frames copied", copied, frames)
	}
	if err == nil {
		err = s.syncDB(true)
	}
	if err != nil {
		slog.Error("the -wal was removed under the running node and what the WAL held could not all be copied into the database file: stop the node gracefully, do not kill it", "path", s.path, "err", err)
		return
	}
	s.walSalvaged.Store(true)
	slog.Warn("the -wal was removed under the running node: what the WAL held was copied into the database file; restart the node", "path", s.path, "frames", frames)
}

// WALSalvaged tells whether salvageWAL copied everything into the
// database file (tests).
func (s *Store) WALSalvaged() bool { return s.walSalvaged.Load() }
