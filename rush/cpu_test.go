package rush

import (
	"os"
	"strconv"
	"testing"
	"time"
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
