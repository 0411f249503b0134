package testenv

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// AssertNoRawID fails if any file of the database (main file, WAL, shm)
// holds a raw ID, in plain or hyphenated form.
func AssertNoRawID(t testing.TB, dbPath string, ids ...string) {
	t.Helper()
	files, _ := filepath.Glob(dbPath + "*")
	if len(files) == 0 {
		t.Fatalf("no database files at %s", dbPath)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range ids {
			plain := strings.ReplaceAll(id, "-", "")
			for _, form := range []string{plain, plain[:6] + "-" + plain[6:]} {
				if strings.Contains(string(data), form) {
					t.Fatalf("raw ID found in %s", f)
				}
			}
		}
	}
}
