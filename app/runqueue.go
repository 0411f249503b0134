package app

import (
	"os"
	"strconv"
	"sync"

	"github.com/publicmask/publicmask/internal/procstat"
)

// The sale and freshness tails of issue 12 were measured on a machine whose
// two cores the benchmark shares with its load generator and, in these
// sessions, with other work. Under the half-capacity rush the server's
// threads spent 1.1–1.8 s of every second runnable but waiting for a core
// of the operating system (BENCHMARKS.md "Sale tails (7th pass)"): time
// that no figure inside the process shows. go_sched_latencies_seconds
// counts a goroutine's wait for a P, whatever kept the P's thread off the
// core; process_cpu_seconds_total the time on it. runQueueWait is the rest:
// the kernel's own count (/proc/self/task/*/schedstat, second field: time
// spent on a run queue, in ns) summed over the process's threads, so that a
// run says by itself whether its tail was the process or the machine.

// runQueueWait sums the run-queue wait of the process's threads. What a
// thread waited is added to the total as it grows, read by read: a thread
// that exits takes its schedstat with it, and the sum must not go down.
type runQueueWait struct {
	mu    sync.Mutex
	dir   string            // /proc/self/task
	last  map[string]uint64 // per live thread id: its wait at the last read (ns)
	total uint64            // ns, over every thread seen
}

func newRunQueueWait(dir string) *runQueueWait {
	return &runQueueWait{dir: dir, last: map[string]uint64{}}
}

// seconds reads every thread's wait and returns the total. ok is false
// where there is no schedstat (not Linux, or a kernel without schedstats).
func (r *runQueueWait) seconds() (s float64, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	waits, err := procstat.ThreadWaits(r.dir)
	if err != nil {
		return float64(r.total) / 1e9, false
	}
	r.total += procstat.WaitedNS(r.last, waits)
	r.last = waits
	return float64(r.total) / 1e9, true
}

// runQueueAvailable reports whether the process can read its threads' schedstat.
func runQueueAvailable() bool {
	_, err := os.Stat("/proc/self/task/" + strconv.Itoa(os.Getpid()) + "/schedstat")
	return err == nil
}
