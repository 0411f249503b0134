//go:build race

package ledger

// raceOn: the race detector's scheduler puts a readied goroutine in the
// run queue rather than runnext at random, which TestDecideRelaysOutcomes
// relies on.
const raceOn = true
