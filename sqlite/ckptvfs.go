package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// The checkpointer's connection opens the database through ckptVFS, the
// default (unix) VFS with the checkpoint's page writes gathered. SQLite's
// checkpoint copies the WAL into the database file a page at a time: a
// pread of the frame, a pwrite of the page, each a system call (2–5 µs on
// the PVM guest this runs on; ~0.7 pwrites a request in capacity rushes).
// Pages come in ascending page order and 2.47 of them on average are
// adjacent (appended B-trees' new pages), so here the writes between
// SQLITE_FCNTL_CKPT_START and SQLITE_FCNTL_CKPT_DONE, which SQLite sends
// the database file around its copy loop (walCheckpoint), are joined while
// they continue one another and written as one pwrite when a write does
// not continue them, when the run reaches ckptRunMax, and at CKPT_DONE.
//
// Why this is safe. No connection reads a page the loop writes from the
// database file before the loop has ended: every frame it copies lies
// above the WAL's backfill count, so every reader finds that page in the
// WAL, and SQLite raises the count only after CKPT_DONE, by which time
// the pages are written. The database file's flush (SQLite's at the end of
// a complete checkpoint, syncDB's between passes) follows CKPT_DONE, hence
// the writes. Anything else on the file through this handle (a read, a
// sync, a truncation, a size, another file control, a close) first
// writes what is held. A kill -9 or a power cut before the writes reach
// the disk loses nothing: the WAL, flushed before the copy began, keeps
// every frame until a checkpoint that has flushed the database file lets
// it restart, and recovery (the next process rebuilds the WAL index, its
// backfill count 0) copies them again.
//
// A write that fails: one issued inside the loop fails the xWrite that
// issued it, so the loop stops and the pass fails as an unbuffered one
// would. The one at CKPT_DONE cannot fail the pass (SQLite ignores that
// call's result and may then raise the backfill count over pages that
// never reached the file): it breaks the file for good (every later
// write, read, sync, size and truncation fails, so no checkpoint
// completes and the WAL never restarts) and tells the store, which stops
// acknowledging (ckptSinks) before CKPT_DONE returns.

const ckptVFSName = "publicmask-ckpt"

// ckptGathered: the checkpointer opens its connection through ckptVFS; a
// variable for the tests and the benchmark that compare.
var ckptGathered = true

// ckptRunMax bounds a run: the unix VFS masks a write's length with 0x1ffff
// (walBufChunk).
const ckptRunMax = walBufChunk

var (
	ckptOnce sync.Once
	ckptErr  error

	ckptVFS       sqlite3.Tsqlite3_vfs
	origDBMethods uintptr // the unix file methods the database was opened with
	ckptMethods   sqlite3.Tsqlite3_io_methods
	ckptMethodsMu sync.Mutex
	ckptFiles     sync.Map // sqlite3_file pointer → *ckptFile

	// ckptSinks maps a database file's name as SQLite opened it to the
	// function that breaks its store (Store.watchCheckpointWrites).
	ckptSinks sync.Map

	// ckptPageWrites counts the page writes SQLite made in checkpoints and
	// ckptRunWrites the writes of them that reached the file (tests).
	ckptPageWrites atomic.Int64
	ckptRunWrites  atomic.Int64

	// ckptRunHook, when set (tests only), is called before a gathered run
	// is written (atDone: the run CKPT_DONE writes); a result other than
	// SQLITE_OK is the write's, which is then not made.
	ckptRunHook func(atDone bool, off int64, n int) int32
)

// ckptFile is one open database file's gathered run. A file belongs to one
// connection, which SQLite serialises: no lock is needed.
type ckptFile struct {
	name   string
	gather bool   // between CKPT_START and CKPT_DONE
	buf    []byte // the run, kept from one checkpoint to the next
	off    int64  // file offset of buf[0]
	broken int32  // the result a failed CKPT_DONE write left, for good
	ckpts  uint64 // checkpoints begun (CKPT_START)
	// tls is the connection's (the driver gives each its own): its WAL
	// is opened, and its checkpoint runs, with the same (ckptOpenWAL).
	tls *libc.TLS
}

