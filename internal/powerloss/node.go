package powerloss

import (
	"context"
	"os"
	"path/filepath"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// node is a loopback node whose changes are recorded for undo before they
// reach the backing directory.
type node struct {
	*gofs.LoopbackNode
	fs *FS
}

// WrapChild makes every node the loopback creates under this one a node
// of ours (gofs.NodeWrapChilder).
func (n *node) WrapChild(_ context.Context, ops gofs.InodeEmbedder) gofs.InodeEmbedder {
	return &node{LoopbackNode: ops.(*gofs.LoopbackNode), fs: n.fs}
}

func (n *node) path() string { return filepath.Join(n.RootData.Path, n.Path(nil)) }

func (n *node) isDir() bool { return n.StableAttr().Mode&syscall.S_IFMT == syscall.S_IFDIR }

// wrap hides the loopback handle's passthrough descriptor (the kernel would
// write to the backing file behind our back) and intercepts writes.
func (n *node) wrap(fh gofs.FileHandle, rel string) gofs.FileHandle {
	lf, ok := fh.(*gofs.LoopbackFile)
	if !ok {
		return fh
	}
	fd, _ := lf.PassthroughFd()
	var st syscall.Stat_t
	syscall.Fstat(fd, &st)
	return &file{lf: lf, fd: fd, ino: st.Ino, fs: n.fs, name: filepath.Join(n.fs.mountpoint, rel)}
}

// recordTruncate records the undo of truncating the file at path to size.
func (n *node) recordTruncate(path string, size int64) syscall.Errno {
	fd, err := syscall.Open(path, syscall.O_RDWR, 0)
	if err != nil {
		return gofs.ToErrno(err)
	}
	defer syscall.Close(fd)
	return n.fs.record(fd, ino(path), size, 0)
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	f := n.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	dir := n.path()
	p := filepath.Join(dir, name)
	existed := ino(p) != 0
	if existed && flags&syscall.O_TRUNC != 0 {
		if errno := n.recordTruncate(p, 0); errno != 0 {
			return nil, nil, 0, errno
		}
	}
	ch, fh, ff, errno := n.LoopbackNode.Create(ctx, name, flags, mode, out)
	if errno != 0 {
		return nil, nil, 0, errno
	}
	if !existed {
		f.ns = append(f.ns, nsOp{kind: nsCreate, dirs: []uint64{ino(dir)}, path: p, ino: ino(p)})
	}
	return ch, n.wrap(fh, filepath.Join(n.Path(nil), name)), ff, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&syscall.O_TRUNC != 0 {
		n.fs.mu.Lock()
		defer n.fs.mu.Unlock()
		if errno := n.recordTruncate(n.path(), 0); errno != 0 {
			return nil, 0, errno
		}
	}
	fh, ff, errno := n.LoopbackNode.Open(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	return n.wrap(fh, n.Path(nil)), ff, 0
}

func (n *node) created(dir, name string) {
	p := filepath.Join(dir, name)
	n.fs.ns = append(n.fs.ns, nsOp{kind: nsCreate, dirs: []uint64{ino(dir)}, path: p, ino: ino(p)})
}

// create runs a loopback call that makes the entry name in this directory
// and records the creation, under the lock that orders it with the others.
func (n *node) create(name string, op func() (*gofs.Inode, syscall.Errno)) (*gofs.Inode, syscall.Errno) {
	n.fs.mu.Lock()
	defer n.fs.mu.Unlock()
	ch, errno := op()
	if errno == 0 {
		n.created(n.path(), name)
	}
	return ch, errno
}

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.create(name, func() (*gofs.Inode, syscall.Errno) { return n.LoopbackNode.Mkdir(ctx, name, mode, out) })
}

func (n *node) Mknod(ctx context.Context, name string, mode, rdev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.create(name, func() (*gofs.Inode, syscall.Errno) { return n.LoopbackNode.Mknod(ctx, name, mode, rdev, out) })
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.create(name, func() (*gofs.Inode, syscall.Errno) { return n.LoopbackNode.Symlink(ctx, target, name, out) })
}

func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	return n.create(name, func() (*gofs.Inode, syscall.Errno) { return n.LoopbackNode.Link(ctx, target, name, out) })
}

// Unlink moves the entry to the stash instead of removing it, so that a cut
// can bring it back until the directory is synced.
func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	f := n.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	dir := n.path()
	p := filepath.Join(dir, name)
	st := f.stashPath()
	if err := os.Rename(p, st); err != nil {
		return gofs.ToErrno(err)
	}
	f.ns = append(f.ns, nsOp{kind: nsUnlink, dirs: []uint64{ino(dir)}, path: p, stash: st})
	return 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	f := n.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	dir := n.path()
	p := filepath.Join(dir, name)
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		return gofs.ToErrno(err)
	}
	if errno := n.LoopbackNode.Rmdir(ctx, name); errno != 0 {
		return errno
	}
	f.ns = append(f.ns, nsOp{kind: nsRmdir, dirs: []uint64{ino(dir)}, path: p, mode: st.Mode})
	return 0
}

