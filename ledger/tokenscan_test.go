package ledger

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"runtime"
	rtmetrics "runtime/metrics"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/publicmask/publicmask"
)

// scannableHeap is the heap the collector marks through (objects holding
// pointers) as of the last collection.
func scannableHeap() uint64 {
	runtime.GC()
	s := []rtmetrics.Sample{{Name: "/gc/scan/heap:bytes"}}
	rtmetrics.Read(s)
	return s[0].Value.Uint64()
}

// The known-token cache is not the collector's work: bench.sh's rushes leave
// ~79,000 tokens cached, and each token kept as pointers (a boxed Token with
// its strings, in a sync.Map) made about half of the live heap that every
// mark walked (twenty-eighth session). 100,000 cached tokens must add little
// scannable heap.
func TestKnownTokensNotScanned(t *testing.T) {
	const n = 100_000
	before := scannableHeap()
	c := new(tokenCache)
	sums := cachedTokens(c, n) // 26,000 outlets: their interned codes count
	after := scannableHeap()
	runtime.KeepAlive(c)
	runtime.KeepAlive(sums)
	grew := int64(after) - int64(before)
	t.Logf("%d tokens: scannable heap %d → %d bytes (%+d, %.1f B a token)", n, before, after, grew, float64(grew)/n)
	if grew > 2<<20 {
		t.Fatalf("%d cached tokens added %d bytes of scannable heap, want at most 2 MiB", n, grew)
	}
}

// A look-up of a cached token allocates nothing: its strings come from the
// interned table.
func TestCachedTokenAllocates(t *testing.T) {
	l := &Ledger{}
	sum := cachedTokens(&l.tokens, 1)[0]
	if n := testing.AllocsPerRun(100, func() {
		if tok, _, ok, err := l.CachedTokenSum(sum); !ok || err != nil || tok.Outlet != "10000000" || tok.Role != publicmask.RoleOutlet {
			t.Fatal(tok, ok, err)
		}
	}); n != 0 {
		t.Fatalf("a cached look-up made %v allocations", n)
	}
}

// Reads racing a revocation here (the entry's compare and swap): a read
// that loaded the entry before the revocation never replaces it, so once
// the revocation is made every look-up answers revoked; a read that began
// after it (and found it revoked, as the store then says) stands.
func TestTokenReadsRaceRevocation(t *testing.T) {
	c := new(tokenCache)
	for round := range 200 {
		sum := sha256.Sum256(fmt.Appendf(nil, "pm_o_race%d", round))
		h := hex.EncodeToString(sum[:])
		created := time.Now()
		valid := publicmask.Token{Hash: h, Role: publicmask.RoleOutlet, Outlet: "10000001", CreatedAt: created}
		revokedTok := valid
		revokedTok.RevokedAt = created.Add(time.Second)
		if round%2 == 0 {
			c.remember(valid, time.Now().Add(time.Hour)) // else first sight: no entry
		}
		var wg sync.WaitGroup
		var done atomic.Bool
		for range 4 {
			wg.Go(func() {
				for !done.Load() {
					prev, _ := c.load(sum) // before the "store read"
					read := valid
					if prev.revoked != notRevoked { // began after the revocation: the store says revoked
						read = revokedTok
					}
					runtime.Gosched()
					c.putIfUnchanged(sum, prev.ver, read, time.Now().Add(time.Hour))
				}
			})
		}
		runtime.Gosched()
		c.revoked(h, revokedTok, time.Now().Add(time.Hour))
		for range 100 {
			if _, ok, _, err := c.cached(sum, monoNow(), 0); !ok || publicmask.ErrorCode(err) != publicmask.EUnauthorized {
				done.Store(true)
				wg.Wait()
				t.Fatalf("round %d: after the revocation a look-up answered %v %v, want revoked", round, ok, err)
			}
			runtime.Gosched()
		}
		done.Store(true)
		wg.Wait()
	}
}

// A full shard starts over rather than grow past its share of
// maxKnownTokens; the token just cached stays.
func TestKnownShardBound(t *testing.T) {
	c := new(tokenCache)
	tok := publicmask.Token{Role: publicmask.RoleOutlet, Outlet: "10000001"}
	var sum [32]byte // first byte 0: all in one shard
	for i := range maxShardTokens + 10 {
		binary.BigEndian.PutUint32(sum[1:], uint32(i))
		c.put(sum, tok, time.Now().Add(time.Hour))
		if n := len(c.shards[0].m); n > maxShardTokens {
			t.Fatalf("%d tokens in a shard, bound %d", n, maxShardTokens)
		}
	}
	if n := len(c.shards[0].m); n != 10 {
		t.Fatalf("%d tokens after the shard started over, want 10", n)
	}
	if _, ok, _, err := c.cached(sum, monoNow(), 0); !ok || err != nil {
		t.Fatalf("the last token cached: %v %v", ok, err)
	}
}

// A read that loses its compare and swap to this node's revocation answers
// with the entry it lost to: its request is refused, as the cache's next
// answer is.
func TestTokenReadLosesToRevocation(t *testing.T) {
	c := new(tokenCache)
	sum := sha256.Sum256([]byte("pm_o_lost"))
	h := hex.EncodeToString(sum[:])
	valid := publicmask.Token{Hash: h, Role: publicmask.RoleOutlet, Outlet: "10000001", CreatedAt: time.Now()}
	for _, had := range []bool{false, true} {
		c.Delete(h)
		if had {
			c.remember(valid, time.Now()) // expired: read again
		}
		prev, _ := c.load(sum) // the read begins
		revokedTok := valid
		revokedTok.RevokedAt = time.Now()
		c.revoked(h, revokedTok, time.Now().Add(time.Hour))
		got := c.putIfUnchanged(sum, prev.ver, valid, time.Now().Add(time.Hour)) // and ends
		if _, err := checkToken(got); publicmask.ErrorCode(err) != publicmask.EUnauthorized {
			t.Fatalf("seen valid before: %v; the read that lost to the revocation answered %+v, %v; want revoked", had, got, err)
		}
	}
}

// A first-sight read (no entry: prev version 0) that began before this
// node's revocation must not cache the token valid when the shard started
// over meanwhile: storeLocked carries unexpired revocations over (the
// sync.Map's global Clear at maxKnownTokens dropped them, and the read's
// LoadOrStore then cached the token valid for a TTL).
func TestRevocationSurvivesShardRestart(t *testing.T) {
	c := new(tokenCache)
	var sum [32]byte // first byte 0: shard 0
	sum[31] = 0xee
	h := hex.EncodeToString(sum[:])
	valid := publicmask.Token{Hash: h, Role: publicmask.RoleOutlet, Outlet: "10000001"}
	prev, _ := c.load(sum) // the read begins: no entry
	rev := valid
	rev.RevokedAt = time.Now()
	c.revoked(h, rev, time.Now().Add(time.Hour)) // revoked here meanwhile
	for i := range maxShardTokens {              // the shard fills and starts over
		var o [32]byte
		binary.BigEndian.PutUint32(o[1:], uint32(i))
		c.put(o, valid, time.Now().Add(time.Hour))
	}
	c.putIfUnchanged(sum, prev.ver, valid, time.Now().Add(time.Hour)) // the read ends
	if _, ok, _, err := c.cached(sum, monoNow(), 0); !ok || publicmask.ErrorCode(err) != publicmask.EUnauthorized {
		t.Fatalf("revoked here, then its shard started over during a read begun before: cached %v %v, want revoked", ok, err)
	}
}
