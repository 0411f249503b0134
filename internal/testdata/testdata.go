// Package testdata finds the shared reference data (real 2020 API answers,
// the April 2020 outlet list, administrative areas) that tests may read but
// the repository must not contain. It lives in ../shared/data beside the
// repository, or where PUBLICMASK_DATA points.
package testdata

import (
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
