package sqlite

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

func histCount(t *testing.T, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

// Every acknowledged write waited for a timed flush of the WAL, and each
// checkpoint pass is timed by its kind; the collectors register.
func TestStoreMetricsTimeFlushesAndCheckpoints(t *testing.T) {
	defer func(n int) { restartFrames = n }(restartFrames)
	restartFrames = 16
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	before := histCount(t, s.m.flush)
	for i := range 40 {
		if err := putMeta(s, i); err != nil {
			t.Fatal(err)
		}
	}
	if n := histCount(t, s.m.flush) - before; n == 0 {
		t.Fatal("no WAL flush timed after 40 writes")
	}
	if _, _, err := s.checkpointOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := histCount(t, s.m.passive); n != 1 {
		t.Fatalf("passive passes timed: %d, want 1", n)
	}
	if n := histCount(t, s.m.locked); n != 1 {
		t.Fatalf("locked passes timed: %d, want 1 (the WAL is past restartFrames)", n)
	}
	if err := prometheus.NewRegistry().Register(s.Collectors()[0]); err != nil {
		t.Fatal(err)
	}
}
