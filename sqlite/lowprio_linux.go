package sqlite

import (
	"runtime"
	"sync"

	"golang.org/x/sys/unix"
)

// copyNice is the nice value of the thread that runs a checkpoint's passes
// without the writer lock. Their copy is mostly CPU (modernc's translated
// C, ~290 ms a pass after a capacity rush) and competes for the two cores
// with the sales writer and the handlers; at a lower priority the kernel
// runs those first and gives the copy what is left.
const copyNice = 10

// lowPriority runs functions, one at a time, on one thread of its own at
// copyNice (or at the thread's nice value if that is already lower
// priority), for the store's lifetime. Its goroutine stays locked to the
// thread, so no other goroutine ever runs at the lowered priority, and
// exits locked, so the runtime then ends the thread (the main thread it
// parks for good instead): raising the priority back may need
// CAP_SYS_NICE. One thread for the store's life rather than
// one a checkpoint: the kernel's count of its wait for a core (schedstat,
// the run-queue metric) goes when a thread ends. A failed setpriority
// leaves the copy at the normal priority: only slower sales, nothing wrong.
type lowPriority struct {
	jobs    chan func()
	done    chan struct{}
	stopped sync.Once
}

func startLowPriority() *lowPriority {
	lp := &lowPriority{jobs: make(chan func()), done: make(chan struct{})}
	go func() {
		defer close(lp.done)
		runtime.LockOSThread()
		tid := unix.Gettid()
		// Linux's getpriority returns 20 - nice.
		if p, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil && 20-p < copyNice {
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, copyNice)
		}
		for f := range lp.jobs {
			f()
		}
	}()
	return lp
}

// run runs f on the lowered thread and returns when f does.
func (lp *lowPriority) run(f func()) {
	ran := make(chan struct{})
	lp.jobs <- func() {
		defer close(ran)
		f()
	}
	<-ran
}

// stop ends the thread once the job in progress, if any, has returned.
func (lp *lowPriority) stop() {
	lp.stopped.Do(func() { close(lp.jobs) })
	<-lp.done
}
