// Package testdata finds the shared reference data (real 2020 API answers,
// the April 2020 outlet list, administrative areas) that tests may read but
// the repository must not contain. It lives in ../shared/data beside the
// repository, or where PUBLICMASK_DATA points.
package testdata

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Dir is the reference data directory (it may not exist).
func Dir() string {
	if d := os.Getenv("PUBLICMASK_DATA"); d != "" {
		return d
	}
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..") // the module root
	return filepath.Join(root, "..", "shared", "data")
}

// Path returns the path of a reference file. A missing file skips the test
// (a fresh clone has no ../shared), except under CI=true, where it fails.
func Path(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(Dir(), rel)
	if _, err := os.Stat(p); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("reference data %s missing (required under CI=true): %v", p, err)
		}
		tb.Skipf("reference data %s not present (see ../shared/data/README.md); skipping", p)
	}
	return p
}

// CSV reads every record of the CSV file at path (from Path, or a
// package's own testdata), failing the test on an error.
func CSV(tb testing.TB, path string) [][]string {
	tb.Helper()
	f, err := os.Open(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		tb.Fatalf("%s: %v", path, err)
	}
	return rows
}
