package snapshot

import (
	"fmt"
	"testing"
)

// A full cache starts over instead of refusing to cache: after odd keys
// filled it, a common key is built once and then served from the cache.
func TestMemoStartsOverWhenFull(t *testing.T) {
	var c memo
	big := make([]byte, 1<<20)
	for i := 0; c.bytes < memoBudget; i++ {
		c.get(fmt.Sprintf("odd-%d", i), func() []byte { return big })
	}
	builds := 0
	for range 3 {
		c.get("stores/500/1", func() []byte { builds++; return []byte("page") })
	}
	if builds != 1 {
		t.Fatalf("common page built %d times after the cache filled, want 1", builds)
	}
	if c.bytes > memoBudget {
		t.Fatalf("cache holds %d bytes, budget %d", c.bytes, memoBudget)
	}
}
