package powerloss

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func syncPath(t *testing.T, p string) {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		t.Fatalf("fsync %s: %v", p, err)
	}
}

// write writes data at off, then fsyncs the file if syncFile.
func write(t *testing.T, p string, off int64, data []byte, syncFile bool) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
	if syncFile {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
	}
}

func read(t *testing.T, p string) (string, bool) {
	t.Helper()
	if info, err := os.Stat(p); err == nil && info.IsDir() {
		return "(directory)", true
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(b), true
}

func cut(t *testing.T, f *FS, o CutOptions) CutReport {
	t.Helper()
	rep, err := f.Cut(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Log(rep)
	return rep
}

// Each case builds a history on the mount, cuts the power, and names what
// every file must then hold ("" and absent = the file must not exist).
func TestCut(t *testing.T) {
	type want struct {
		content string
		exists  bool
	}
	cases := []struct {
		name  string
		build func(t *testing.T, dir string)
		want  map[string]want
	}{
		{"synced write survives, unsynced write is lost", func(t *testing.T, dir string) {
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			write(t, a, 0, []byte("one"), true)
			write(t, b, 0, []byte("one"), true)
			syncPath(t, dir)
			write(t, a, 3, []byte("two"), false)
			write(t, b, 3, []byte("two"), true)
			write(t, a, 0, []byte("ONE"), false) // an overwrite is undone too
		}, map[string]want{"a": {"one", true}, "b": {"onetwo", true}}},

		{"a created file needs its directory synced", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "x"), 0, []byte("data"), true)
			write(t, filepath.Join(dir, "y"), 0, []byte("data"), true)
			syncPath(t, dir)
			write(t, filepath.Join(dir, "z"), 0, []byte("data"), true) // after the directory sync
		}, map[string]want{"x": {"data", true}, "y": {"data", true}, "z": {}}},

		{"a rename over a file needs its directory synced", func(t *testing.T, dir string) {
			b, btmp := filepath.Join(dir, "b"), filepath.Join(dir, "b.tmp")
			write(t, b, 0, []byte("old"), true)
			write(t, btmp, 0, []byte("new"), true)
			if err := os.Rename(btmp, b); err != nil {
				t.Fatal(err)
			}
			a, tmp := filepath.Join(dir, "a"), filepath.Join(dir, "a.tmp")
			write(t, a, 0, []byte("old"), true)
			syncPath(t, dir)
			write(t, tmp, 0, []byte("new"), true)
			if err := os.Rename(tmp, a); err != nil {
				t.Fatal(err)
			}
		}, map[string]want{"a": {"old", true}, "a.tmp": {}, "b": {"new", true}, "b.tmp": {}}},

		{"an unlink needs its directory synced", func(t *testing.T, dir string) {
			a, b, c := filepath.Join(dir, "a"), filepath.Join(dir, "b"), filepath.Join(dir, "c")
			write(t, a, 0, []byte("kept"), true)
			write(t, b, 0, []byte("gone"), true)
			syncPath(t, dir)
			os.Remove(b)
			write(t, c, 0, []byte("c"), true)
			syncPath(t, dir)                           // covers b's unlink and c's create
			write(t, a, 4, []byte(" and more"), false) // unsynced data of a file unlinked goes too
			os.Remove(a)
			os.Remove(c)
		}, map[string]want{"a": {"kept", true}, "b": {}, "c": {"c", true}}},

		{"a truncation is undone until the file is synced", func(t *testing.T, dir string) {
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			write(t, a, 0, []byte("hello world"), true)
			write(t, b, 0, []byte("hello world"), true)
			syncPath(t, dir)
			if err := os.Truncate(a, 5); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(b, 5); err != nil {
				t.Fatal(err)
			}
			syncPath(t, b)
			if err := os.WriteFile(a+"2", nil, 0o644); err != nil { // O_TRUNC of a new file
				t.Fatal(err)
			}
		}, map[string]want{"a": {"hello world", true}, "b": {"hello", true}, "a2": {}}},

		{"a directory and what it holds need their directories synced", func(t *testing.T, dir string) {
			e := filepath.Join(dir, "e")
			if err := os.Mkdir(e, 0o755); err != nil {
				t.Fatal(err)
			}
			syncPath(t, dir)
			write(t, filepath.Join(e, "f"), 0, []byte("f"), true)
			syncPath(t, e)
			d := filepath.Join(dir, "d")
			if err := os.Mkdir(d, 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(d, "f"), 0, []byte("f"), true)
			syncPath(t, d) // the file's entry is in d, but d's own entry is not synced
		}, map[string]want{"d": {}, "e/f": {"f", true}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := MountTest(t)
			c.build(t, f.Dir())
			cut(t, f, CutOptions{})
			for name, w := range c.want {
				got, ok := read(t, filepath.Join(f.Dir(), name))
				if ok != w.exists || got != w.content {
					if w.exists {
						t.Errorf("%s: got %q (exists %v), want %q", name, got, ok, w.content)
					} else {
						t.Errorf("%s: exists with %q after the cut, want it gone", name, got)
					}
				}
			}
			if w, n := f.Pending(); w != 0 || n != 0 {
				t.Errorf("after the cut %d writes and %d names still pending", w, n)
			}
		})
	}
}

