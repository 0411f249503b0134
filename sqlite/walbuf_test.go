package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
)

// The writer's WAL frames reach the file in one write per commit (not two
// per frame), every commit is in the file when Write returns (a copy of
// the files taken then, as a killed process leaves them, holds it), and a
// reader on another connection sees each commit at once.
func TestWALWrittenOncePerCommit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "pm.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stopBackgroundCheckpoints(s) // its passes would read the WAL meanwhile
	const commits, rows = 20, 60
	frames0, writes0 := walBufFrameWrites.Load(), walBufWrites.Load()
	for c := range commits {
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			for i := range rows {
				// Persons spread over the key space: many pages per commit.
				pw := publicmask.PersonWeek{Person: fmt.Sprintf("%08x-%d", uint32(i*2654435761+c*40503), c), Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 1}}
				if err := tx.PutPersonWeek(pw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM person_weeks`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != (c+1)*rows {
			t.Fatalf("after commit %d a reader counts %d person-weeks, want %d", c, n, (c+1)*rows)
		}
		if c == commits/2 {
			// What a kill -9 would leave: the files as they are now.
			copyFiles(t, path, filepath.Join(dir, "copy.db"))
		}
	}
	frames, writes := walBufFrameWrites.Load()-frames0, walBufWrites.Load()-writes0
	t.Logf("%d commits: SQLite wrote %d pieces of frames, %d writes reached the file", commits, frames, writes)
	if frames < 4*commits {
		t.Fatalf("only %d frame writes for %d commits: is the writer's WAL buffered at all?", frames, commits)
	}
	if writes > commits+2 {
		t.Fatalf("%d writes reached the WAL for %d commits, want one per commit", writes, commits)
	}

	cp, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer cp.Close()
	var n int
	var ok string
	if err := cp.QueryRowContext(ctx, `SELECT COUNT(*) FROM person_weeks`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if want := (commits/2 + 1) * rows; n != want {
		t.Fatalf("the copy taken after commit %d holds %d person-weeks, want %d", commits/2, n, want)
	}
	if err := cp.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&ok); err != nil || ok != "ok" {
		t.Fatalf("integrity of the copy: %q, %v", ok, err)
	}
}

func copyFiles(t *testing.T, from, to string) {
	t.Helper()
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(from + suffix)
		if err != nil && !(suffix != "" && os.IsNotExist(err)) {
			t.Fatal(err)
		}
		if err := os.WriteFile(to+suffix, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(from + "-wal"); err != nil && !strings.Contains(err.Error(), "no such") {
		t.Fatal(err)
	}
}

// A commit's buffer is kept for the next: after a transaction of several
// MB (a delivery list), the sales' commits append to the same array
// instead of growing a new one each time (a build that dropped buffers
// over 2 MiB allocated ~50 MB/s in capacity rushes, whose deliveries
// made such transactions every few seconds).
func TestWALBufferKeptAcrossCommits(t *testing.T) {
	ctx := context.Background()
	// Buffers of other stores still open (a broken store's Close leaves
	// its handles open) are not this one's.
	others := map[any]bool{}
	walBufs.Range(func(k, _ any) bool { others[k] = true; return true })
	s := openTest(t)
	stopBackgroundCheckpoints(s)
	put := func(c, rows int) {
		t.Helper()
		err := s.Write(ctx, func(tx publicmask.Tx) error {
			for i := range rows {
				pw := publicmask.PersonWeek{Person: fmt.Sprintf("%08x-%d-%d", uint32(i*2654435761+c*40503), c, i), Week: "2020-03-09", Usage: publicmask.Usage{Quantity: 1}}
				if err := tx.PutPersonWeek(pw); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(0, 60000) // several MB of frames
	array := func() (p *byte, n int) {
		walBufs.Range(func(k, v any) bool {
			b := v.(*walBuf)
			if cap(b.buf) > 0 && !others[k] {
				p, n = &b.buf[:1][0], cap(b.buf)
			}
			return true
		})
		return p, n
	}
	first, size := array()
	if first == nil || size < 2<<20 {
		t.Fatalf("after a large transaction the buffer holds %d bytes", size)
	}
	for c := 1; c <= 5; c++ {
		put(c, 100)
		if p, _ := array(); p != first {
			t.Fatalf("commit %d appended to a new array", c)
		}
	}
}
