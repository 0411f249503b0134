// Package benchbody serves the benchmarks' reference: a pre-encoded body
// of a given size, the ceiling that scripts/bench.sh compares the public
// handlers with in the same process on the same machine (/debug/fixed on
// --debug-addr).
package benchbody

import (
	"net/http"
	"strconv"
	"sync"
)

// Serve serves a pre-encoded JSON body of ?bytes=N (default 10 KB): the
// ceiling that benchmarks compare the public handlers with, in the same
// process on the same machine (scripts/bench.sh).
func Serve(w http.ResponseWriter, r *http.Request) {
	n, err := strconv.Atoi(r.URL.Query().Get("bytes"))
	if err != nil || n < 2 || n > 1<<20 {
		n = 10_000
	}
	body := fixedBodies(n)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

var (
	fixedMu    sync.Mutex
	fixedCache = map[int][]byte{}
)

func fixedBodies(n int) []byte {
	fixedMu.Lock()
	defer fixedMu.Unlock()
	if b, ok := fixedCache[n]; ok {
		return b
	}
	b := make([]byte, n)
	b[0] = '"'
	for i := 1; i < n-1; i++ {
		b[i] = 'x'
	}
	b[n-1] = '"'
	fixedCache[n] = b
	return b
}
