//go:build !linux

package sqlite

// lowPriority runs f on the calling goroutine, at the normal priority:
// per-thread priority is set on Linux only.
type lowPriority struct{}

func startLowPriority() *lowPriority { return &lowPriority{} }
func (*lowPriority) run(f func())    { f() }
func (*lowPriority) stop()           {}
