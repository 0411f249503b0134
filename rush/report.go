package rush

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Report is report.json. The fields named in DESIGN.md (duration_s,
// sales, reads, freshness, ghost, violations) are a contract; the rest is
// detail for whoever reads the run.
type Report struct {
	Format     int            `json:"format"`
	StartedAt  time.Time      `json:"started_at"`
	DurationS  float64        `json:"duration_s"`
	Settings   Settings       `json:"settings"`
	Machine    Machine        `json:"machine"`
	Server     ServerInfo     `json:"server"`
	Sales      SalesReport    `json:"sales"`
	Reads      ReadsReport    `json:"reads"`
	Freshness  FreshReport    `json:"freshness"`
	Ghost      GhostReport    `json:"ghost"`
	Forecast   ForecastReport `json:"forecast"`
	Streams    StreamReport   `json:"streams"`
	Replay     ReplayReport   `json:"replay"`
	Acked      AckedReport    `json:"acked"`
	Public     PublicReport   `json:"public"`
	Verify     VerifyResult   `json:"verify"`
	CPU        CPUReport      `json:"cpu"`
	Violations []Violation    `json:"violations"`
	Series     []Point        `json:"series"`
}

// Settings are the run's parameters.
type Settings struct {
	Target       string  `json:"target"` // "" = own in-process server
	Duration     string  `json:"duration"`
	Outlets      int     `json:"outlets"`
	OutletsFile  string  `json:"outlets_file,omitempty"`
	SalesRate    float64 `json:"sales_rate"`
	ReadRate     float64 `json:"read_rate"`
	Shape        string  `json:"shape"`
	Clock        string  `json:"clock,omitempty"`
	Policy       string  `json:"policy,omitempty"`
	Seed         int64   `json:"seed"`
	SalesWorkers int     `json:"sales_workers"`
	ReadWorkers  int     `json:"read_workers"`
	Streams      int     `json:"streams"`
	Scrapers     int     `json:"scrapers"`
	ProbeEvery   int     `json:"probe_every"`
	Timeout      string  `json:"timeout"`
	Gzip         bool    `json:"gzip"`
	SaleMix      string  `json:"sale_mix"`
	ReadMix      string  `json:"read_mix"`
}

// Machine is where the run happened (the generator shares it with an own
// server).
type Machine struct {
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model"`
	GoVersion  string `json:"go_version"`
	OS         string `json:"os"`
}

// ServerInfo is what the server said about the day.
type ServerInfo struct {
	Date             string `json:"date"`
	DigitsToday      []int  `json:"digits_today"`
	WeeklyQuota      *int   `json:"weekly_quota"`
	PurchasesPerWeek *int   `json:"purchases_per_week"`
}

// SalesReport: ok = acknowledged (201, or 200 after a retry), rejected =
// the intended 4xx answers, errors = transport failures, 5xx and
// unexpected codes; per_sec = ok / duration_s; latencies cover answered
// attempts (ok and rejected), first send to final answer.
type SalesReport struct {
	OK                  int64   `json:"ok"`
	Rejected            int64   `json:"rejected"`
	Errors              int64   `json:"errors"`
	PerSec              float64 `json:"per_sec"`
	P50                 float64 `json:"p50_ms"`
	P90                 float64 `json:"p90_ms"`
	P99                 float64 `json:"p99_ms"`
	Max                 float64 `json:"max_ms"`
	Attempts            int64   `json:"http_attempts"`
	Retries             int64   `json:"retries"`
	Dropped             int64   `json:"dropped"`
	FirstAttemptReplays int64   `json:"first_attempt_replays"`
	// EligibleRefused: buyers of today's birth years with valid IDs
	// refused as not eligible today or mistyped (violations unless the
	// server's date changed during the run).
	EligibleRefused int64                       `json:"eligible_refused"`
	RejectedBy      map[string]int64            `json:"rejected_by"`
	ErrorsBy        map[string]int64            `json:"errors_by"`
	ByKind          map[string]map[string]int64 `json:"by_kind"`
}

// ReadsReport: shed = 503 overloaded; per_sec = ok / duration_s.
type ReadsReport struct {
	OK           int64                `json:"ok"`
	Errors       int64                `json:"errors"`
	Shed         int64                `json:"shed"`
	PerSec       float64              `json:"per_sec"`
	P50          float64              `json:"p50_ms"`
	P90          float64              `json:"p90_ms"`
	P99          float64              `json:"p99_ms"`
	Max          float64              `json:"max_ms"`
	Dropped      int64                `json:"dropped"`
	ByKind       map[string]KindStats `json:"by_kind"`
	ErrorsBy     map[string]int64     `json:"errors_by"`
	ErrorSamples []string             `json:"error_samples,omitempty"`
}

// KindStats is one kind of public read.
type KindStats struct {
	OK     int64   `json:"ok"`
	Errors int64   `json:"errors"`
	Shed   int64   `json:"shed"`
	P50    float64 `json:"p50_ms"`
	P99    float64 `json:"p99_ms"`
}

// FreshReport: time from a sale's acknowledgement to the first public
// answer (GET /api/v2/outlets/{code}) that shows it.
type FreshReport struct {
	Samples  uint64  `json:"samples"`
	P50      float64 `json:"p50_ms"`
	P90      float64 `json:"p90_ms"`
	P99      float64 `json:"p99_ms"`
	Max      float64 `json:"max_ms"`
	Timeouts int64   `json:"timeouts"`
	Skipped  int64   `json:"skipped"`
	Requests int64   `json:"probe_requests"`
}

// GhostReport: reads = outlet records in sampled public answers compared
// with the acknowledged stock; share = the part showing a band above it;
// max_age_ms = how long before the read the contradicting acknowledgement
// was, at worst.
type GhostReport struct {
	Reads    int64   `json:"reads"`
	Ghosts   int64   `json:"ghosts"`
	Share    float64 `json:"share"`
	MaxAgeMs float64 `json:"max_age_ms"`
}

// StreamReport counts the live-map subscribers' experience.
type StreamReport struct {
	Subscribers int   `json:"subscribers"`
	Connects    int64 `json:"connects"`
	Events      int64 `json:"events"`
	Errors      int64 `json:"errors"`
}

// ReplayReport: acknowledged sales sent again with their txn_id and body.
type ReplayReport struct {
	Sampled int `json:"sampled"`
	OK      int `json:"ok"`
	Failed  int `json:"failed"`
}

// AckedReport: the acknowledged sales read back from their outlets' lists
// of sales. found = standing as acknowledged; missing = absent, cancelled
// or with another quantity (lost after the acknowledgement); unchecked =
// older than the latest sales an outlet lists, or not read.
type AckedReport struct {
	Sales     int64 `json:"sales"`
	Found     int64 `json:"found"`
	Missing   int64 `json:"missing"`
	Unchecked int64 `json:"unchecked"`
}

// PublicReport: the outlets that sold, their public remain_stat compared
// with the ledger's once the load is over: agree, stale (still different
// after the settling time) or unread (an error).
type PublicReport struct {
	Outlets int `json:"outlets"`
	Agree   int `json:"agree"`
	Stale   int `json:"stale"`
	Unread  int `json:"unread"`
}

// VerifyResult is GET /api/v2/admin/verify's answer: conflicts counts
// the flagged late sales, which are not violations (DESIGN.md §4.4).
type VerifyResult struct {
	OK         bool            `json:"ok"`
	Conflicts  int             `json:"conflicts"`
	Violations json.RawMessage `json:"violations,omitempty"`
	Checked    json.RawMessage `json:"checked,omitempty"`
	Error      string          `json:"error,omitempty"`
}

// Violation is a broken invariant.
type Violation struct {
	Check  string `json:"check"`
	Detail string `json:"detail"`
}

func (v Violation) String() string { return v.Check + ": " + v.Detail }

// Point is one second of the run; latency fields are null in a second
// without samples.
type Point struct {
	T             int      `json:"t"`
	SalesTarget   float64  `json:"sales_target"`
	SalesOK       int64    `json:"sales_ok"`
	SalesRejected int64    `json:"sales_rejected"`
	SalesErrors   int64    `json:"sales_errors"`
	SalesDropped  int64    `json:"sales_dropped"`
	SalesP50      *float64 `json:"sales_p50_ms"`
	SalesP99      *float64 `json:"sales_p99_ms"`
	ReadsTarget   float64  `json:"reads_target"`
	ReadsOK       int64    `json:"reads_ok"`
	ReadsErrors   int64    `json:"reads_errors"`
	ReadsShed     int64    `json:"reads_shed"`
	ReadsDropped  int64    `json:"reads_dropped"`
	ReadsP50      *float64 `json:"reads_p50_ms"`
	ReadsP99      *float64 `json:"reads_p99_ms"`
	FreshSamples  uint64   `json:"fresh_samples"`
	FreshP50      *float64 `json:"fresh_p50_ms"`
	FreshP99      *float64 `json:"fresh_p99_ms"`
	FreshMax      *float64 `json:"fresh_max_ms"`
	GhostReads    int64    `json:"ghost_reads"`
	Ghosts        int64    `json:"ghosts"`
}

func pct(h *Hist, q float64) *float64 {
	if h.Count() == 0 {
		return nil
	}
	v := ms(h.Quantile(q))
	return &v
}

// series turns the per-second tallies into points, up to the last second
// that saw anything (requests in flight at the end land after it).
func (e *engine) series() []Point {
	n := int(math.Ceil(e.cfg.Duration.Seconds()))
	for i := len(e.secs) - 1; i >= n; i-- {
		s := e.secs[i]
		if s.salesOK.Load()+s.salesRej.Load()+s.salesErr.Load()+s.readsOK.Load()+s.readsErr.Load()+s.readsShed.Load() > 0 || s.fresh.Count() > 0 {
			n = i + 1
			break
		}
	}
	dur := e.cfg.Duration.Seconds()
	pts := make([]Point, 0, n)
	for i := 0; i < n && i < len(e.secs); i++ {
		s := e.secs[i]
		f := (float64(i) + 0.5) / dur
		target := func(rate float64) float64 {
			if f > 1 {
				return 0
			}
			return math.Round(rate * Surge(f))
		}
		p := Point{
			T:           i,
			SalesTarget: target(e.cfg.SalesRate), SalesOK: s.salesOK.Load(), SalesRejected: s.salesRej.Load(),
			SalesErrors: s.salesErr.Load(), SalesDropped: s.salesDropped.Load(),
			SalesP50: pct(&s.sales, 0.5), SalesP99: pct(&s.sales, 0.99),
			ReadsTarget: target(e.cfg.ReadRate), ReadsOK: s.readsOK.Load(), ReadsErrors: s.readsErr.Load(),
			ReadsShed: s.readsShed.Load(), ReadsDropped: s.readsDropped.Load(),
			ReadsP50: pct(&s.reads, 0.5), ReadsP99: pct(&s.reads, 0.99),
			FreshSamples: s.fresh.Count(), FreshP50: pct(&s.fresh, 0.5), FreshP99: pct(&s.fresh, 0.99),
			GhostReads: s.ghostChecked.Load(), Ghosts: s.ghosts.Load(),
		}
		if s.fresh.Count() > 0 {
			m := ms(s.fresh.Max())
			p.FreshMax = &m
		}
		pts = append(pts, p)
	}
	return pts
}

// Write puts report.json, the SVG charts and report.html in dir.
func (r *Report) Write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if r.Violations == nil {
		r.Violations = []Violation{}
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "report.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	charts := r.Charts()
	for _, c := range charts {
		if err := os.WriteFile(filepath.Join(dir, c.file), c.chart.SVG(), 0o644); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "report.html"), r.HTML(charts), 0o644)
}

