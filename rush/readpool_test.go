package rush

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// engine.read through the raw client with pooled ghost
// buffers, bodies of varying sizes/framings and error answers, run
// concurrently; the ghost counts and error samples must be what each body
// says, whatever the pooled memory held before or after.
func TestReadPooledBodies(t *testing.T) {
	rec := func(code, stat string) string {
		return `{"code":"` + code + `","name":"` + strings.Repeat("n", 300) + `","remain_stat":"` + stat + `"},`
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		switch r.URL.Query().Get("k") {
		case "err":
			w.WriteHeader(500)
			fmt.Fprintf(w, `{"error":{"code":"boom-%d"}}`, n)
			return
		case "chunked":
			w.(http.Flusher).Flush() // no Content-Length: chunked
		}
		var b strings.Builder
		b.WriteString(`{"count":1,"stores":[`)
		for i := range n {
			if i%2 == 0 {
				b.WriteString(rec("11111111", "plenty")) // ghost: acked few
			} else {
				b.WriteString(rec("22222222", "plenty"))
			}
		}
		b.WriteString(`{}]}`)
		w.Write([]byte(b.String()))
	}))
	defer srv.Close()
	e := &engine{byCode: map[string]*outletState{}, secs: []*second{{}}, start: time.Now(),
		rawReads: newRawClient(10*time.Second, 8), readBase: srv.URL, cfg: &Config{},
		kinds: map[string]*readKind{"geo": {}}, errorsBy: map[string]int64{}}
	defer e.rawReads.closeIdle()
	t0 := time.Now().Add(-time.Second)
	for _, c := range []string{"11111111", "22222222"} {
		o := &outletState{code: c, minStock: 200}
		o.reachedAt[bandPlenty] = t0
		e.addCode(o)
	}
	e.byCode["11111111"].ack(20, 180, t0)
	var want int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				n := (i*37 + w*11) % 700
				k := []string{"len", "chunked", "err"}[i%3]
				e.read(&readJob{kind: "geo", ghost: true, path: fmt.Sprintf("/x?k=%s&n=%d", k, n)})
				if k != "err" {
					mu.Lock()
					want += int64(n)
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	if got := e.ghostChecked.Load(); got != want {
		t.Errorf("checked %d, want %d", got, want)
	}
	for _, s := range e.readErrSamples {
		var n int
		if _, err := fmt.Sscanf(s, "500 /x?k=err&n=%d:", &n); err != nil || s != fmt.Sprintf(`500 /x?k=err&n=%d: {"error":{"code":"boom-%d"}}`, n, n) {
			t.Errorf("sample %q", s)
		}
	}
	if len(e.readErrSamples) != 10 {
		t.Errorf("%d samples", len(e.readErrSamples))
	}
}