// KeepPrefix keeps, per file, the first k unsynced writes for a random k:
// never a later write without the earlier ones.
func TestCutKeepsARandomPrefix(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "log")
	write(t, p, 0, nil, true)
	syncPath(t, f.Dir())
	const n = 10
	seen := map[int]bool{}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 12 {
		for i := range n {
			write(t, p, int64(i*100), bytes.Repeat([]byte{byte('a' + i)}, 100), false)
		}
		rep := cut(t, f, CutOptions{Rand: rng, KeepPrefix: true})
		got, _ := read(t, p)
		k := len(got) / 100
		if want := (FileCut{Path: "log", Kept: k, Dropped: n - k, DroppedBytes: int64(n-k) * 100}); len(rep.Files) != 1 || rep.Files[0] != want {
			t.Fatalf("report's files %+v, want [%+v]", rep.Files, want)
		}
		var want []byte
		for i := range k {
			want = append(want, bytes.Repeat([]byte{byte('a' + i)}, 100)...)
		}
		if got != string(want) {
			t.Fatalf("after the cut the file is not a prefix of its writes: %q", got)
		}
		seen[k] = true
		if err := os.Truncate(p, 0); err != nil {
			t.Fatal(err)
		}
		syncPath(t, p)
	}
	if len(seen) < 3 {
		t.Fatalf("12 cuts kept only prefixes of lengths %v: not random", seen)
	}
}

// Tear keeps a write's sectors up to a 512-byte boundary inside it and
// the old contents after it.
func TestCutTearsAWriteAtASectorBoundary(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "db")
	write(t, p, 0, bytes.Repeat([]byte{'o'}, 4096), true)
	syncPath(t, f.Dir())
	rng := rand.New(rand.NewPCG(3, 4))
	bounds := map[int]bool{}
	for range 8 {
		write(t, p, 1000, bytes.Repeat([]byte{'n'}, 2100), false) // spans 1024 … 3072
		rep := cut(t, f, CutOptions{Rand: rng, Tear: true})
		if rep.Torn != 1 {
			t.Fatalf("report %v: want one torn write", rep)
		}
		got, _ := read(t, p)
		b := bytes.IndexByte([]byte(got[1000:]), 'o') + 1000
		if len(got) != 4096 || b%512 != 0 || b <= 1000 || b > 3100 ||
			got != string(bytes.Repeat([]byte{'o'}, 1000))+string(bytes.Repeat([]byte{'n'}, b-1000))+string(bytes.Repeat([]byte{'o'}, 4096-b)) {
			t.Fatalf("torn write: new bytes end at %d, file %d bytes", b, len(got))
		}
		// The bytes after the tear (an earlier tear may have kept more of
		// the same data: the file does not tell where this one was).
		if d := rep.DroppedBytes; d <= 0 || d >= 2100 || (3100-d)%512 != 0 || len(rep.Files) != 1 || rep.Files[0].Path != "db" {
			t.Fatalf("report %v %+v: want the bytes of db after a sector boundary lost", rep, rep.Files)
		}
		bounds[b] = true
	}
	if len(bounds) < 2 {
		t.Fatalf("tears only at %v", bounds)
	}
}

// Beyond the quota a write fails with ENOSPC and changes nothing; once the
// quota is lifted, writes succeed again.
func TestQuota(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "a")
	write(t, p, 0, make([]byte, 1000), true)
	f.SetQuota(f.Usage() + 4096)
	fh, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fh.WriteAt(make([]byte, 2000), 1000); err != nil {
		t.Fatalf("write within the quota: %v", err)
	}
	if _, err := fh.WriteAt(make([]byte, 8192), 3000); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("write beyond the quota: %v, want ENOSPC", err)
	}
	if _, err := fh.WriteAt([]byte("x"), 10); err != nil {
		t.Fatalf("an overwrite needs no space: %v", err)
	}
	fh.Close()
	if u, q := f.Usage(), int64(1000+4096); u > q { // the kernel may have written the first pages
		t.Fatalf("usage %d after the refused write, quota %d", u, q)
	}
	if f.Refused() == 0 {
		t.Fatal("no write refused")
	}
	f.SetQuota(0)
	write(t, p, 3000, make([]byte, 8192), true)
}

// An Unmount that fails (a file is open) leaves the file system mounted,
// and a later Unmount, once the file is closed, unmounts it.
func TestUnmountAgainAfterBusy(t *testing.T) {
	f := MountTest(t)
	p := filepath.Join(f.Dir(), "open")
	fh, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Unmount(); err == nil {
		fh.Close()
		t.Fatal("unmount with a file open succeeded: the test cannot tell a retry")
	}
	fh.Close()
	if err := f.Unmount(); err != nil {
		t.Fatalf("unmount once the file is closed: %v", err)
	}
	if mounted(t, f.Dir()) {
		exec.Command("fusermount3", "-uz", f.Dir()).Run() // do not leave it behind
		t.Fatal("still mounted after the second Unmount returned nil")
	}
}

// mounted reports whether dir is a mount point (in /proc/self/mounts).
func mounted(t *testing.T, dir string) bool {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[1] == dir {
			return true
		}
	}
	return false
}