type namedChart struct {
	file  string
	chart Chart
}

func val(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

// Charts are the report's charts over time.
func (r *Report) Charts() []namedChart {
	n := len(r.Series)
	x := make([]float64, n)
	col := func(f func(Point) float64) []float64 {
		y := make([]float64, n)
		for i, p := range r.Series {
			y[i] = f(p)
		}
		return y
	}
	for i, p := range r.Series {
		x[i] = float64(p.T) + 0.5
	}
	return []namedChart{
		{"throughput.svg", Chart{Title: "Throughput", YLabel: "requests/s", X: x, Lines: []Line{
			{Name: "sales ok/s", Color: "#d62728", Y: col(func(p Point) float64 { return float64(p.SalesOK) })},
			{Name: "sales offered/s", Color: "#d62728", Dashed: true, Y: col(func(p Point) float64 { return p.SalesTarget })},
			{Name: "reads ok/s", Color: "#1f77b4", Y: col(func(p Point) float64 { return float64(p.ReadsOK) })},
			{Name: "reads offered/s", Color: "#1f77b4", Dashed: true, Y: col(func(p Point) float64 { return p.ReadsTarget })},
		}}},
		{"outcomes.svg", Chart{Title: "Rejections, errors, shedding, dropped", YLabel: "per second", X: x, Lines: []Line{
			{Name: "sales rejected", Color: "#ff7f0e", Y: col(func(p Point) float64 { return float64(p.SalesRejected) })},
			{Name: "sales errors", Color: "#8c1c13", Y: col(func(p Point) float64 { return float64(p.SalesErrors) })},
			{Name: "reads shed", Color: "#9467bd", Y: col(func(p Point) float64 { return float64(p.ReadsShed) })},
			{Name: "reads errors", Color: "#17becf", Y: col(func(p Point) float64 { return float64(p.ReadsErrors) })},
			{Name: "dropped (generator)", Color: "#7f7f7f", Dashed: true, Y: col(func(p Point) float64 { return float64(p.SalesDropped + p.ReadsDropped) })},
		}}},
		{"latency-sales.svg", Chart{Title: "Sale latency (counter's wait)", YLabel: "ms", X: x, Lines: []Line{
			{Name: "p50", Color: "#2ca02c", Y: col(func(p Point) float64 { return val(p.SalesP50) })},
			{Name: "p99", Color: "#d62728", Y: col(func(p Point) float64 { return val(p.SalesP99) })},
		}}},
		{"latency-reads.svg", Chart{Title: "Public read latency", YLabel: "ms", X: x, Lines: []Line{
			{Name: "p50", Color: "#2ca02c", Y: col(func(p Point) float64 { return val(p.ReadsP50) })},
			{Name: "p99", Color: "#1f77b4", Y: col(func(p Point) float64 { return val(p.ReadsP99) })},
		}}},
		{"freshness.svg", Chart{Title: "Freshness: sale acknowledged → visible in the public API", YLabel: "ms", X: x, Lines: []Line{
			{Name: "p50", Color: "#2ca02c", Y: col(func(p Point) float64 { return val(p.FreshP50) })},
			{Name: "p99", Color: "#9467bd", Y: col(func(p Point) float64 { return val(p.FreshP99) })},
			{Name: "max", Color: "#7f7f7f", Dashed: true, Y: col(func(p Point) float64 { return val(p.FreshMax) })},
		}}},
	}
}

// HTML is report.html: the verdict, the figures, the settings and the
// charts inline, so the file stands alone.
func (r *Report) HTML(charts []namedChart) []byte {
	var b bytes.Buffer
	esc := html.EscapeString
	verdict, color := "PASS — no invariant violated", "#2a7d2a"
	if len(r.Violations) > 0 {
		verdict, color = fmt.Sprintf("FAIL — %d invariant violation(s)", len(r.Violations)), "#b00020"
	}
	fmt.Fprintf(&b, `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>publicmask rush %s</title>
<style>body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222;max-width:960px}
table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ddd;padding:4px 10px;text-align:left}
th{background:#f5f5f5}td.n{text-align:right;font-variant-numeric:tabular-nums}.verdict{font-size:20px;font-weight:bold;color:%s}
figure{margin:0 0 16px}code{background:#f3f3f3;padding:1px 4px}</style></head><body>
`, esc(r.StartedAt.Format(time.RFC3339)), color)
	fmt.Fprintf(&b, "<h1>publicmask rush — the 08:00 rush, rehearsed</h1>\n<p class=verdict>%s</p>\n", esc(verdict))
	target := r.Settings.Target
	if target == "" {
		target = "own in-process server (temporary SQLite store)"
	}
	fmt.Fprintf(&b, "<p>Started %s, %.1f s against %s, server date %s (digits today %v), on %d CPUs (%s).</p>\n",
		esc(r.StartedAt.Format(time.RFC3339)), r.DurationS, esc(target), esc(r.Server.Date), r.Server.DigitsToday, r.Machine.CPUs, esc(r.Machine.CPUModel))

	row := func(cells ...any) {
		b.WriteString("<tr>")
		for i, c := range cells {
			cls := ""
			if i > 0 {
				cls = ` class=n`
			}
			fmt.Fprintf(&b, "<td%s>%s</td>", cls, esc(fmt.Sprint(c)))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("<h2>Figures</h2><table><tr><th></th><th>ok</th><th>per s</th><th>p50 ms</th><th>p99 ms</th><th>max ms</th><th>rejected / shed</th><th>errors</th><th>dropped</th></tr>\n")
	row("sales", r.Sales.OK, f1(r.Sales.PerSec), r.Sales.P50, r.Sales.P99, r.Sales.Max, r.Sales.Rejected, r.Sales.Errors, r.Sales.Dropped)
	row("public reads", r.Reads.OK, f1(r.Reads.PerSec), r.Reads.P50, r.Reads.P99, r.Reads.Max, r.Reads.Shed, r.Reads.Errors, r.Reads.Dropped)
	row("freshness probes", r.Freshness.Samples, "", r.Freshness.P50, r.Freshness.P99, r.Freshness.Max, "", r.Freshness.Timeouts, r.Freshness.Skipped)
	b.WriteString("</table>\n")
	fmt.Fprintf(&b, "<p>Ghost stock: %d of %d outlet records read (%.3f%%) showed a band above the acknowledged sales; the oldest contradiction was %.1f ms old.</p>\n",
		r.Ghost.Ghosts, r.Ghost.Reads, 100*r.Ghost.Share, r.Ghost.MaxAgeMs)
	if r.Forecast.Outlets == 0 { // zeros, not a perfect forecast
		b.WriteString("<p>Sell-out forecast: no outlet sold out during the run after its forecast was read at half stock, so the forecast's error was not measured (a longer run sells outlets out).</p>\n")
	} else {
		fmt.Fprintf(&b, "<p>Sell-out forecast: %d outlets sold out during the run; for the forecast read when half their stock was left, the median absolute error was %.1f%% of the time that remained (p90 %.1f%%, aim ≤ %.0f%%; median time remaining %.1f s; %d without a forecast, counted as 100%%).</p>\n",
			r.Forecast.Outlets, 100*r.Forecast.MedianAbsError, 100*r.Forecast.P90AbsError, 100*r.Forecast.Aim, r.Forecast.MedianRemainingS, r.Forecast.NoForecast)
	}
	fmt.Fprintf(&b, "<p>Live stream: %d subscribers, %d events, %d errors. Replay: %d of %d acknowledged sales answered again with their first receipt. Server verify: ok=%v, %d flagged late sales (conflicts, not violations).</p>\n",
		r.Streams.Subscribers, r.Streams.Events, r.Streams.Errors, r.Replay.OK, r.Replay.Sampled, r.Verify.OK, r.Verify.Conflicts)
	fmt.Fprintf(&b, "<p>Acknowledged sales read back from their outlets: %d of %d standing as acknowledged, %d missing, %d unchecked (older than the latest sales an outlet lists).</p>\n",
		r.Acked.Found, r.Acked.Sales, r.Acked.Missing, r.Acked.Unchecked)
	fmt.Fprintf(&b, "<p>Public view after the load: %d of %d outlets that sold show the ledger's remain_stat (%d stale, %d unread).</p>\n",
		r.Public.Agree, r.Public.Outlets, r.Public.Stale, r.Public.Unread)

	b.WriteString("<h2>Answers by buyer</h2><table><tr><th>buyer</th><th>answers</th></tr>\n")
	for _, k := range sortedKeys(r.Sales.ByKind) {
		var parts []string
		for _, c := range sortedKeys(r.Sales.ByKind[k]) {
			parts = append(parts, fmt.Sprintf("%s: %d", c, r.Sales.ByKind[k][c]))
		}
		row(k, strings.Join(parts, ", "))
	}
	b.WriteString("</table>\n<h2>Reads by kind</h2><table><tr><th>kind</th><th>ok</th><th>shed</th><th>errors</th><th>p50 ms</th><th>p99 ms</th></tr>\n")
	for _, k := range sortedKeys(r.Reads.ByKind) {
		s := r.Reads.ByKind[k]
		row(k, s.OK, s.Shed, s.Errors, s.P50, s.P99)
	}
	b.WriteString("</table>\n")
	if len(r.Violations) > 0 {
		b.WriteString("<h2>Violations</h2><ul>\n")
		for _, v := range r.Violations {
			fmt.Fprintf(&b, "<li><code>%s</code> %s</li>\n", esc(v.Check), esc(v.Detail))
		}
		b.WriteString("</ul>\n")
	}
	b.WriteString("<h2>Over time</h2>\n")
	for _, c := range charts {
		fmt.Fprintf(&b, "<figure>%s</figure>\n", c.chart.SVG())
	}
	b.WriteString("<h2>Settings</h2><table>\n")
	var set map[string]any
	js, _ := json.Marshal(r.Settings)
	json.Unmarshal(js, &set)
	for _, k := range sortedKeys(set) {
		row(k, set[k])
	}
	b.WriteString("</table>\n<p>Full data: <a href=\"report.json\">report.json</a>.</p></body></html>\n")
	return b.Bytes()
}

func f1(x float64) string { return fmt.Sprintf("%.1f", x) }

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
