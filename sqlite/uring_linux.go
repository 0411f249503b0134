package sqlite

import (
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"
)

// The durability flush's fdatasync goes through an io_uring when the kernel
// has one: the flush is submitted, runs in the kernel's worker, and its
// completion wakes the waiting goroutine through an eventfd the network
// poller watches. A plain fdatasync is a system call that keeps its P for
// its milliseconds; the Go runtime's sysmon retakes such a P, and each
// retake sets sysmon back to waking every 20 µs (BENCHMARKS.md, 17th and
// 18th passes on server CPU per sale: ~2,700 wake-ups a second at capacity,
// ~20 µs of CPU each on this machine). Parked on the eventfd instead, the
// goroutine holds no P, so there is nothing to retake. The semantics are
// fdatasync(2)'s (IORING_OP_FSYNC with IORING_FSYNC_DATASYNC calls the same
// vfs_fsync_range), and so is an error.

const (
	sysIOUringSetup    = 425
	sysIOUringEnter    = 426
	sysIOUringRegister = 427

	ioringOffSQRing = 0
	ioringOffCQRing = 0x8000000
	ioringOffSQEs   = 0x10000000

	ioringFeatSingleMmap = 1 << 0
	ioringRegisterEvfd   = 4
	ioringOpFsync        = 3
	ioringFsyncDatasync  = 1
	iosqeAsync           = 1 << 4
)

type ioSQRingOffsets struct {
	head, tail, ringMask, ringEntries, flags, dropped, array, resv1 uint32
	userAddr                                                        uint64
}

type ioCQRingOffsets struct {
	head, tail, ringMask, ringEntries, overflow, cqes, flags, resv1 uint32
	userAddr                                                        uint64
}

type ioUringParams struct {
	sqEntries, cqEntries, flags, sqThreadCPU, sqThreadIdle, features, wqFd uint32
	resv                                                                   [3]uint32
	sqOff                                                                  ioSQRingOffsets
	cqOff                                                                  ioCQRingOffsets
}

// uring is a ring of one: one fdatasync in flight at a time (mu).
type uring struct {
	mu      sync.Mutex
	fd      int
	rings   []byte // the SQ and CQ rings (one mapping)
	sqes    []byte
	evfd    *os.File // eventfd the kernel signals on each completion
	sqTail  *uint32
	sqMask  uint32
	sqArray *uint32
	cqHead  *uint32
	cqTail  *uint32
	cqMask  uint32
	cqes    unsafe.Pointer
	seq     uint64
}

// newURing sets up a ring, or returns nil where there is none (an old
// kernel, io_uring disabled or filtered out): the caller then calls
// fdatasync itself.
func newURing() *uring {
	var p ioUringParams
	fd, _, errno := syscall.Syscall(sysIOUringSetup, 2, uintptr(unsafe.Pointer(&p)), 0)
	if errno != 0 {
		return nil
	}
	r := &uring{fd: int(fd)}
	ok := false
	defer func() {
		if !ok {
			r.close()
		}
	}()
	if p.features&ioringFeatSingleMmap == 0 {
		return nil // kernels before 5.4: not worth a second code path
	}
	sqSize := int(p.sqOff.array + p.sqEntries*4)
	if cqSize := int(p.cqOff.cqes + p.cqEntries*16); cqSize > sqSize {
		sqSize = cqSize
	}
	var err error
	if r.rings, err = syscall.Mmap(r.fd, ioringOffSQRing, sqSize, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		return nil
	}
	if r.sqes, err = syscall.Mmap(r.fd, ioringOffSQEs, int(p.sqEntries*64), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED|syscall.MAP_POPULATE); err != nil {
		return nil
	}
	at := func(off uint32) *uint32 { return (*uint32)(unsafe.Pointer(&r.rings[off])) }
	r.sqTail = at(p.sqOff.tail)
	r.sqMask = *at(p.sqOff.ringMask)
	r.sqArray = at(p.sqOff.array)
	r.cqHead = at(p.cqOff.head)
	r.cqTail = at(p.cqOff.tail)
	r.cqMask = *at(p.cqOff.ringMask)
	r.cqes = unsafe.Pointer(&r.rings[p.cqOff.cqes])

	efd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		return nil
	}
	// Non-blocking, so os.NewFile puts it in the network poller: a read
	// parks the goroutine rather than its thread.
	r.evfd = os.NewFile(efd, "io_uring-eventfd")
	e := int32(efd)
	if _, _, errno := syscall.Syscall6(sysIOUringRegister, uintptr(r.fd), ioringRegisterEvfd, uintptr(unsafe.Pointer(&e)), 1, 0, 0); errno != 0 {
		return nil
	}
	ok = true
	return r
}

// datasync flushes fd as fdatasync(2) would and returns its error.
func (r *uring) datasync(fd int) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fd < 0 {
		return errRingGone
	}
	r.seq++
	tail := atomic.LoadUint32(r.sqTail)
	idx := tail & r.sqMask
	sqe := r.sqes[idx*64 : idx*64+64]
	clear(sqe)
	sqe[0] = ioringOpFsync
	sqe[1] = iosqeAsync // straight to the worker: an fsync never completes inline
	*(*int32)(unsafe.Pointer(&sqe[4])) = int32(fd)
	*(*uint32)(unsafe.Pointer(&sqe[28])) = ioringFsyncDatasync
	*(*uint64)(unsafe.Pointer(&sqe[32])) = r.seq
	*(*uint32)(unsafe.Add(unsafe.Pointer(r.sqArray), uintptr(idx)*4)) = idx
	atomic.StoreUint32(r.sqTail, tail+1) // publishes the entry (a full barrier on amd64)
	for {
		n, _, errno := syscall.Syscall6(sysIOUringEnter, uintptr(r.fd), 1, 0, 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 || n != 1 {
			// Not consumed: take the entry back so the ring stays in step.
			atomic.StoreUint32(r.sqTail, tail)
			r.shut()
			return errRingGone
		}
		break
	}
	var buf [8]byte
	for {
		head := atomic.LoadUint32(r.cqHead)
		if head != atomic.LoadUint32(r.cqTail) {
			cqe := unsafe.Add(r.cqes, uintptr(head&r.cqMask)*16)
			user := *(*uint64)(cqe)
			res := *(*int32)(unsafe.Add(cqe, 8))
			atomic.StoreUint32(r.cqHead, head+1)
			if user != r.seq {
				continue // an older completion (cannot happen with one in flight)
			}
			if res < 0 {
				return syscall.Errno(-res)
			}
			return nil
		}
		if _, err := r.evfd.Read(buf[:]); err != nil {
			// The eventfd failed: the flush may still be running, so the
			// ring cannot be reused and its result is unknown.
			r.shut()
			return err
		}
	}
}

// shut stops using the ring (under mu).
func (r *uring) shut() {
	r.close()
}

func (r *uring) close() {
	if r.evfd != nil {
		r.evfd.Close()
		r.evfd = nil
	}
	if r.sqes != nil {
		syscall.Munmap(r.sqes)
		r.sqes = nil
	}
	if r.rings != nil {
		syscall.Munmap(r.rings)
		r.rings = nil
	}
	if r.fd >= 0 {
		syscall.Close(r.fd)
		r.fd = -1
	}
}
