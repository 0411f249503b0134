package rush

import (
	"fmt"
	"math"
	"runtime"
	"strconv"

	"github.com/publicmask/publicmask/internal/procstat"
)

// CPUReport is the CPU time spent during the load phase (setup and checks
// left out), read from /proc: the figure that does not depend on how busy
// the machine is. The server's is known when --server-pid names it (a
// server on this machine); the generator's is this process's own (with an
// in-process server, both together).
type CPUReport struct {
	ServerPID       int     `json:"server_pid,omitempty"`
	ServerSeconds   float64 `json:"server_s,omitempty"`
	ServerUsPerSale float64 `json:"server_us_per_sale,omitempty"` // per acknowledged sale
	// ServerRunQueueSeconds is the time the server's threads were runnable
	// but waiting for a core over the same load phase (the kernel's
	// schedstat): beside ServerSeconds, whether a latency tail was the
	// server's work or a machine short of cores. The server's own counter
	// (publicmask_process_run_queue_wait_seconds_total) scraped around a
	// rush also takes in its setup and its final verify, seconds of one busy
	// thread with no wait, and so understated the wait during the sales. A
	// thread that exits during the phase takes its wait along (the kernel
	// keeps no total for the process); a Go server keeps its threads.
	ServerRunQueueSeconds float64 `json:"server_run_queue_s,omitempty"`
	GeneratorSeconds      float64 `json:"generator_s"`
	GeneratorUsPerReq     float64 `json:"generator_us_per_request"` // per request sent (sales and reads)
	GeneratorProcs        int     `json:"generator_procs"`          // GOMAXPROCS of the generator
	IncludesServer        bool    `json:"generator_includes_server,omitempty"`
	ServerReadError       string  `json:"server_read_error,omitempty"`
	GeneratorReadError    string  `json:"generator_read_error,omitempty"`
}

// procCPU returns the user+system CPU seconds of a process ("self" or a
// pid) from /proc/<pid>/stat.
func procCPU(pid string) (float64, error) {
	st, err := procstat.Read(pid)
	return st.CPU, err
}

// cpuMeter reads both processes at the start and the end of the load phase.
type cpuMeter struct {
	pid             int
	self0, srv0     float64
	selfErr, srvErr error
	rq0             map[string]uint64 // the server's threads' run-queue wait (ns) at the start
	rqErr           error
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid}
	m.self0, m.selfErr = procCPU("self")
	if pid > 0 {
		m.srv0, m.srvErr = procCPU(strconv.Itoa(pid))
		m.rq0, m.rqErr = procstat.RunQueue(strconv.Itoa(pid))
	}
	return m
}

// stop fills the report from what was used since start.
func (m *cpuMeter) stop(sales, requests int64, own bool) CPUReport {
	r := CPUReport{ServerPID: m.pid, IncludesServer: own, GeneratorProcs: runtime.GOMAXPROCS(0)}
	round := func(v float64) float64 { return math.Round(v*10) / 10 }
	if self1, err := procCPU("self"); err == nil && m.selfErr == nil {
		r.GeneratorSeconds = math.Round((self1-m.self0)*100) / 100
		if requests > 0 {
			r.GeneratorUsPerReq = round((self1 - m.self0) * 1e6 / float64(requests))
		}
	} else {
		r.GeneratorReadError = fmt.Sprint(err, m.selfErr)
	}
	if m.pid > 0 {
		srv1, err := procCPU(strconv.Itoa(m.pid))
		if err == nil && m.srvErr == nil {
			r.ServerSeconds = math.Round((srv1-m.srv0)*100) / 100
			if sales > 0 {
				r.ServerUsPerSale = round((srv1 - m.srv0) * 1e6 / float64(sales))
			}
		} else {
			r.ServerReadError = fmt.Sprint(err, m.srvErr)
		}
		// No schedstat (not Linux, a kernel without it): the figure is left out.
		if rq1, err := procstat.RunQueue(strconv.Itoa(m.pid)); err == nil && m.rqErr == nil {
			r.ServerRunQueueSeconds = math.Round(procstat.Waited(m.rq0, rq1)*100) / 100
		}
	}
	return r
}
