package outletio

import (
	"bytes"
	"testing"

	"github.com/publicmask/publicmask/seed"
)

// BenchmarkParseCSV is the head of an import body as scripts/load.py sends
// it: 100,000 generated rows of CSV, parsed and validated (per body: ns,
// bytes and allocations): `go test ./outletio -run '^$' -bench ParseCSV -benchmem`.
func BenchmarkParseCSV(b *testing.B) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, seed.Outlets(seed.Options{Count: 100_000, Seed: 2020})); err != nil {
		b.Fatal(err)
	}
	body := buf.Bytes()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		os, rej, err := ParseCSV(bytes.NewReader(body))
		if err != nil || len(os) != 100_000 || len(rej) != 0 {
			b.Fatalf("%d outlets, %d rejected, %v", len(os), len(rej), err)
		}
	}
}

// BenchmarkParseCSVRows is BenchmarkParseCSV with the body's lines
// counted, as the import handler calls it.
func BenchmarkParseCSVRows(b *testing.B) {
	var buf bytes.Buffer
	if err := WriteCSV(&buf, seed.Outlets(seed.Options{Count: 100_000, Seed: 2020})); err != nil {
		b.Fatal(err)
	}
	body := buf.Bytes()
	b.SetBytes(int64(len(body)))
	b.ResetTimer()
	for range b.N {
		os, rej, err := ParseCSVRows(bytes.NewReader(body), bytes.Count(body, []byte{'\n'})+1)
		if err != nil || len(os) != 100_000 || len(rej) != 0 {
			b.Fatalf("%d outlets, %d rejected, %v", len(os), len(rej), err)
		}
	}
}
