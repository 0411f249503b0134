// Command streamhold opens N live change streams (/api/v2/stream) against a
// server and keeps them open, reading and discarding their events, until it
// is killed: the cheapest possible 10,000 subscribers, so that a benchmark on
// one machine measures the server's fan-out rather than the generator's
// parsing (scripts/bench-streams.sh).
//
//	go run ./scripts/streamhold 127.0.0.1:8080 10000
//
// Subscribers are placed on a grid over Korea (lat 34–38, lng 126–129.5),
// 2 km circles. It prints "open N" once all are connected.
package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: streamhold HOST:PORT N")
		os.Exit(2)
	}
	addr := os.Args[1]
	n, err := strconv.Atoi(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var read atomic.Int64
	conns := make([]net.Conn, 0, n) // kept: an unreferenced conn is closed by its finalizer
	for i := range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			fmt.Fprintln(os.Stderr, "dial:", err)
			os.Exit(1)
		}
		lat := 34 + float64(i%100)*0.04
		lng := 126 + float64(i/100%100)*0.035
		fmt.Fprintf(c, "GET /api/v2/stream?lat=%.4f&lng=%.4f&m=2000 HTTP/1.1\r\nHost: %s\r\n\r\n", lat, lng, addr)
		br := bufio.NewReader(c)
		line, err := br.ReadString('\n')
		if err != nil || len(line) < 12 || line[9:12] != "200" {
			fmt.Fprintf(os.Stderr, "stream %d: %q %v\n", i, line, err)
			os.Exit(1)
		}
		conns = append(conns, c)
		go func() {
			k, _ := io.Copy(io.Discard, br)
			read.Add(k)
		}()
	}
	fmt.Println("open", len(conns))
	for {
		time.Sleep(time.Hour)
	}
}
