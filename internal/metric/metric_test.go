package metric

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Each constructor keeps the name and help it is given, and refuses a name
// without the prefix.
func TestConstructors(t *testing.T) {
	one := func() float64 { return 1 }
	for _, c := range []struct {
		name string
		make func(name string) prometheus.Collector
	}{
		{"counter", func(n string) prometheus.Collector { return Counter(n, "h") }},
		{"counter vec", func(n string) prometheus.Collector { return CounterVec(n, "h", "l") }},
		{"gauge vec", func(n string) prometheus.Collector { return GaugeVec(n, "h", "l") }},
		{"histogram", func(n string) prometheus.Collector { return Histogram(n, "h", []float64{1, 2}) }},
		{"histogram vec", func(n string) prometheus.Collector { return HistogramVec(n, "h", []float64{1, 2}, "l") }},
		{"gauge func", func(n string) prometheus.Collector { return GaugeFunc(n, "h", one) }},
		{"counter func", func(n string) prometheus.Collector { return CounterFunc(n, "h", one) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := make(chan *prometheus.Desc, 1)
			c.make("publicmask_x").Describe(ch)
			if d := (<-ch).String(); !strings.Contains(d, `fqName: "publicmask_x"`) || !strings.Contains(d, `help: "h"`) {
				t.Errorf("desc %s", d)
			}
			defer func() {
				if recover() == nil {
					t.Error("a name without publicmask_ was accepted")
				}
			}()
			c.make("x_total")
		})
	}
}
