package outletio

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
)

// onePass is parseCSV's loop before the rows were checked apart from their
// reading: each record read, checked and added in turn (header
// code,name,addr,type,lat,lng).
func onePass(t *testing.T, body string) ([]publicmask.Outlet, []Rejected) {
	cr := csv.NewReader(strings.NewReader(body))
	cr.FieldsPerRecord = -1
	if _, err := cr.Read(); err != nil {
		t.Fatal(err)
	}
	b := newBuilder(0)
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			b.reject(pe.StartLine, "", "malformed CSV: "+pe.Err.Error())
			continue
		}
		line, _ := cr.FieldPos(0)
		if len(rec) != 6 {
			code := strings.TrimSpace(rec[0])
			if !validCode(code) {
				code = ""
			}
			b.reject(line, code, fmt.Sprintf("row has %d fields, header has %d", len(rec), 6))
			continue
		}
		b.add(line, rec[0], rec[1], rec[2], rec[3], rec[4], rec[5])
	}
	outs, rej, _ := b.result()
	return outs, rej
}

// A body checked in two halves gives the outlets and the rejections, in
// their order, of one pass: duplicates across the halves and within each,
// rejected rows of every kind on both sides, a quoted field over two lines.
func TestCSVChecksInHalves(t *testing.T) {
	rows := []string{"code,name,addr,type,lat,lng"}
	for i := range 400 {
		code := strconv.Itoa(10_000_000 + i%150) // every code about three times
		switch i % 13 {
		case 1:
			rows = append(rows, code+",약국,addr,04,37.5,127")
		case 2:
			rows = append(rows, code+",,addr,01,37.5,127")
		case 3:
			rows = append(rows, "12-34,약국,addr,01,37.5,127")
		case 4:
			rows = append(rows, code+",약국,addr,01,37.5")
		case 5:
			rows = append(rows, code+",약\"국\",addr,01,37.5,127")
		case 6:
			rows = append(rows, code+",=약국,addr,01,37.5,127")
		case 7:
			rows = append(rows, code+",약국,\"서울특별시 중구\n세종대로 1\",01,37.5,127")
		case 8:
			rows = append(rows, code+",약국,addr,01,40.5,127")
		default:
			rows = append(rows, fmt.Sprintf("%s,약국 %d,서울특별시 중구 세종대로 %d,01,37.5,127", code, i, i))
		}
	}
	body := strings.Join(rows, "\r\n") + "\r\n"
	want, wantRej := onePass(t, body)
	if len(want) == 0 || len(wantRej) < 100 {
		t.Fatalf("the body gives %d outlets and %d rejections", len(want), len(wantRej))
	}
	defer func(n int) { parallelCheck = n }(parallelCheck)
	for _, n := range []int{1 << 30, 2, 64} {
		parallelCheck = n
		got, rej, err := ParseCSVRows(strings.NewReader(body), len(rows))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) || !slices.Equal(rej, wantRej) {
			t.Fatalf("halves from %d rows: %d outlets, %d rejected; one pass: %d, %d", n, len(got), len(rej), len(want), len(wantRej))
		}
	}
}