// registerCkptVFS registers ckptVFS once per process.
func registerCkptVFS() error {
	ckptOnce.Do(func() {
		tls := libc.NewTLS()
		defer tls.Close()
		def := sqlite3.Xsqlite3_vfs_find(tls, 0)
		if def == 0 {
			ckptErr = fmt.Errorf("sqlite: no default VFS")
			return
		}
		ckptVFS = *(*sqlite3.Tsqlite3_vfs)(cptr(def))
		name, err := libc.CString(ckptVFSName)
		if err != nil {
			ckptErr = err
			return
		}
		ckptVFS.FzName = name
		ckptVFS.FpNext = 0
		*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&ckptVFS.FxOpen)) = ckptOpen
		if rc := sqlite3.Xsqlite3_vfs_register(tls, uintptr(unsafe.Pointer(&ckptVFS)), 0); rc != sqlite3.SQLITE_OK {
			ckptErr = fmt.Errorf("sqlite: register VFS: code %d", rc)
		}
	})
	return ckptErr
}

func ckptOpen(tls *libc.TLS, pVfs, zName, pFile uintptr, flags int32, pOutFlags uintptr) int32 {
	def := sqlite3.Xsqlite3_vfs_find(tls, 0)
	v := (*sqlite3.Tsqlite3_vfs)(cptr(def))
	rc := (*(*func(*libc.TLS, uintptr, uintptr, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{v.FxOpen})))(tls, def, zName, pFile, flags, pOutFlags)
	if rc != sqlite3.SQLITE_OK {
		return rc
	}
	if flags&sqlite3.SQLITE_OPEN_WAL != 0 {
		return ckptOpenWAL(tls, zName, pFile, rc)
	}
	if flags&sqlite3.SQLITE_OPEN_MAIN_DB == 0 {
		return rc
	}
	f := (*sqlite3.Tsqlite3_file)(cptr(pFile))
	if f.FpMethods == 0 {
		return rc
	}
	ckptMethodsMu.Lock()
	if origDBMethods == 0 {
		origDBMethods = f.FpMethods
		ckptMethods = *(*sqlite3.Tsqlite3_io_methods)(cptr(origDBMethods))
		*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&ckptMethods.FxClose)) = ckptClose
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&ckptMethods.FxRead)) = ckptRead
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&ckptMethods.FxWrite)) = ckptWrite
		*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&ckptMethods.FxTruncate)) = ckptTruncate
		*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&ckptMethods.FxSync)) = ckptSync
		*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&ckptMethods.FxFileSize)) = ckptFileSize
		*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&ckptMethods.FxFileControl)) = ckptFileControl
	}
	same := f.FpMethods == origDBMethods
	ckptMethodsMu.Unlock()
	if !same {
		return rc // another kind of unix file: left as it is
	}
	db := &ckptFile{name: libc.GoString(zName), tls: tls}
	ckptFiles.Store(pFile, db)
	ckptByTLS.Store(tls, db)
	f.FpMethods = uintptr(unsafe.Pointer(&ckptMethods))
	return rc
}

func origDB() *sqlite3.Tsqlite3_io_methods {
	return (*sqlite3.Tsqlite3_io_methods)(cptr(origDBMethods))
}

func ckptFileOf(pFile uintptr) *ckptFile {
	f, _ := ckptFiles.Load(pFile)
	return f.(*ckptFile)
}

// flush writes the run f holds; it is dropped whatever the result (a
// failed pass is copied again by the next one).
func (f *ckptFile) flush(tls *libc.TLS, pFile uintptr) int32 {
	if f.broken != 0 {
		return f.broken
	}
	if len(f.buf) == 0 {
		return sqlite3.SQLITE_OK
	}
	ckptRunWrites.Add(1)
	rc := int32(sqlite3.SQLITE_OK)
	if ckptRunHook != nil {
		rc = ckptRunHook(!f.gather, f.off, len(f.buf))
	}
	if rc == sqlite3.SQLITE_OK {
		rc = (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&struct{ uintptr }{origDB().FxWrite})))(tls, pFile, uintptr(unsafe.Pointer(&f.buf[0])), int32(len(f.buf)), f.off)
	}
	f.buf = f.buf[:0]
	return rc
}

func ckptWrite(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	f := ckptFileOf(pFile)
	if f.broken != 0 {
		return f.broken
	}
	if !f.gather {
		return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&struct{ uintptr }{origDB().FxWrite})))(tls, pFile, zBuf, iAmt, iOfst)
	}
	ckptPageWrites.Add(1)
	if len(f.buf) > 0 && (iOfst != f.off+int64(len(f.buf)) || len(f.buf)+int(iAmt) > ckptRunMax) {
		if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
			return rc // the copy loop stops: the pass fails
		}
	}
	if len(f.buf) == 0 {
		f.off = iOfst
	}
	f.buf = append(f.buf, unsafe.Slice((*byte)(cptr(zBuf)), iAmt)...)
	return sqlite3.SQLITE_OK
}

func ckptRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	if rc := ckptFileOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&struct{ uintptr }{origDB().FxRead})))(tls, pFile, zBuf, iAmt, iOfst)
}

func ckptTruncate(tls *libc.TLS, pFile uintptr, size int64) int32 {
	if rc := ckptFileOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int64) int32)(unsafe.Pointer(&struct{ uintptr }{origDB().FxTruncate})))(tls, pFile, size)
}

func ckptSync(tls *libc.TLS, pFile uintptr, flags int32) int32 {
	if rc := ckptFileOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, int32) int32)(unsafe.Pointer(&struct{ uintptr }{origDB().FxSync})))(tls, pFile, flags)
}

func ckptFileSize(tls *libc.TLS, pFile, pSize uintptr) int32 {
	if rc := ckptFileOf(pFile).flush(tls, pFile); rc != sqlite3.SQLITE_OK {
		return rc
	}
	return (*(*func(*libc.TLS, uintptr, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{origDB().FxFileSize})))(tls, pFile, pSize)
}

func ckptFileControl(tls *libc.TLS, pFile uintptr, op int32, pArg uintptr) int32 {
	f := ckptFileOf(pFile)
	switch op {
	case sqlite3.SQLITE_FCNTL_CKPT_START:
		f.gather = f.broken == 0
		f.ckpts++ // what the WAL's read-ahead holds is of an earlier one
	case sqlite3.SQLITE_FCNTL_CKPT_DONE:
		f.gather = false
		if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK && f.broken == 0 {
			f.broken = rc
			if sink, ok := ckptSinks.Load(f.name); ok {
				sink.(func(error))(fmt.Errorf("sqlite: checkpoint write to %s: code %d", f.name, rc))
			}
		}
	default:
		if rc := f.flush(tls, pFile); rc != sqlite3.SQLITE_OK {
			return rc
		}
	}
	return (*(*func(*libc.TLS, uintptr, int32, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{origDB().FxFileControl})))(tls, pFile, op, pArg)
}

func ckptClose(tls *libc.TLS, pFile uintptr) int32 {
	f := ckptFileOf(pFile)
	rc := f.flush(tls, pFile)
	ckptFiles.Delete(pFile)
	ckptByTLS.CompareAndDelete(f.tls, f)
	if rc2 := (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{origDB().FxClose})))(tls, pFile); rc == sqlite3.SQLITE_OK {
		rc = rc2
	}
	return rc
}

// watchCheckpointWrites has a checkpoint write that fails at CKPT_DONE
// break the store (ckptFile.broken): its connection db is opened and asked
// for the name SQLite gave the database file, the key of ckptSinks.
func (s *Store) watchCheckpointWrites(ctx context.Context, db *sql.DB) error {
	if !ckptGathered || s.dbFile == nil {
		return nil
	}
	var name string
	if err := db.QueryRowContext(ctx, `SELECT file FROM pragma_database_list WHERE name = 'main'`).Scan(&name); err != nil {
		return fmt.Errorf("sqlite: open checkpointer: %w", err)
	}
	s.ckptName = name
	ckptSinks.Store(name, s.dur.fail)
	return nil
}

// The checkpoint's reads of the WAL are read ahead: SQLite reads one frame
// a page, in page order, and a commit's frames are in page order too, so
// the frame read next is often a few frames further on (measured in a
// capacity rush: a window of 4 frames served 30% of the checkpointer's
// WAL reads, wider ones hardly more). A read during a checkpoint that its
// window does not hold reads ckptReadAhead bytes from the frame asked for
// on. Why the window's bytes are the file's: the loop reads only frames up
// to the checkpoint's safe frame, all committed, hence in the file, before
// CKPT_START, and the WAL cannot restart (its frames be overwritten) until
// a checkpoint has copied them all; the window is dropped at the next
// checkpoint's CKPT_START and used only between CKPT_START and CKPT_DONE.
// Bytes of the window past the WAL's committed end may be torn, but no
// read asks for them.

// ckptReadAhead is the window a read during a checkpoint fills: 4 frames
// of a 2 KiB page.
const ckptReadAhead = 4 * (2048 + 24)

