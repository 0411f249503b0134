// Package procstat reads what the benchmarks need of a process's
// /proc/<pid>/stat: its CPU time, its parent and its nice value.
package procstat

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// clkTck is USER_HZ, which Linux fixes at 100 for /proc/<pid>/stat on
// every architecture Go supports.
const clkTck = 100

// Stat is a process's parent, the user+system CPU seconds it has used and
// its nice value.
type Stat struct {
	PPID int
	CPU  float64
	Nice int
}

// Read reads /proc/<pid>/stat of a process ("self" or a pid; a thread is
// "self/task/<tid>").
func Read(pid string) (Stat, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return Stat{}, err
	}
	bad := fmt.Errorf("unexpected /proc/%s/stat", pid)
	// The command name (field 2) may hold spaces: fields are counted after
	// its closing parenthesis.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stat{}, bad
	}
	f := strings.Fields(s[i+1:])
	// After the name: state is field 3, ppid 4, utime 14, stime 15, nice 19.
	if len(f) < 17 {
		return Stat{}, bad
	}
	ppid, err0 := strconv.Atoi(f[1])
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	nice, err3 := strconv.Atoi(f[16])
	if err0 != nil || err1 != nil || err2 != nil || err3 != nil {
		return Stat{}, bad
	}
	return Stat{PPID: ppid, CPU: (ut + st) / clkTck, Nice: nice}, nil
}

// RunQueue reads, for each thread of a process ("self" or a pid), the time
// it has spent runnable but waiting for a core (/proc/<pid>/task/*/schedstat,
// second field, in ns), keyed by thread id. An error means the process or
// its schedstat cannot be read (not Linux, or a kernel without schedstats).
func RunQueue(pid string) (map[string]uint64, error) {
	return ThreadWaits("/proc/" + pid + "/task")
}

// ThreadWaits is RunQueue over a task directory (/proc/<pid>/task, or a
// test's copy of its layout): each thread's schedstat, second field.
func ThreadWaits(dir string) (map[string]uint64, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	m := make(map[string]uint64, len(ents))
	for _, e := range ents {
		b, err := os.ReadFile(dir + "/" + e.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		if ns, err := strconv.ParseUint(f[1], 10, 64); err == nil {
			m[e.Name()] = ns
		}
	}
	if len(m) == 0 {
		return nil, fmt.Errorf("no schedstat under %s", dir)
	}
	return m, nil
}

// Waited is the run-queue wait (seconds) between two RunQueue reads of one
// process: a thread seen only in after was created between them and counts
// whole; a thread that exited between them is missing from after and its
// wait since before is lost (the figure is then low, never high).
func Waited(before, after map[string]uint64) float64 {
	return float64(WaitedNS(before, after)) / 1e9
}

// WaitedNS is Waited in nanoseconds, for a running total kept in them.
func WaitedNS(before, after map[string]uint64) uint64 {
	var ns uint64
	for tid, a := range after {
		if b := before[tid]; a >= b {
			ns += a - b
		}
	}
	return ns
}
