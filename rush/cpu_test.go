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
	x := 0
	for start := time.Now(); time.Since(start) < 200*time.Millisecond; {
		x++
	}
	r := m.stop(1000, 2000, false)
	if r.ServerReadError != "" || r.GeneratorReadError != "" {
		t.Fatalf("read errors: %+v", r)
	}
	// 200 ms of spinning at 100 ticks/s: at least 0.1 s on any machine.
	if r.GeneratorSeconds < 0.1 || r.ServerSeconds < 0.1 {
		t.Fatalf("CPU after 200 ms of work: %+v (%d loops)", r, x)
	}
	if want := r.ServerSeconds * 1e6 / 1000; r.ServerUsPerSale < want*0.9 || r.ServerUsPerSale > want*1.1 {
		t.Fatalf("per sale %.1f µs, want %.1f", r.ServerUsPerSale, want)
	}
	if _, err := procCPU(strconv.Itoa(1 << 30)); err == nil {
		t.Fatal("a process that does not exist has a CPU time")
	}
}