var (
	// origCkptWALMethods are the unix file methods a WAL is opened with
	// (without locks: not the database file's).
	origCkptWALMethods uintptr
	ckptWALMethods     sqlite3.Tsqlite3_io_methods
	ckptWALs           sync.Map // sqlite3_file pointer → *ckptWAL
	ckptByTLS          sync.Map // connection's *libc.TLS → its open database *ckptFile

	// ckptWALReads counts the WAL reads SQLite made during checkpoints
	// and ckptWALFileReads the reads of them that reached the file (tests).
	ckptWALReads     atomic.Int64
	ckptWALFileReads atomic.Int64
)

// ckptWAL is a WAL file opened through ckptVFS and its read-ahead window.
type ckptWAL struct {
	db    *ckptFile // the database file of the same connection
	ckpts uint64    // db.ckpts when buf was read
	// buf is the window, ckptReadAhead bytes of SQLite's heap (the unix
	// VFS zeroes what a short read did not fill with C pointer arithmetic,
	// which Go's checkptr refuses over the Go heap); n of them are the
	// file's bytes from off.
	buf uintptr
	n   int
	off int64
}

func ckptOpenWAL(tls *libc.TLS, zName, pFile uintptr, rc int32) int32 {
	f := (*sqlite3.Tsqlite3_file)(cptr(pFile))
	ckptMethodsMu.Lock()
	if origCkptWALMethods == 0 {
		origCkptWALMethods = f.FpMethods
		ckptWALMethods = *(*sqlite3.Tsqlite3_io_methods)(cptr(origCkptWALMethods))
		*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&ckptWALMethods.FxClose)) = ckptWALClose
		*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&ckptWALMethods.FxRead)) = ckptWALRead
	}
	same := f.FpMethods == origCkptWALMethods
	ckptMethodsMu.Unlock()
	// The database file its connection opened: the same TLS, the name
	// SQLite gives the WAL (the database's and "-wal").
	db, found := ckptByTLS.Load(tls)
	if !same || !found || libc.GoString(zName) != db.(*ckptFile).name+"-wal" {
		return rc // left as it is
	}
	buf := libc.Xmalloc(tls, ckptReadAhead)
	if buf == 0 {
		return rc // no window: left as it is
	}
	ckptWALs.Store(pFile, &ckptWAL{db: db.(*ckptFile), buf: buf})
	f.FpMethods = uintptr(unsafe.Pointer(&ckptWALMethods))
	return rc
}

func ckptWALRead(tls *libc.TLS, pFile, zBuf uintptr, iAmt int32, iOfst int64) int32 {
	v, _ := ckptWALs.Load(pFile)
	w := v.(*ckptWAL)
	orig := (*sqlite3.Tsqlite3_io_methods)(cptr(origCkptWALMethods))
	read := (*(*func(*libc.TLS, uintptr, uintptr, int32, int64) int32)(unsafe.Pointer(&struct{ uintptr }{orig.FxRead})))
	if !w.db.gather || tls != w.db.tls || int(iAmt) > ckptReadAhead {
		return read(tls, pFile, zBuf, iAmt, iOfst)
	}
	ckptWALReads.Add(1)
	dst := unsafe.Slice((*byte)(cptr(zBuf)), iAmt)
	win := unsafe.Slice((*byte)(cptr(w.buf)), ckptReadAhead)
	if w.ckpts == w.db.ckpts && iOfst >= w.off && iOfst+int64(iAmt) <= w.off+int64(w.n) {
		copy(dst, win[iOfst-w.off:])
		return sqlite3.SQLITE_OK
	}
	ckptWALFileReads.Add(1)
	rc := read(tls, pFile, w.buf, ckptReadAhead, iOfst)
	if rc != sqlite3.SQLITE_OK {
		// Past the file's end (a short read) or failed: the frame alone,
		// as SQLite asked.
		w.n = 0
		return read(tls, pFile, zBuf, iAmt, iOfst)
	}
	w.off, w.n, w.ckpts = iOfst, ckptReadAhead, w.db.ckpts
	copy(dst, win)
	return sqlite3.SQLITE_OK
}

func ckptWALClose(tls *libc.TLS, pFile uintptr) int32 {
	if v, ok := ckptWALs.LoadAndDelete(pFile); ok {
		libc.Xfree(tls, v.(*ckptWAL).buf)
	}
	orig := (*sqlite3.Tsqlite3_io_methods)(cptr(origCkptWALMethods))
	return (*(*func(*libc.TLS, uintptr) int32)(unsafe.Pointer(&struct{ uintptr }{orig.FxClose})))(tls, pFile)
}
