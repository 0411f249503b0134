package sqlite

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/publicmask/publicmask/internal/powerloss"
)

// The flush that acknowledges commits leaves nothing of the WAL for a power
// cut to take: neither its data nor, when the file is new (first flush, or
// SQLite recreated it), its directory entry. (SQLite with synchronous=NORMAL
// also flushes the directory when it writes a new WAL's header, so the
// power-cut test of the binary cannot notice a missing directory flush
// here alone; this test does.)
func TestFlushLeavesNothingToAPowerCut(t *testing.T) {
	fsys := powerloss.MountTest(t)
	d := newDurability(filepath.Join(fsys.Dir(), "pm.db"))
	t.Cleanup(d.close) // flush keeps the file open: closed before the unmount
	for round, what := range []string{"a new WAL", "a recreated WAL"} {
		data := bytes.Repeat([]byte{byte('a' + round)}, 5000)
		os.Remove(d.wal)
		if err := os.WriteFile(d.wal, data, 0o644); err != nil {
			t.Fatal(err)
		}
		if w, n := fsys.Pending(); w == 0 || n == 0 {
			t.Fatalf("%s: nothing pending before the flush (%d writes, %d names): the test proves nothing", what, w, n)
		}
		if err := d.flush(); err != nil {
			t.Fatal(err)
		}
		if w, n := fsys.Pending(); w != 0 || n != 0 {
			t.Fatalf("%s: after the flush a power cut would still lose %d writes and %d names", what, w, n)
		}
		d.close() // the cut unmounts: no file may be open (the next flush opens it again)
		if _, err := fsys.Cut(powerloss.CutOptions{}); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(d.wal); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s after a cut: %d bytes, %v", what, len(got), err)
		}
	}
}
