package procstat

import (
	"os"
	"strconv"
	"testing"
)

// Read finds this process's parent and CPU time; a process that does not
// exist is an error.
func TestRead(t *testing.T) {
	s, err := Read("self")
	if err != nil {
		t.Fatal(err)
	}
	if s.PPID != os.Getppid() {
		t.Errorf("ppid %d, want %d", s.PPID, os.Getppid())
	}
	if s.CPU < 0 {
		t.Errorf("cpu %v", s.CPU)
	}
	if s.Nice < -20 || s.Nice > 19 {
		t.Errorf("nice %d, outside -20..19", s.Nice)
	}
	if _, err := Read(strconv.Itoa(1 << 30)); err == nil {
		t.Error("a process that does not exist was read")
	}
}

// RunQueue finds this process's threads; Waited counts a thread's growth,
// a new thread whole, and never goes below zero for a thread id reused
// with a smaller count.
func TestRunQueue(t *testing.T) {
	if _, err := os.Stat("/proc/self/task/" + strconv.Itoa(os.Getpid()) + "/schedstat"); err != nil {
		t.Skip("no schedstat on this system")
	}
	m, err := RunQueue("self")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := m[strconv.Itoa(os.Getpid())]; !ok {
		t.Errorf("the main thread %d is not among %v", os.Getpid(), m)
	}
	if _, err := RunQueue(strconv.Itoa(1 << 30)); err == nil {
		t.Error("a process that does not exist was read")
	}
	before := map[string]uint64{"1": 1e9, "2": 5e9, "3": 7e9}
	after := map[string]uint64{"1": 3e9, "2": 1e9, "4": 0.5e9}
	if got := Waited(before, after); got != 2.5 {
		t.Errorf("Waited = %v s, want 2.5 (thread 1 +2 s, thread 4 new 0.5 s, thread 2 reused, thread 3 gone)", got)
	}
}
