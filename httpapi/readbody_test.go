package httpapi

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAllSized: a body is read whole whatever its Content-Length said
// (exact, unknown, too small, too large), in one buffer made for it when
// it was right; read errors come back as io.ReadAll's do.
func TestReadAllSized(t *testing.T) {
	body := strings.Repeat("0123456789", 10_000)
	for _, size := range []int64{int64(len(body)), -1, 0, 10, int64(len(body)) * 2} {
		for _, r := range []func() io.Reader{
			func() io.Reader { return strings.NewReader(body) },
			func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) },
			func() io.Reader { return iotest.HalfReader(strings.NewReader(body)) },
		} {
			b, err := readAllSized(r(), size)
			if err != nil || !bytes.Equal(b, []byte(body)) {
				t.Fatalf("size %d: %d bytes, %v", size, len(b), err)
			}
			if size == int64(len(body)) && cap(b) != len(body)+1 {
				t.Fatalf("size %d: read into %d bytes, want %d (made once)", size, cap(b), len(body)+1)
			}
		}
	}
	boom := errors.New("boom")
	if _, err := readAllSized(iotest.ErrReader(boom), 10); !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	if b, err := readAllSized(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 3); !errors.Is(err, boom) || string(b) != "abc" {
		t.Fatalf("%q %v", b, err)
	}
}
