package public

import (
	"runtime"
	"testing"
	"time"
	"weak"

	publicmask "github.com/publicmask/publicmask"
)

// TestHandlerKeepsNoOldSnapshot checks that the handler's per-version
// header cache does not keep an old snapshot (and every entry of it) alive
// after a new version: a bulk delivery replaces every entry, and a handler
// that has seen no request since would otherwise hold two versions.
func TestHandlerKeepsNoOldSnapshot(t *testing.T) {
	env, _ := gangbukEnv(t, Options{})
	// The snapshot a request was answered from (the refresher may confirm
	// a new one meanwhile: then ask again).
	old := env.r.Current()
	for {
		if c := env.get(t, "/corona19-masks/v1/sales/json").code; c != 200 {
			t.Fatalf("sales: %d", c)
		}
		if cur := env.r.Current(); cur != old {
			old = cur
			continue
		}
		break
	}
	v := old.Version()
	gone := weak.Make(old)
	old = nil
	o := env.src.get("11817488")
	o.Stock = 0
	env.r.Notify([]publicmask.Outlet{env.src.put(o)})
	waitFor(t, "new version", func() bool { return env.r.Current().Version() > v })
	deadline := time.Now().Add(5 * time.Second)
	for gone.Value() != nil {
		if time.Now().After(deadline) {
			t.Fatal("the previous snapshot is still reachable after the new version")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	runtime.KeepAlive(env) // the handler must be alive for the check to mean anything
}
