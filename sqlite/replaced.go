package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"

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
