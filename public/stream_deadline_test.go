package public

import (
	"bufio"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A stream outlives the server's ReadTimeout: the deadline for reading the
// request must not end a long-lived answer (net/http cancels the request
// when its background read of an idle connection times out).
func TestStreamOutlivesReadTimeout(t *testing.T) {
	env, _ := gangbukEnv(t, Options{Heartbeat: 50 * time.Millisecond})
	srv := httptest.NewUnstartedServer(env.h)
	srv.Config.ReadTimeout = 200 * time.Millisecond
	srv.Start()
	defer srv.Close()
	o := env.src.get("11817488")
	resp, err := srv.Client().Get(fmt.Sprintf("%s/api/v2/stream?lat=%v&lng=%v&m=500", srv.URL, o.Lat, o.Lng))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	start := time.Now()
	beats := 0
	for time.Since(start) < time.Second && sc.Scan() {
		if strings.HasPrefix(sc.Text(), ": heartbeat") {
			beats++
		}
	}
	if d := time.Since(start); d < time.Second {
		t.Fatalf("the stream ended after %v (%d heartbeats; ReadTimeout 200 ms): %v", d, beats, sc.Err())
	}
}
