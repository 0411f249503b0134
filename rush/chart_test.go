package rush

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"testing"
)

// TestChartLegendClearOfTitle: every chart of a report keeps its legend
// off its title. The outcomes chart's five-line legend ran over its title
// ("Rejections, errors, shedding, dropped"), seen in headless Chromium.
// The title's width is taken at 7.3 px a character (its 15 px bold text,
// measured in that rendering).
func TestChartLegendClearOfTitle(t *testing.T) {
	p := 1.0
	r := &Report{DurationS: 3, Series: []Point{{T: 0, SalesP99: &p, ReadsP99: &p, FreshP99: &p}, {T: 1}, {T: 2}}}
	for _, c := range r.Charts() {
		title, titleX, titleY := "", 0.0, 0.0
		legendX, legendY := math.Inf(1), 0.0
		d := xml.NewDecoder(bytes.NewReader(c.chart.SVG()))
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			se, ok := tok.(xml.StartElement)
			if !ok {
				continue
			}
			attr := map[string]string{}
			for _, a := range se.Attr {
				attr[a.Name.Local] = a.Value
			}
			num := func(k string) float64 { v, _ := strconv.ParseFloat(attr[k], 64); return v }
			switch {
			case se.Name.Local == "text" && attr["font-size"] == "15":
				var s string
				d.DecodeElement(&s, &se)
				title, titleX, titleY = s, num("x"), num("y")
			case se.Name.Local == "line" && attr["stroke-width"] == "2.5": // a legend key
				if x := num("x1"); x < legendX {
					legendX, legendY = x, num("y1")
				}
			}
		}
		if title == "" || math.IsInf(legendX, 1) {
			t.Fatalf("%s: no title or legend found", c.file)
		}
		titleEnd := titleX + 7.3*float64(len([]rune(title)))
		if legendY < titleY+8 && legendX < titleEnd+6 {
			t.Errorf("%s: legend starts at x=%.0f on the title's line, the title %q ends at about x=%.0f", c.file, legendX, title, titleEnd)
		}
	}
}

// TestVerifyConflictsKept: the server's verify counts flagged late sales
// as "conflicts" (DESIGN.md §4.4); report.json dropped the figure.
func TestVerifyConflictsKept(t *testing.T) {
	var v VerifyResult
	if err := json.Unmarshal([]byte(`{"ok":true,"violations":[],"conflicts":3,"checked":{"sales":9}}`), &v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(&Report{Verify: v})
	if !bytes.Contains(b, []byte(`"verify":{"ok":true,"conflicts":3`)) {
		t.Fatalf("report.json verify: %s", b[bytes.Index(b, []byte(`"verify"`)):][:80])
	}
}