func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok {
		return syscall.EXDEV
	}
	const renameExchange = 2
	if flags&renameExchange != 0 {
		return syscall.ENOTSUP
	}
	f := n.fs
	f.mu.Lock()
	defer f.mu.Unlock()
	srcDir, dstDir := n.path(), np.path()
	src, dst := filepath.Join(srcDir, name), filepath.Join(dstDir, newName)
	stash := ""
	var st syscall.Stat_t
	if syscall.Lstat(dst, &st) == nil && st.Mode&syscall.S_IFMT != syscall.S_IFDIR {
		// Keep the replaced inode: a cut before the directory sync brings it back.
		stash = f.stashPath()
		if err := os.Link(dst, stash); err != nil {
			return gofs.ToErrno(err)
		}
	}
	if errno := n.LoopbackNode.Rename(ctx, name, newParent, newName, flags); errno != 0 {
		if stash != "" {
			os.Remove(stash)
		}
		return errno
	}
	f.ns = append(f.ns, nsOp{kind: nsRename, dirs: []uint64{ino(srcDir), ino(dstDir)}, from: src, path: dst, stash: stash})
	return 0
}

func (n *node) Setattr(ctx context.Context, fh gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if sz, ok := in.GetSize(); ok {
		f := n.fs
		f.mu.Lock()
		var errno syscall.Errno
		if h, ok := fh.(*file); ok {
			errno = f.record(h.fd, h.ino, int64(sz), 0)
		} else {
			errno = n.recordTruncate(n.path(), int64(sz))
		}
		if errno != 0 {
			f.mu.Unlock()
			return errno
		}
		defer f.mu.Unlock()
	}
	return n.LoopbackNode.Setattr(ctx, fh, in, out)
}

// Fsync makes a file's data, or a directory's entries, durable. Nothing is
// flushed for real: the cut is simulated.
func (n *node) Fsync(ctx context.Context, fh gofs.FileHandle, flags uint32) syscall.Errno {
	switch h := fh.(type) {
	case *file:
		return h.Fsync(ctx, flags)
	default:
		if n.isDir() {
			n.fs.syncDir(ino(n.path()))
		} else {
			n.fs.syncFile(ino(n.path()))
		}
	}
	return 0
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	fh, ff, errno := n.LoopbackNode.OpendirHandle(ctx, flags)
	if errno != 0 {
		return nil, 0, errno
	}
	ds, ok := fh.(dirStream)
	if !ok {
		return nil, 0, syscall.EIO
	}
	return &dirHandle{dirStream: ds, n: n}, ff, 0
}

// CopyFileRange would write to the backing file unrecorded: refusing it
// makes the kernel fall back to reads and writes.
func (n *node) CopyFileRange(ctx context.Context, fhIn gofs.FileHandle, offIn uint64, out *gofs.Inode, fhOut gofs.FileHandle, offOut uint64, l uint64, flags uint64) (uint32, syscall.Errno) {
	return 0, syscall.ENOTSUP
}

// Tmpfile is not supported (an unnamed file could not be undone by path).
func (n *node) Tmpfile(ctx context.Context, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	return nil, nil, 0, syscall.ENOTSUP
}

type dirStream interface {
	gofs.DirStream
	gofs.FileReaddirenter
	gofs.FileReleasedirer
	gofs.FileSeekdirer
}

type dirHandle struct {
	dirStream
	n *node
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	d.n.fs.syncDir(ino(d.n.path()))
	return 0
}

// file is an open file whose writes are recorded for undo first.
type file struct {
	lf   *gofs.LoopbackFile
	fd   int
	ino  uint64
	fs   *FS
	name string // under the mount point, when opened
}

func (h *file) Read(ctx context.Context, buf []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return h.lf.Read(ctx, buf, off)
}

func (h *file) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	if len(data) == 0 {
		return 0, 0
	}
	h.fs.mu.Lock()
	defer h.fs.mu.Unlock()
	if errno := h.fs.writeFault(h.name); errno != 0 {
		return 0, errno
	}
	if errno := h.fs.record(h.fd, h.ino, off, int64(len(data))); errno != 0 {
		return 0, errno
	}
	w, errno := h.lf.Write(ctx, data, off)
	if errno == 0 && h.fs.hook != nil {
		h.fs.hook(h.name, off, int(w))
	}
	return w, errno
}

func (h *file) Writev(ctx context.Context, data [][]byte, off int64) (uint32, syscall.Errno) {
	var all []byte
	for _, d := range data {
		all = append(all, d...)
	}
	return h.Write(ctx, all, off)
}

func (h *file) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	if errno := h.fs.syncFault(h.name); errno != 0 {
		return errno // not synced: a cut still loses what it would have made durable
	}
	h.fs.syncFile(h.ino)
	return 0
}

func (h *file) Release(ctx context.Context) syscall.Errno { return h.lf.Release(ctx) }
func (h *file) Flush(ctx context.Context) syscall.Errno   { return h.lf.Flush(ctx) }
func (h *file) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Getattr(ctx, out)
}
func (h *file) Setattr(ctx context.Context, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	return h.lf.Setattr(ctx, in, out)
}
func (h *file) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	return h.lf.Lseek(ctx, off, whence)
}
