// Package metric declares publicmask's Prometheus metrics, one call each,
// and holds the naming rule in one place: every name starts with
// "publicmask_" (a name without it panics, at start-up).
package metric

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// Prefix starts every metric name.
const Prefix = "publicmask_"

func checked(name string) string {
	if !strings.HasPrefix(name, Prefix) {
		panic("metric: " + name + " lacks the " + Prefix + " prefix")
	}
	return name
}

// Counter is a counter without labels.
func Counter(name, help string) prometheus.Counter {
	return prometheus.NewCounter(prometheus.CounterOpts{Name: checked(name), Help: help})
}

// CounterVec is a counter by labels.
func CounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: checked(name), Help: help}, labels)
}

// Gauge is a gauge without labels.
func Gauge(name, help string) prometheus.Gauge {
	return prometheus.NewGauge(prometheus.GaugeOpts{Name: checked(name), Help: help})
}

// GaugeVec is a gauge by labels.
func GaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: checked(name), Help: help}, labels)
}

// Histogram is a histogram without labels.
func Histogram(name, help string, buckets []float64) prometheus.Histogram {
	return prometheus.NewHistogram(prometheus.HistogramOpts{Name: checked(name), Help: help, Buckets: buckets})
}

// HistogramVec is a histogram by labels.
func HistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: checked(name), Help: help, Buckets: buckets}, labels)
}

// GaugeFunc is a gauge read from f at each scrape.
func GaugeFunc(name, help string, f func() float64) prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: checked(name), Help: help}, f)
}

// CounterFunc is a counter read from f at each scrape.
func CounterFunc(name, help string, f func() float64) prometheus.CounterFunc {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: checked(name), Help: help}, f)
}
