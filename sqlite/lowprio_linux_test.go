package sqlite

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// threadNice is the nice value of this process's thread tid
// (/proc/self/task/<tid>/stat, field 19); ok is false once it has ended.
func threadNice(t *testing.T, tid int) (nice int, ok bool) {
	t.Helper()
	b, err := os.ReadFile("/proc/self/task/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return 0, false
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:]) // field 3 on
	n, err := strconv.Atoi(f[19-3])
	if err != nil {
		t.Fatalf("stat of thread %d: %q: %v", tid, s, err)
	}
	return n, true
}

// The passes without the writer lock (the copy that competes with the
// sales for a core) run on a thread at copyNice; the pass under the lock,
// which every sale waits out, runs at the normal priority; and the lowered
// thread ends with the checkpoint, so no other goroutine inherits it.
func TestCheckpointCopiesAtLowPriority(t *testing.T) {
	defer func(n int) { restartFrames = n }(restartFrames)
	defer func() { afterFirstPass, afterPass, lockPassBegins = nil, nil, nil }()
	restartFrames = 2048
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	base, ok := threadNice(t, unix.Gettid())
	if !ok {
		t.Skip("no /proc/self/task")
	}
	if base >= copyNice {
		t.Skipf("the test runs at nice %d, not below copyNice %d", base, copyNice)
	}
	fillWALPastRestart(t, s)
	wtx := openWrite(t, s) // commits during the first pass: the lock pass follows
	copyTid, copyNiceSeen, lockNiceSeen := 0, -100, -100
	afterPassNice := []int{}
	afterFirstPass = func() {
		copyTid = unix.Gettid()
		copyNiceSeen, _ = threadNice(t, copyTid)
		if err := wtx.Commit(); err != nil {
			t.Error(err)
		}
		for i := range 300 {
			if err := putMeta(s, i); err != nil {
				t.Error(err)
			}
		}
	}
	afterPass = func() {
		n, _ := threadNice(t, unix.Gettid())
		afterPassNice = append(afterPassNice, n)
	}
	lockPassBegins = func(int) { lockNiceSeen, _ = threadNice(t, unix.Gettid()) }
	if _, _, err := s.checkpointOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if copyTid == 0 || lockNiceSeen == -100 {
		t.Fatalf("no pass under the lock after a long WAL (first pass ran: %v)", copyTid != 0)
	}
	if copyNiceSeen != copyNice {
		t.Errorf("the first pass ran at nice %d, want %d", copyNiceSeen, copyNice)
	}
	for i, n := range afterPassNice {
		if n != copyNice {
			t.Errorf("catch-up pass %d ran at nice %d, want %d", i, n, copyNice)
		}
	}
	if lockNiceSeen != base {
		t.Errorf("the pass under the writer lock ran at nice %d, want the normal %d", lockNiceSeen, base)
	}
	// The runtime ends a locked thread soon after its goroutine exits.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, alive := threadNice(t, copyTid); !alive {
			break
		}
		if time.Now().After(deadline) {
			n, _ := threadNice(t, copyTid)
			t.Fatalf("the copy's thread %d (nice %d) outlived the checkpoint", copyTid, n)
		}
	}
}
