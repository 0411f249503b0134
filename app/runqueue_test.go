package app

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRunQueueWaitKeepsExitedThreads(t *testing.T) {
	dir := t.TempDir()
	write := func(tid, stat string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, tid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, tid, "schedstat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("10", "5000 1000000000 7\n")
	write("11", "5000 500000000 7\n")
	r := newRunQueueWait(dir)
	if s, ok := r.seconds(); !ok || s != 1.5 {
		t.Fatalf("first read: %v %v, want 1.5 true", s, ok)
	}
	// Thread 11 exits; thread 10 waits 0.25 s more; thread 12 starts.
	if err := os.RemoveAll(filepath.Join(dir, "11")); err != nil {
		t.Fatal(err)
	}
	write("10", "9000 1250000000 9\n")
	write("12", "100 100000000 1\n")
	if s, _ := r.seconds(); s != 1.85 {
		t.Fatalf("second read: %v, want 1.85 (an exited thread's wait is kept)", s)
	}
}

func TestRunQueueWaitOfThisProcess(t *testing.T) {
	if !runQueueAvailable() {
		t.Skip("no /proc/self/task/*/schedstat here")
	}
	r := newRunQueueWait("/proc/self/task")
	a, ok := r.seconds()
	if !ok {
		t.Fatal("schedstat available but not read")
	}
	b, _ := r.seconds()
	if b < a {
		t.Fatalf("went down: %v then %v", a, b)
	}
}
