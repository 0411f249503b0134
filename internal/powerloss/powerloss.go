// Package powerloss is a FUSE file system for tests that loses, on demand,
// everything a power cut would lose. It passes reads and writes through to a
// backing directory, and remembers how to undo every change that no fsync
// has made durable yet: a file's data and size until that file is synced
// (fsync or fdatasync), a create, link, rename, unlink or mkdir until its
// directory is synced. Cut unmounts, undoes those changes (all of them, a
// random prefix of each file's writes, or tearing one write at a 512-byte
// sector boundary) and mounts again: what remains is what a disk that
// honours fsync would hold after losing power. Like LazyFS, small and in Go.
//
// It can also refuse writes beyond a quota (ENOSPC), as a full disk would.
package powerloss

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Available reports why the harness cannot run here ("" if it can).
func Available() string {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return "/dev/fuse is missing"
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return "fusermount3 is missing (Debian package fuse3)"
	}
	return ""
}

// Require skips the test when FUSE is unavailable, except under CI=true,
// where it fails: there the power-cut tests must run.
func Require(t testing.TB) {
	t.Helper()
	if why := Available(); why != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("power-loss tests need FUSE (required under CI=true): %s", why)
		}
		t.Skipf("power-loss tests skipped: %s", why)
	}
}

// FS is a mounted power-loss file system.
type FS struct {
	backing, mountpoint, stash string

	mu      sync.Mutex
	server  *fuse.Server
	data    map[uint64]*fileLog // unsynced data changes by backing inode
	ns      []nsOp              // unsynced namespace changes, in order
	quota   int64               // bytes of file data allowed; 0 = no limit
	stashN  int
	refused int // writes refused for the quota
	hook    func(path string, off int64, n int)
	faults  Faults

	allowOther bool // FUSE's allow_other (MountShared)
}

// undo restores a file region: write old at off, then truncate to size.
type undo struct {
	off  int64
	old  []byte
	size int64
	n    int64 // length of the write (0 for a truncation)
}

type fileLog struct {
	fd   int // a descriptor of its own: the file may be renamed or unlinked meanwhile
	recs []undo
}

type nsKind int

const (
	nsCreate nsKind = iota // path was created (file, dir, link)
	nsUnlink               // path was removed; its inode waits at stash
	nsRename               // from was renamed to path; a replaced target waits at stash
	nsRmdir                // empty directory path was removed (mode kept)
)

type nsOp struct {
	kind       nsKind
	dirs       []uint64 // directories whose sync makes it durable
	path, from string   // backing paths
	stash      string
	ino        uint64
	mode       uint32
}

// Mount mounts a power-loss file system at mountpoint, over backing (both
// directories must exist and be on the same file system as their parent,
// which also holds the stash of unlinked files). Only the mounting user
// may use it.
func Mount(backing, mountpoint string) (*FS, error) {
	return MountShared(backing, mountpoint, false)
}

// MountShared is Mount that, with allowOther, lets every user use the file
// system (FUSE's allow_other; the mounting user must be root, or
// /etc/fuse.conf must have user_allow_other): a test whose server runs as
// another user (PostgreSQL's postgres) keeps its files there. Files keep
// their creators as owners when the mounting user is root.
func MountShared(backing, mountpoint string, allowOther bool) (*FS, error) {
	backing, err := filepath.Abs(backing)
	if err != nil {
		return nil, err
	}
	f := &FS{backing: backing, mountpoint: mountpoint, stash: backing + ".powerloss-stash", data: map[uint64]*fileLog{}, allowOther: allowOther}
	if err := os.MkdirAll(f.stash, 0o700); err != nil {
		return nil, err
	}
	if err := f.mount(); err != nil {
		return nil, err
	}
	return f, nil
}

