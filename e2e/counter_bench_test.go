package e2e

import (
	"fmt"
	"os"
	"sort"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/publicmask/publicmask/internal/browsertest"
)

// TestCounterKeysPerSale measures the keys and seconds a sale takes at the
// counter, typed by a script at 4 keys per second (BENCHMARKS.md "Counter
// page"): the common sale, a refusal and a proxy sale. Run with
// PUBLICMASK_COUNTER_BENCH=1; it is a measurement, not a CI test.
func TestCounterKeysPerSale(t *testing.T) {
	if os.Getenv("PUBLICMASK_COUNTER_BENCH") == "" {
		t.Skip("set PUBLICMASK_COUNTER_BENCH=1 to measure keys and seconds per sale")
	}
	c, _ := newCounter(t, 1280, 900)
	c.signIn()
	const gap = 250 * time.Millisecond // 4 keys/s
	type key struct {
		k    string
		mods []chromedp.Modifier
	}
	digits := func(s string) []key {
		var ks []key
		for _, r := range s {
			ks = append(ks, key{k: string(r)})
		}
		return ks
	}
	// run types keys at 4/s and returns the number of keys, the seconds
	// from the first key to the result, and from Enter to the result.
	run := func(keys []key, cls, text string) (n int, total, answer time.Duration) {
		c.Clear("buyer")
		c.focused()
		start := time.Now()
		var enter time.Time
		for i, k := range keys {
			if i > 0 {
				time.Sleep(gap)
			}
			if k.k == kb.Enter {
				enter = time.Now()
			}
			c.Run(browsertest.Keys(k.k, k.mods...))
		}
		c.waitResult(cls, text, 10*time.Second)
		return len(keys), time.Since(start), time.Since(enter)
	}
	type row struct {
		name   string
		keys   int
		totals []time.Duration
		answer []time.Duration
	}
	var rows []*row
	for _, sc := range []struct {
		name string
		keys func(i int) []key
		cls  string
		text string
	}{
		{"common sale (ID + Enter)", func(i int) []key { return append(digits(born83(100+i)), key{k: kb.Enter}) }, "ok", "판매 완료"},
		{"refusal (wrong day)", func(i int) []key { return append(digits(id("840315", '1', 100+i)), key{k: kb.Enter}) }, "bad", "오늘은 구매 요일이 아닙니다"},
		{"proxy sale (buyer + Alt+P + child + Enter)", func(i int) []key {
			ks := digits(born83(200 + i))
			ks = append(ks, key{k: "p", mods: []chromedp.Modifier{chromedp.ModifierAlt}})
			ks = append(ks, digits(id("130301", '3', 200+i))...)
			return append(ks, key{k: kb.Enter})
		}, "ok", "판매 완료"},
	} {
		r := &row{name: sc.name}
		for i := range 5 {
			n, total, answer := run(sc.keys(i), sc.cls, sc.text)
			r.keys = n
			r.totals = append(r.totals, total)
			r.answer = append(r.answer, answer)
		}
		rows = append(rows, r)
	}
	med := func(ds []time.Duration) time.Duration {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return s[len(s)/2]
	}
	fmt.Println("| sale | keys | seconds per sale (median of 5, 4 keys/s) | Enter → result (median) |")
	fmt.Println("|---|---|---|---|")
	for _, r := range rows {
		fmt.Printf("| %s | %d | %.2f s | %d ms |\n", r.name, r.keys, med(r.totals).Seconds(), med(r.answer).Milliseconds())
	}
}
