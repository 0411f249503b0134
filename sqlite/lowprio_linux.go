package sqlite

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// copyNice is the nice value of the thread that runs a checkpoint's passes
// without the writer lock. Their copy is mostly CPU (modernc's translated
// C, ~290 ms a pass after a capacity rush) and competes for the two cores
// with the sales writer and the handlers; at a lower priority the kernel
// runs those first and gives the copy what is left.
const copyNice = 10

// atLowPriority runs f on a thread of its own at copyNice (or the thread's
// nice value if that is already lower priority) and returns when f does.
// The goroutine exits with its thread still locked, so the runtime ends
// the thread: raising the priority back may need CAP_SYS_NICE, and no
// other goroutine ever runs on it. A failed setpriority leaves f at the
// normal priority: only slower sales, nothing wrong.
func atLowPriority(f func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread()
		tid := unix.Gettid()
		// Linux's getpriority returns 20 - nice.
		if p, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil && 20-p < copyNice {
			_ = unix.Setpriority(unix.PRIO_PROCESS, tid, copyNice)
		}
		f()
	}()
	<-done
}