// MountTest mounts over a fresh backing directory under t.TempDir and
// unmounts when the test ends. It skips (or fails under CI) without FUSE.
func MountTest(t testing.TB) *FS {
	t.Helper()
	Require(t)
	dir := t.TempDir()
	backing, mnt := filepath.Join(dir, "disk"), filepath.Join(dir, "mnt")
	for _, d := range []string{backing, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f, err := Mount(backing, mnt)
	if err != nil {
		t.Fatalf("powerloss: mount: %v", err)
	}
	t.Cleanup(func() {
		if err := f.Unmount(); err != nil {
			t.Errorf("powerloss: unmount: %v", err)
		}
	})
	return f
}

func (f *FS) mount() error {
	var st syscall.Stat_t
	if err := syscall.Stat(f.backing, &st); err != nil {
		return err
	}
	lr := &gofs.LoopbackRoot{Path: f.backing, Dev: uint64(st.Dev)}
	root := &node{LoopbackNode: &gofs.LoopbackNode{RootData: lr}, fs: f}
	lr.RootNode = root
	server, err := gofs.Mount(f.mountpoint, root, &gofs.Options{
		MountOptions: fuse.MountOptions{FsName: "powerloss", Name: "powerloss", DisableXAttrs: true, AllowOther: f.allowOther},
	})
	if err != nil {
		return err
	}
	f.mu.Lock()
	f.server = server
	f.mu.Unlock()
	return nil
}

// Dir is the mount point: put the files under test there.
func (f *FS) Dir() string { return f.mountpoint }

// Backing is the directory that holds the current contents.
func (f *FS) Backing() string { return f.backing }

// Unmount unmounts (every file must be closed). Unsynced changes stay in
// the backing directory: Unmount is a clean shutdown, not a power cut. If
// it fails (the mount is busy), the file system stays mounted and Unmount
// may be called again.
func (f *FS) Unmount() error {
	f.mu.Lock()
	s := f.server
	f.mu.Unlock()
	if s == nil {
		return nil
	}
	// Not under mu: the kernel may still send requests that take it.
	if err := s.Unmount(); err != nil {
		return err
	}
	s.Wait()
	f.mu.Lock()
	if f.server == s {
		f.server = nil
	}
	f.mu.Unlock()
	return nil
}

// SetQuota limits the bytes of file data under the mount (stashed files
// included); a write or truncation beyond it fails with ENOSPC. 0 lifts it.
func (f *FS) SetQuota(bytes int64) {
	f.mu.Lock()
	f.quota = bytes
	f.mu.Unlock()
}

// Faults are failures a test injects into the file system, as a failing
// disk would give them: every write (or truncation that grows nothing)
// fails with Write, every fsync with Sync after SyncDelay. Zero values
// inject nothing. Only files whose name ends with Suffix are affected
// ("" for all): "-wal" fails SQLite's log and leaves its database file.
type Faults struct {
	Write     syscall.Errno
	Sync      syscall.Errno
	SyncDelay time.Duration
	Suffix    string
}

// SetFaults replaces the injected faults (Faults{} clears them).
func (f *FS) SetFaults(x Faults) {
	f.mu.Lock()
	f.faults = x
	f.mu.Unlock()
}

// writeFault is the error a write to the file at name must fail with.
// Call it under mu.
func (f *FS) writeFault(name string) syscall.Errno {
	if f.faults.Write != 0 && strings.HasSuffix(name, f.faults.Suffix) {
		return f.faults.Write
	}
	return 0
}

// syncFault waits out an injected fsync delay and returns the error the
// fsync of name must fail with (not under mu: a slow flush must not stop
// the file system's other calls).
func (f *FS) syncFault(name string) syscall.Errno {
	f.mu.Lock()
	x := f.faults
	f.mu.Unlock()
	if !strings.HasSuffix(name, x.Suffix) {
		return 0
	}
	time.Sleep(x.SyncDelay)
	return x.Sync
}

// OnWrite calls fn after every write that reached the backing file, with
// the file's path under the mount point when it was opened (a test arms a
// cut for the moment a given file is written, e.g. a checkpoint writing
// the main database file). fn runs inside the file system's write path:
// it must not block, nor touch the mount. nil removes it.
func (f *FS) OnWrite(fn func(path string, off int64, n int)) {
	f.mu.Lock()
	f.hook = fn
	f.mu.Unlock()
}

// Usage is the bytes of file data held now (what the quota limits).
func (f *FS) Usage() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.usage()
}

