package rush

import (
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask/internal/procstat"
)

// procCPU reads a process's CPU time, and it grows while the process works.
func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc on this system")
	}
	m := startCPU(os.Getpid())
	// Work until 0.2 s of CPU went by (however busy the machine), as
	// measured independently of startCPU and stop.
	c0, err := procCPU("self")
	if err != nil {
		t.Fatal(err)
	}
	x := 0
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		for range 1_000_000 {
			x++
		}
		if c, _ := procCPU("self"); c-c0 >= 0.2 {
			break
		}
	}
	r := m.stop(1000, 2000, false)
	if r.ServerReadError != "" || r.GeneratorReadError != "" {
		t.Fatalf("read errors: %+v", r)
	}
	if r.GeneratorSeconds < 0.2 || r.ServerSeconds < 0.2 {
		t.Fatalf("CPU after 0.2 s of work: %+v (%d loops)", r, x)
	}
	if want := r.ServerSeconds * 1e6 / 1000; r.ServerUsPerSale < want*0.9 || r.ServerUsPerSale > want*1.1 {
		t.Fatalf("per sale %.1f µs, want %.1f", r.ServerUsPerSale, want)
	}
	if _, err := procCPU(strconv.Itoa(1 << 30)); err == nil {
		t.Fatal("a process that does not exist has a CPU time")
	}
}

// The server's run-queue wait over the load phase: a process kept off the
// cores (more busy goroutines than cores, each on its own thread) shows a
// wait; the meter counts only what happened after it started.
func TestServerRunQueueWait(t *testing.T) {
	if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(os.Getpid()) + "/schedstat"); err != nil {
		t.Skip("no schedstat on this system")
	}
	// Busy threads beyond the cores, so that they queue for them (with
	// GOMAXPROCS above the cores: otherwise the extra goroutines would wait
	// for a P, which the kernel does not see).
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(runtime.NumCPU() + 2))
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range runtime.NumCPU() + 2 {
		wg.Go(func() {
			runtime.LockOSThread()
			for x := 0; !stop.Load(); x++ {
			}
		})
	}
	time.Sleep(300 * time.Millisecond) // the wait before the meter starts is not counted
	m := startCPU(os.Getpid())
	began := time.Now()
	time.Sleep(300 * time.Millisecond)
	// Read while the busy threads still exist: a locked goroutine's thread
	// exits with it and takes its schedstat along (a server's threads live
	// as long as it does).
	r := m.stop(1, 1, false)
	// A loaded machine (CI) stretches the phase: bound by its real length.
	phase := time.Since(began).Seconds()
	all, err := procstat.RunQueue("self")
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	// Two threads beyond the cores wait, between them, about two phases;
	// a quarter phase leaves room for the runtime parking a preempted one.
	if min := phase / 4; r.ServerRunQueueSeconds < min {
		t.Fatalf("run-queue wait %.2f s with %d busy threads on %d CPUs over %.2f s, want at least %.2f: %+v",
			r.ServerRunQueueSeconds, runtime.NumCPU()+2, runtime.NumCPU(), phase, min, r)
	}
	// No thread waits longer than the phase lasted, so the process's
	// threads wait at most that many phases in all (the wait before the
	// meter started is procstat.Waited's to leave out; TestRunQueue).
	threads := len(all)
	if max := float64(threads) * phase; r.ServerRunQueueSeconds > max {
		t.Fatalf("run-queue wait %.2f s over a %.2f s phase, more than %d threads × the phase", r.ServerRunQueueSeconds, phase, threads)
	}
}

// TestProcs: the generator keeps the runtime's choice (all CPUs, or
// GOMAXPROCS) unless --procs says otherwise, with or without a --target.
func TestProcs(t *testing.T) {
	for _, tc := range []struct {
		target string
		procs  int
		want   int
	}{
		{"http://127.0.0.1:8080", 0, 0},
		{"http://127.0.0.1:8080", 2, 2},
		{"http://127.0.0.1:8080", -1, 0},
		{"", 0, 0},
		{"", 1, 1},
	} {
		c := Config{Target: tc.target, Procs: tc.procs}
		if got := c.procs(); got != tc.want {
			t.Errorf("procs(target %q, --procs %d) = %d, want %d", tc.target, tc.procs, got, tc.want)
		}
	}
}
