package ledger

import (
	"errors"
	"runtime"
	"sync"
	"testing"
)

// TestDecideRelaysOutcomes: a batch's waiters run back to back once their
// outcomes are decided, ahead of goroutines that were already runnable
// (decide, await). On one processor: k waiters parked in await, then n
// goroutines made runnable (in the run queue), then decide. Sent all at
// once, k-1 waiters went behind the n; relayed, every waiter runs before
// any of them. Each waiter also gets its own outcome, and a bulk-style op
// (not relay) gets its outcome directly.
func TestDecideRelaysOutcomes(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	const k, n = 5, 20
	var (
		mu  sync.Mutex
		log []string
		wg  sync.WaitGroup
	)
	note := func(s string) {
		mu.Lock()
		log = append(log, s)
		mu.Unlock()
	}
	ops := make([]*op, k+1)
	outcomes := make([]error, k+1)
	got := make([]error, k+1)
	for i := range ops {
		ops[i] = &op{done: make(chan error, 1), relay: i != 2}
		outcomes[i] = errors.New(string(rune('a' + i)))
	}
	for i, o := range ops {
		if !o.relay {
			continue
		}
		wg.Go(func() {
			got[i] = o.await()
			note("sale")
		})
	}
	for range 3 {
		runtime.Gosched() // the waiters run until they park in await
	}
	block := make(chan struct{})
	for range n {
		wg.Go(func() {
			note("read")
			<-block
		})
	}
	decide(ops, func(i int) error { return outcomes[i] })
	if err := <-ops[2].done; err != outcomes[2] {
		t.Errorf("the bulk op got %v, want %v", err, outcomes[2])
	}
	for {
		mu.Lock()
		l := len(log)
		mu.Unlock()
		if l == k+n {
			break
		}
		runtime.Gosched()
	}
	close(block)
	wg.Wait()
	for i, o := range ops {
		if o.relay && got[i] != outcomes[i] {
			t.Errorf("waiter %d got %v, want %v", i, got[i], outcomes[i])
		}
	}
	if raceOn {
		return // the race detector puts readied goroutines in the run queue at random
	}
	reads := 0
	for _, s := range log {
		if s == "read" {
			reads++
		} else if reads > 0 {
			t.Fatalf("a waiter ran after %d of the runnable goroutines: %v", reads, log)
		}
	}
}
