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
	if _, err := Read(strconv.Itoa(1 << 30)); err == nil {
		t.Error("a process that does not exist was read")
	}
}