// Refused counts writes refused for the quota.
func (f *FS) Refused() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.refused
}

func (f *FS) usage() int64 {
	var total int64
	for _, root := range []string{f.backing, f.stash} {
		filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
			if err == nil && d.Type().IsRegular() {
				if info, err := d.Info(); err == nil {
					total += info.Size()
				}
			}
			return nil
		})
	}
	return total
}

// Pending reports how many unsynced data changes (over all files) and
// namespace changes a cut would lose now.
func (f *FS) Pending() (writes, names int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, l := range f.data {
		writes += len(l.recs)
	}
	return writes, len(f.ns)
}

// CutOptions choose what a power cut keeps of the unsynced writes. The zero
// value drops all of them.
type CutOptions struct {
	// Rand drives the choices below (required by them).
	Rand *rand.Rand
	// KeepPrefix keeps a random prefix of each file's unsynced writes (in
	// the order they were made), as a disk that wrote some of them before
	// the power went would.
	KeepPrefix bool
	// Tear cuts one write of one file at a 512-byte boundary inside it:
	// the sectors before the boundary are new, the rest old.
	Tear bool
}

// CutReport says what a cut dropped. Dropped+Kept+Torn is the number of
// unsynced writes (truncations included) there were at the cut.
type CutReport struct {
	Dropped, Kept, Torn, NamesUndone int
	// DroppedBytes is the new data lost: the dropped writes' lengths and
	// the part of the torn write after its tear.
	DroppedBytes int64
	// Files is the same for each file that had unsynced writes.
	Files []FileCut
}

// FileCut is what a cut did to one file's unsynced writes.
type FileCut struct {
	// Path is the file's path relative to the mount at the cut (before
	// namespace changes were undone); "" if it had been unlinked.
	Path                string
	Dropped, Kept, Torn int
	DroppedBytes        int64
}

func (r CutReport) String() string {
	return fmt.Sprintf("dropped %d writes (%d bytes), kept %d, tore %d, undid %d namespace changes", r.Dropped, r.DroppedBytes, r.Kept, r.Torn, r.NamesUndone)
}

// Cut simulates a power cut and the reboot after it: it unmounts (every
// process using the mount must have exited), reverts what no fsync
// covered, and mounts again at the same place.
func (f *FS) Cut(o CutOptions) (CutReport, error) {
	if (o.KeepPrefix || o.Tear) && o.Rand == nil {
		return CutReport{}, errors.New("powerloss: KeepPrefix and Tear need Rand")
	}
	if err := f.Unmount(); err != nil {
		return CutReport{}, fmt.Errorf("powerloss: unmount before the cut: %w", err)
	}
	f.mu.Lock()
	rep := f.revert(o)
	f.mu.Unlock()
	return rep, f.mount()
}

