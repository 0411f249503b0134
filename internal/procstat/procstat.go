// Package procstat reads what the benchmarks need of a process's
// /proc/<pid>/stat: its CPU time and its parent.
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

// Stat is a process's parent and the user+system CPU seconds it has used.
type Stat struct {
	PPID int
	CPU  float64
}

// Read reads /proc/<pid>/stat of a process ("self" or a pid).
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
	// After the name: state is field 3, ppid 4, utime 14, stime 15.
	if len(f) < 13 {
		return Stat{}, bad
	}
	ppid, err0 := strconv.Atoi(f[1])
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err0 != nil || err1 != nil || err2 != nil {
		return Stat{}, bad
	}
	return Stat{PPID: ppid, CPU: (ut + st) / clkTck}, nil
}
