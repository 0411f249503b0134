package rush

import (
	"bytes"
	"fmt"
	"html"
	"math"
	"strconv"
)

// Line is one series of a chart; NaN values leave a gap (a second with no
// samples is unknown, not zero).
type Line struct {
	Name   string
	Color  string
	Y      []float64
	Dashed bool
}

// Chart is a time-series line chart, drawn as standalone SVG by hand (no
// chart library: the report must build offline and stay reviewable).
type Chart struct {
	Title  string
	YLabel string
	X      []float64 // seconds
	Lines  []Line
	Width  int // default 860
	Height int // default 300
}

const (
	padL, padR, padT, padB = 64, 16, 40, 40
)

// SVG renders the chart.
func (c Chart) SVG() []byte {
	w, h := c.Width, c.Height
	if w == 0 {
		w = 860
	}
	if h == 0 {
		h = 300
	}
	// The legend sits right-aligned on the title's line, or on a line of
	// its own below it when the two would overlap (a long title and many
	// lines); the plot then starts lower.
	top, legendY := padT, 16
	if float64(padL)+titleWidth(c.Title)+12 > float64(w-padR)-legendWidth(c.Lines) {
		top, legendY = padT+16, 34
	}
	pw, ph := float64(w-padL-padR), float64(h-top-padB)
	xmax := 1.0
	for _, x := range c.X {
		xmax = math.Max(xmax, x)
	}
	ymax := 0.0
	for _, l := range c.Lines {
		for _, y := range l.Y {
			if !math.IsNaN(y) && !math.IsInf(y, 0) {
				ymax = math.Max(ymax, y)
			}
		}
	}
	ystep, ytop := niceScale(ymax)
	xstep, xtop := niceScale(xmax)
	p := plot{top: float64(top), pw: pw, ph: ph, xtop: xtop, ytop: ytop}
	px, py := p.x, p.y

	var b bytes.Buffer
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif" font-size="12">`+"\n", w, h, w, h)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", w, h)
	fmt.Fprintf(&b, `<text x="%d" y="20" font-size="15" font-weight="bold" fill="#222">%s</text>`+"\n", padL, html.EscapeString(c.Title))
	// Grid and y ticks.
	for y := 0.0; y <= ytop+ystep/2; y += ystep {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#e4e4e4"/>`+"\n", padL, py(y), padL+pw, py(y))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" text-anchor="end" fill="#555">%s</text>`+"\n", padL-6, py(y)+4, fmtTick(y, ystep))
	}
	for x := 0.0; x <= xtop+xstep/2; x += xstep {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%.1f" stroke="#f0f0f0"/>`+"\n", px(x), top, px(x), float64(top)+ph)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle" fill="#555">%s</text>`+"\n", px(x), float64(top)+ph+16, fmtTick(x, xstep))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888"/>`+"\n", padL, float64(top)+ph, padL+pw, float64(top)+ph)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%.1f" stroke="#888"/>`+"\n", padL, top, padL, float64(top)+ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle" fill="#555">time (s)</text>`+"\n", padL+pw/2, h-6)
	fmt.Fprintf(&b, `<text transform="translate(14 %.1f) rotate(-90)" text-anchor="middle" fill="#555">%s</text>`+"\n", float64(top)+ph/2, html.EscapeString(c.YLabel))

	for _, l := range c.Lines {
		p.series(&b, l, c.X)
	}
	legend(&b, c.Lines, w, legendY)
	b.WriteString("</svg>\n")
	return b.Bytes()
}

// plot maps data to the drawing area.
type plot struct{ top, pw, ph, xtop, ytop float64 }

func (p plot) x(x float64) float64 { return padL + x/p.xtop*p.pw }
func (p plot) y(y float64) float64 { return p.top + p.ph - y/p.ytop*p.ph }

func dashOf(l Line) string {
	if l.Dashed {
		return ` stroke-dasharray="6 4"`
	}
	return ""
}

// series draws one line: a polyline per run of known values, a dot for a
// lone one.
func (p plot) series(b *bytes.Buffer, l Line, xs []float64) {
	dash := dashOf(l)
	var pts bytes.Buffer
	var seg int // points in the current segment
	var lastX, lastY float64
	flush := func() {
		switch {
		case seg == 1: // a lone point would be invisible as a polyline
			fmt.Fprintf(b, `<circle cx="%.1f" cy="%.1f" r="2.5" fill="%s"/>`+"\n", lastX, lastY, l.Color)
		case seg > 1:
			fmt.Fprintf(b, `<polyline fill="none" stroke="%s" stroke-width="1.8" stroke-linejoin="round"%s points="%s"/>`+"\n", l.Color, dash, bytes.TrimSpace(pts.Bytes()))
		}
		pts.Reset()
		seg = 0
	}
	for i, y := range l.Y {
		if i >= len(xs) || math.IsNaN(y) || math.IsInf(y, 0) {
			flush()
			continue
		}
		lastX, lastY = p.x(xs[i]), p.y(y)
		fmt.Fprintf(&pts, "%.1f,%.1f ", lastX, lastY)
		seg++
	}
	flush()
}

// legend draws the lines' names, right-aligned, on the line whose
// baseline is y+4.
func legend(b *bytes.Buffer, lines []Line, w, y int) {
	lx := float64(w - padR)
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		lx -= legendItemWidth(l)
		fmt.Fprintf(b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="%s" stroke-width="2.5"%s/>`+"\n", lx, y, lx+20, y, l.Color, dashOf(l))
		fmt.Fprintf(b, `<text x="%.1f" y="%d" fill="#333">%s</text>`+"\n", lx+24, y+4, html.EscapeString(l.Name))
	}
}

// Text widths are estimates (the SVG is read without a layout engine):
// 7 px a character of the 12 px legend, 8 of the 15 px bold title, both a
// little above Helvetica's and Arial's average.
func legendItemWidth(l Line) float64 { return 7*float64(len([]rune(l.Name))) + 30 }

func legendWidth(lines []Line) float64 {
	var w float64
	for _, l := range lines {
		w += legendItemWidth(l)
	}
	return w
}

func titleWidth(t string) float64 { return 8 * float64(len([]rune(t))) }

// niceScale picks a tick step of 1, 2 or 5 × 10^k giving about five ticks,
// and the axis top (a multiple of the step, at least the data's maximum).
func niceScale(maxV float64) (step, top float64) {
	if maxV <= 0 || math.IsNaN(maxV) {
		return 1, 1
	}
	raw := maxV / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	switch f := raw / mag; {
	case f <= 1:
		step = mag
	case f <= 2:
		step = 2 * mag
	case f <= 5:
		step = 5 * mag
	default:
		step = 10 * mag
	}
	top = math.Ceil(maxV/step) * step
	return step, top
}

func fmtTick(v, step float64) string {
	switch {
	case step >= 1000 && math.Mod(v, 1000) == 0:
		return strconv.FormatFloat(v/1000, 'f', -1, 64) + "k"
	case step >= 1:
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	dec := int(math.Ceil(-math.Log10(step)))
	return strconv.FormatFloat(v, 'f', dec, 64)
}