func (f *FS) revert(o CutOptions) CutReport {
	var rep CutReport
	inos := make([]uint64, 0, len(f.data))
	for ino := range f.data {
		inos = append(inos, ino)
	}
	slices.Sort(inos) // a seed gives the same choices for the same history
	tearIno := uint64(0)
	if o.Tear && len(inos) > 0 {
		tearIno = inos[o.Rand.IntN(len(inos))]
	}
	for _, ino := range inos {
		l := f.data[ino]
		fc := FileCut{Path: f.relPath(l.fd)}
		keep := 0
		if o.KeepPrefix || ino == tearIno {
			keep = o.Rand.IntN(len(l.recs) + 1)
		}
		if ino == tearIno && keep == len(l.recs) {
			keep-- // tear needs a write to tear
		}
		for i := len(l.recs) - 1; i >= keep; i-- {
			r := l.recs[i]
			if i == keep && ino == tearIno && r.n > 512 {
				if b := tearPoint(r, o.Rand); b > 0 {
					// Keep [off, b) of the new data; old bytes from b on.
					if b-r.off < int64(len(r.old)) {
						syscall.Pwrite(l.fd, r.old[b-r.off:], b)
					}
					syscall.Ftruncate(l.fd, max(r.size, b))
					fc.Torn++
					fc.DroppedBytes += r.off + r.n - b
					continue
				}
			}
			if len(r.old) > 0 {
				syscall.Pwrite(l.fd, r.old, r.off)
			}
			syscall.Ftruncate(l.fd, r.size)
			fc.Dropped++
			fc.DroppedBytes += r.n
		}
		fc.Kept = keep
		rep.Dropped += fc.Dropped
		rep.Kept += fc.Kept
		rep.Torn += fc.Torn
		rep.DroppedBytes += fc.DroppedBytes
		rep.Files = append(rep.Files, fc)
		syscall.Close(l.fd)
	}
	clear(f.data)
	for i := len(f.ns) - 1; i >= 0; i-- {
		op := f.ns[i]
		switch op.kind {
		case nsCreate:
			var st syscall.Stat_t
			if syscall.Lstat(op.path, &st) == nil && st.Ino == op.ino {
				os.RemoveAll(op.path)
			}
		case nsUnlink:
			os.Rename(op.stash, op.path)
		case nsRename:
			os.Rename(op.path, op.from)
			if op.stash != "" {
				os.Rename(op.stash, op.path)
			}
		case nsRmdir:
			os.Mkdir(op.path, fs.FileMode(op.mode&0o7777))
		}
		rep.NamesUndone++
	}
	f.ns = nil
	return rep
}

// relPath is the path under the mount of the backing file open as fd, ""
// if it is no longer under the backing directory (unlinked: stashed or
// gone).
func (f *FS) relPath(fd int) string {
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return ""
	}
	rel, err := filepath.Rel(f.backing, p)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || strings.HasSuffix(p, " (deleted)") {
		return ""
	}
	return rel
}

// tearPoint picks a 512-byte boundary (of the file) strictly inside the
// write, or 0 if the write spans none.
func tearPoint(r undo, rng *rand.Rand) int64 {
	first := (r.off/512 + 1) * 512
	last := ((r.off + r.n - 1) / 512) * 512
	if first > last {
		return 0
	}
	return first + 512*rng.Int64N((last-first)/512+1)
}

// record remembers how to undo a change of [off, off+n) (n = 0: a
// truncation to off) of the file open as fd, made unsynced. Call it under mu,
// before the change.
func (f *FS) record(fd int, ino uint64, off, n int64) syscall.Errno {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return gofs.ToErrno(err)
	}
	size := st.Size
	newSize := off // a truncation
	if n > 0 {
		newSize = max(size, off+n)
	}
	if f.quota > 0 && newSize > size && f.usage()+newSize-size > f.quota {
		f.refused++
		return syscall.ENOSPC
	}
	end := min(off+n, size)
	if n == 0 {
		end = size // truncation: what lies beyond the new end
	}
	u := undo{off: off, size: size, n: n}
	if end > off {
		u.old = make([]byte, end-off)
		if _, err := syscall.Pread(fd, u.old, off); err != nil {
			return gofs.ToErrno(err)
		}
	}
	l := f.data[ino]
	if l == nil {
		dup, err := syscall.Dup(fd)
		if err != nil {
			return gofs.ToErrno(err)
		}
		l = &fileLog{fd: dup}
		f.data[ino] = l
	}
	l.recs = append(l.recs, u)
	return 0
}

func (f *FS) syncFile(ino uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if l := f.data[ino]; l != nil {
		syscall.Close(l.fd)
		delete(f.data, ino)
	}
}

func (f *FS) syncDir(ino uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	kept := f.ns[:0]
	for _, op := range f.ns {
		if !slices.Contains(op.dirs, ino) {
			kept = append(kept, op)
			continue
		}
		if op.stash != "" { // the unlink or replacement is on disk: the old inode is gone
			os.RemoveAll(op.stash)
		}
	}
	f.ns = kept
}

func (f *FS) stashPath() string {
	f.stashN++
	return filepath.Join(f.stash, fmt.Sprint(f.stashN))
}

func ino(path string) uint64 {
	var st syscall.Stat_t
	if syscall.Lstat(path, &st) != nil {
		return 0
	}
	return st.Ino
}
