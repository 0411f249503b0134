package outletio

import (
	"bytes"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/seed"
)

// BenchmarkParseCSV is the head of an import body as scripts/load.py sends
// it: 100,000 generated rows of CSV, parsed and validated (per body: ns,
// bytes and allocations), by ParseCSV and by ParseCSVRows with the body's
// lines counted, as the import handler calls it:
// `go test ./outletio -run '^$' -bench ParseCSV -benchmem`; with
// BENCH_IMPORT_ORDER=code the rows are in code order, as load.py sends them.
func BenchmarkParseCSV(b *testing.B) {
	var buf bytes.Buffer
	outlets := seed.Outlets(seed.Options{Count: 100_000, Seed: 2020})
	if os.Getenv("BENCH_IMPORT_ORDER") == "code" { // as scripts/load.py cuts its bodies by default
		slices.SortFunc(outlets, func(a, b publicmask.Outlet) int { return strings.Compare(a.Code, b.Code) })
	}
	if err := WriteCSV(&buf, outlets); err != nil {
		b.Fatal(err)
	}
	body := buf.Bytes()
	parsers := []struct {
		name  string
		parse func(r io.Reader) ([]publicmask.Outlet, []Rejected, error)
	}{
		{"ParseCSV", ParseCSV},
		{"ParseCSVRows", func(r io.Reader) ([]publicmask.Outlet, []Rejected, error) {
			return ParseCSVRows(r, bytes.Count(body, []byte{'\n'})+1)
		}},
	}
	for _, p := range parsers {
		b.Run(p.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			for range b.N {
				os, rej, err := p.parse(bytes.NewReader(body))
				if err != nil || len(os) != 100_000 || len(rej) != 0 {
					b.Fatalf("%d outlets, %d rejected, %v", len(os), len(rej), err)
				}
			}
		})
	}
}
