package sqlite

import (
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The writer's WAL is written through walBufVFS, the default (unix) VFS
// with the WAL file's writes gathered: SQLite writes each frame of a commit
// with two pwrite calls, its 24-byte header and its page (about three
// randomly placed pages per sale, so six pwrites; the syscalls were ~9% of
// the server's CPU in capacity rushes). Here a transaction's frames are
// appended to a buffer and written with one pwrite when the commit frame's
// page arrives, so a commit costs one write syscall whatever its size.
//
// Why this is safe: no other connection can see a frame before the commit
// that holds it has written the WAL index header, which SQLite does after
// walFrames returns, i.e. after the commit frame's write returned here,
// i.e. after the buffer reached the file (a failed write fails the commit
// as before). The commit is not acknowledged before our own fsync of the
// WAL (durable.go), which follows it. Everything that could look at the
// file through this handle first writes what is held: a read (the writer
// re-reading a frame it spilled), a sync, a truncation, a size, a file
// control, a close, and a write that does not continue the buffer (after a
// rolled-back transaction the next one overwrites its frames). Frames of a
// transaction that never commits may thus reach the file later or never,
// as they may without buffering: they lie beyond the last commit frame
// and recovery ignores them.

const walBufVFSName = "publicmask-walbuf"

// walBuffered: the writer opens its database through walBufVFS; a
// variable for the benchmark that compares.
var walBuffered = true

// walBufMax bounds a buffer: beyond it the held frames are written out
// (a batch of ~100 sales is ~300 frames, ~600 KB of 2 KiB pages).
const walBufMax = 4 << 20

var (
	walBufOnce sync.Once
	walBufErr  error

	origVFS        uintptr // the unix VFS
	walBufVFS      sqlite3.Tsqlite3_vfs
	origWALMethods uintptr // the unix file methods the WAL was opened with
	walBufMethods  sqlite3.Tsqlite3_io_methods
	walBufs        sync.Map // sqlite3_file pointer → *walBuf

	// walBufWrites counts the writes that reached the file, and
	// walBufFrameWrites the writes SQLite made (tests).
	walBufWrites      atomic.Int64
	walBufFrameWrites atomic.Int64
)

// walBuf is one open WAL file's held writes. A file belongs to one
// connection, which SQLite serialises: no lock is needed.
type walBuf struct {
	// buf is kept from one transaction to the next (its length never
	// passes walBufMax plus a write, so neither does its capacity much):
	// regrown for each commit, it was ~50 MB/s of garbage at capacity.
	buf    []byte
	off    int64 // file offset of buf[0]
	commit bool  // the last write was a commit frame's header
}

// registerWALBufVFS registers walBufVFS once per process.
func registerWALBufVFS() error {
	walBufOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		origVFS = sqlite3.Xsqlite3_vfs_find(tls, 0)
		if origVFS == 0 {
			walBufErr = fmt.Errorf("sqlite: no default VFS")
			return
		}
		walBufVFS = *(*sqlite3.Tsqlite3_vfs)(cptr(origVFS))
		name, err := libc.CString(walBufVFSName)
		if err != nil {
			walBufErr = err
			return
		}
		walBufVFS.FzName = name
		walBufVFS.FpNext = 0
		*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&walBufVFS.FxOpen)) = walBufOpen
		if rc := sqlite3.Xsqlite3_vfs_register(tls, uintptr(unsafe.Pointer(&walBufVFS)), 0); rc != sqlite3.SQLITE_OK {
			walBufErr = fmt.Errorf("sqlite: register VFS: code %d", rc)
		}
	})
	return walBufErr
}

var walBufMethodsMu sync.Mutex

func walBufOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	v := (*sqlite3.Tsqlite3_vfs)(cptr(origVFS))
	rc := (*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{v.FxOpen})))(tls, origVFS, zName, pFile, flags, pOutFlags)
	if rc != sqlite3.SQLITE_OK || flags&sqlite3.SQLITE_OPEN_WAL == 0 {
		return rc
	}
	f := (*sqlite3.Tsqlite3_file)(cptr(pFile))
	if f.FpMethods == 0 {
		return rc
	}
	walBufMethodsMu.Lock()
	if origWALMethods == 0 {
		origWALMethods = f.FpMethods
		walBufMethods = *(*sqlite3.Tsqlite3_io_methods)(cptr(origWALMethods))
		*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&walBufMethods.FxClose)) = walBufClose
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&walBufMethods.FxRead)) = walBufRead
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&walBufMethods.FxWrite)) = walBufWrite
		*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&walBufMethods.FxTruncate)) = walBufTruncate
		*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&walBufMethods.FxSync)) = walBufSync
		*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&walBufMethods.FxFileSize)) = walBufFileSize
		*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&walBufMethods.FxFileControl)) = walBufFileControl
	}
	same := f.FpMethods == origWALMethods
	walBufMethodsMu.Unlock()
	if !same {
		return rc // another kind of unix file: left unbuffered
	}
	walBufs.Store(pFile, &walBuf{})
	f.FpMethods = uintptr(unsafe.Pointer(&walBufMethods))
	return rc
}

// cptr is the memory at p, an address SQLite passed or holds (its own
// allocations and the driver's static tables, never the Go heap).
func cptr(p uintptr) unsafe.Pointer { return *(*unsafe.Pointer)(unsafe.Pointer(&p)) }

func origMethods() *sqlite3.Tsqlite3_io_methods {
	return (*sqlite3.Tsqlite3_io_methods)(cptr(origWALMethods))
}

func origWrite(tls *libc.TLS, pFile, p uintptr, n int32, off int64) int32 {
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&struct{ uintptr }{origMethods().FxWrite})))(tls, pFile, p, n, off)
}

func bufOf(pFile uintptr) *walBuf {
	b, _ := walBufs.Load(pFile)
	return b.(*walBuf)
}

// flush writes what b holds.
func (b *walBuf) flush(tls *libc.TLS, pFile uintptr) int32 {
	b.commit = false
	if len(b.buf) == 0 {
		return sqlite3.SQLITE_OK
	}
	rc := int32(sqlite3.SQLITE_OK)
	for i := 0; i < len(b.buf) && rc == sqlite3.SQLITE_OK; i += walBufChunk {
		n := min(walBufChunk, len(b.buf)-i)
		rc = origWrite(tls, pFile, uintptr(unsafe.Pointer(&b.buf[i])), int32(n), b.off+int64(i))
		walBufWrites.Add(1)
	}
	b.buf = b.buf[:0]
	return rc
}

// walBufChunk is the most the unix VFS writes in one call: it masks a
// write's length with 0x1ffff (SQLite's own writes are at most a 64 KiB
// page), so a longer buffer is written in pieces below 128 KiB.
const walBufChunk = 0x1f000

func walBufWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	walBufFrameWrites.Add(1)
	b := bufOf(pFile)
	if len(b.buf) > 0 && (iOfst != b.off+int64(len(b.buf)) || len(b.buf)+int(iAmt) > walBufMax) {
		if rc := b.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	if len(b.buf) == 0 {
		b.off = iOfst
	}
	p := unsafe.Slice((*byte)(cptr(zBuf)), iAmt)
	b.buf = append(b.buf, p...)
	if b.commit {
		// The page of a commit frame: the transaction's frames go out now,
		// before SQLite publishes them in the WAL index.
		return b.flush(tls, pFile)
	}
	// A frame header (24 bytes) whose second field, the database size
	// after the commit, is not zero heads a commit frame.
	b.commit = iAmt == 24 && binary.BigEndian.Uint32(p[4:8]) != 0
	return sqlite3.SQLITE_OK
}

func walBufRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	if rc := bufOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&struct{ uintptr }{origMethods().FxRead})))(tls, pFile, zBuf, iAmt, iOfst)
}

func walBufTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	if rc := bufOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&struct{ uintptr }{origMethods().FxTruncate})))(tls, pFile, size)
}

func walBufSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	if rc := bufOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&struct{ uintptr }{origMethods().FxSync})))(tls, pFile, flags)
}

func walBufFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	if rc := bufOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{origMethods().FxFileSize})))(tls, pFile, pSize)
}

func walBufFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	if rc := bufOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{origMethods().FxFileControl})))(tls, pFile, op, pArg)
}

func walBufClose(tls *libc.TLS, pFile uintptr) int32 {
	rc := bufOf(pFile).flush(tls, pFile)
	walBufs.Delete(pFile)
	if rc2 := (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{origMethods().FxClose})))(tls, pFile); rc == sqlite3.SQLITE_OK {
		rc = rc2
	}
	return rc
}
