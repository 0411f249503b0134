package sqlite

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/publicmask/publicmask/internal/procstat"
)

// threadNice is the nice value of this process's thread tid; ok is false
// once it has ended.
func threadNice(t *testing.T, tid int) (nice int, ok bool) {
	t.Helper()
	st, err := procstat.Read("self/task/" + strconv.Itoa(tid))
	if pe := new(fs.PathError); errors.As(err, &pe) {
		return 0, false // its /proc entry is gone (or going)
	}
	if err != nil {
		t.Fatalf("stat of thread %d: %v", tid, err)
	}
	return st.Nice, true
}

// The passes without the writer lock (the copy that competes with the
// sales for a core) run on a thread at copyNice; the pass under the lock,
// which every sale waits out, runs at the normal priority; the lowered
// thread serves every checkpoint of the store (its wait for a core stays
// counted) and ends when the store closes, so no other goroutine inherits
// it.
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
	// The next checkpoint copies on the same thread, still lowered.
	firstTid := copyTid
	if err := putMeta(s, 1); err != nil {
		t.Fatal(err)
	}
	copyTid = 0
	afterFirstPass, afterPass, lockPassBegins = nil, nil, nil
	afterFirstPass = func() { copyTid = unix.Gettid() }
	restartFrames = 1 // any WAL: the first pass's hook runs
	if _, _, err := s.checkpointOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if copyTid != firstTid {
		t.Errorf("the second checkpoint copied on thread %d, the first on %d", copyTid, firstTid)
	}
	if n, alive := threadNice(t, firstTid); !alive || n != copyNice {
		t.Errorf("between checkpoints the copy's thread is alive %v at nice %d, want alive at %d", alive, n, copyNice)
	}
	// Close stops the checkpointer; the runtime ends a locked thread soon
	// after its goroutine exits. The main thread it never ends: it parks it
	// for good (runtime.mexit), and no goroutine runs on it again.
	s.ckpt.stop()
	if firstTid == os.Getpid() {
		t.Logf("the copy ran on the main thread %d: parked, not ended", firstTid)
		before, err := procstat.Read("self/task/" + strconv.Itoa(firstTid))
		for i := range 30 { // work that any running thread would share
			if err == nil {
				err = putMeta(s, i)
			}
		}
		time.Sleep(300 * time.Millisecond)
		after, err2 := procstat.Read("self/task/" + strconv.Itoa(firstTid))
		if err := errors.Join(err, err2); err != nil {
			t.Fatal(err)
		}
		if after.CPU != before.CPU {
			t.Errorf("the main thread copied at nice %d and ran on after the store stopped: CPU %v s then %v s", copyNice, before.CPU, after.CPU)
		}
		return
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, alive := threadNice(t, firstTid); !alive {
			break
		}
		if time.Now().After(deadline) {
			n, _ := threadNice(t, firstTid)
			t.Fatalf("the copy's thread %d (nice %d) outlived the store", firstTid, n)
		}
	}
}
