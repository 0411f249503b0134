package outletio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/publicmask/publicmask"
	"github.com/publicmask/publicmask/internal/testdata"
	"github.com/publicmask/publicmask/rrn/rrntest"
)

func sharedData(t *testing.T, rel string) string { return testdata.Path(t, rel) }

func TestCSV(t *testing.T) {
	body := "\uFEFFlng,lat,type,addr,name,code,extra\r\n" +
		"127.0,37.5,01,서울특별시 강남구 테헤란로 1,가약국,11111111,x\r\n" +
		"127.0,37.5,02,\"서울특별시 중구 세종대로 1, 1층\",나우체국,2222222222,x\r\n" +
		"127.0,37.5,04,addr,bad type,33333333,x\r\n" +
		",,03,addr,no coords,44444444,x\r\n" +
		"127.0,40.1,01,addr,north,55555555,x\r\n" +
		"127.0,37.5,01,addr,,66666666,x\r\n" +
		"127.0,37.5,01,addr,bad code,12-34,x\r\n" +
		"127.0,37.5,01,addr,short row\r\n" +
		"abc,37.5,01,addr,garbage lng,77777777,x\r\n" +
		"NaN,NaN,01,addr,nan,88888888,x\r\n"
	outs, rej, err := ParseCSV(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].Code != "11111111" || outs[1].Code != "2222222222" {
		t.Fatalf("outlets = %+v", outs)
	}
	want := publicmask.Outlet{Code: "2222222222", Name: "나우체국", Addr: "서울특별시 중구 세종대로 1, 1층", Type: "02", Lat: 37.5, Lng: 127}
	if outs[1] != want {
		t.Errorf("outlet = %+v, want %+v", outs[1], want)
	}
	wantRej := []Rejected{
		{4, "33333333", "invalid type (want 01, 02 or 03)"},
		{5, "44444444", "missing coordinates"},
		{6, "55555555", "coordinates outside Korea"},
		{7, "66666666", "missing name"},
		{8, "", "invalid code (want 1–20 letters or digits)"},
		{9, "", "row has 5 fields, header has 7"},
		{10, "77777777", "invalid coordinates"},
		{11, "88888888", "invalid coordinates"},
	}
	if len(rej) != len(wantRej) {
		t.Fatalf("rejected = %+v", rej)
	}
	for i := range wantRej {
		if rej[i] != wantRej[i] {
			t.Errorf("rejected[%d] = %+v, want %+v", i, rej[i], wantRej[i])
		}
	}
}

func TestCSVDuplicateLaterWins(t *testing.T) {
	body := "code,name,addr,type,lat,lng\n1,A,a,01,37,127\n2,B,b,01,37,127\n1,A2,a2,01,37.1,127.1\n"
	outs, rej, err := ParseCSV(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].Name != "A2" || outs[0].Lat != 37.1 {
		t.Fatalf("outlets = %+v", outs)
	}
	if len(rej) != 1 || rej[0] != (Rejected{2, "1", "duplicate code, superseded by line 4"}) {
		t.Fatalf("rejected = %+v", rej)
	}
}

func TestCSVFatal(t *testing.T) {
	for name, body := range map[string]string{
		"empty":          "",
		"missing column": "code,name,addr,type,lat\n1,A,a,01,37\n",
		"dup column":     "code,name,addr,type,lat,lng,code\n",
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := ParseCSV(strings.NewReader(body))
			if publicmask.ErrorCode(err) != publicmask.EBadRequest {
				t.Fatalf("err = %v, want bad_request", err)
			}
		})
	}
}

func TestCSVMalformedRowNotFatal(t *testing.T) {
	body := "code,name,addr,type,lat,lng\n1,A\"x\",a,01,37,127\n2,B,b,01,37,127\n"
	outs, rej, err := ParseCSV(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].Code != "2" || len(rej) != 1 || rej[0].Line != 2 || !strings.HasPrefix(rej[0].Reason, "malformed CSV") {
		t.Fatalf("outs=%+v rej=%+v", outs, rej)
	}
}

func TestJSONShapes(t *testing.T) {
	for name, body := range map[string]string{
		"array":      `[{"code":"11837497","name":"문화약국","addr":"서울","type":"01","lat":37.52,"lng":127.0}]`,
		"storeInfos": `{"count":1,"page":"1","storeInfos":[{"code":"11837497","name":"문화약국","addr":"서울","type":"01","lat":"37.52","lng":"127.0"}],"totalCount":1}`,
		"stores":     `{"count":1,"stores":[{"code":11837497,"name":"문화약국","addr":"서울","type":"01","lat":37.52,"lng":127.0,"remain_stat":null,"stock_at":null}]}`,
		"bom":        "\uFEFF" + ` [{"code":"11837497","name":"문화약국","addr":"서울","type":"01","lat":37.52,"lng":127}] `,
	} {
		t.Run(name, func(t *testing.T) {
			outs, rej, err := Parse(strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			want := publicmask.Outlet{Code: "11837497", Name: "문화약국", Addr: "서울", Type: "01", Lat: 37.52, Lng: 127}
			if len(outs) != 1 || outs[0] != want || len(rej) != 0 {
				t.Fatalf("outs=%+v rej=%+v", outs, rej)
			}
		})
	}
}

func TestJSONRejects(t *testing.T) {
	body := `[{"code":"1","name":"A","type":"01","lat":37,"lng":127},
	 7,
	 {"code":"2","name":"B","type":"01","lat":null,"lng":127},
	 {"code":"3","name":"C","type":1,"lat":37,"lng":127},
	 {"code":"4","name":{"x":1},"type":"01","lat":37,"lng":127},
	 {"code":"5","name":"E","type":"01","lat":"","lng":""},
	 {"code":"6","name":"F","type":"01","lat":true,"lng":127}]`
	outs, rej, err := ParseJSON(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].Code != "1" {
		t.Fatalf("outs = %+v", outs)
	}
	want := []Rejected{
		{2, "", "item is not an object"},
		{3, "2", "missing coordinates"},
		{4, "3", "invalid type (want 01, 02 or 03)"},
		{5, "4", "name must be a string or a number"},
		{6, "5", "missing coordinates"},
		{7, "6", "lat must be a string or a number"},
	}
	if len(rej) != len(want) {
		t.Fatalf("rejected = %+v", rej)
	}
	for i := range want {
		if rej[i] != want[i] {
			t.Errorf("rejected[%d] = %+v, want %+v", i, rej[i], want[i])
		}
	}
}

func TestJSONFatal(t *testing.T) {
	for name, body := range map[string]string{
		"syntax":     `[{"code":"1",]`,
		"truncated":  `[{"code":"1"`,
		"no array":   `{"count":1}`,
		"not array":  `{"storeInfos":{}}`,
		"scalar":     `"x"`,
		"two values": `[] []`,
	} {
		t.Run(name, func(t *testing.T) {
			_, _, err := ParseJSON(strings.NewReader(body))
			if publicmask.ErrorCode(err) != publicmask.EBadRequest {
				t.Fatalf("err = %v, want bad_request", err)
			}
		})
	}
}

func TestSizeBound(t *testing.T) {
	big := strings.NewReader("code,name,addr,type,lat,lng\n" + strings.Repeat("1,A,a,01,37,127\n", MaxBytes/16+10))
	_, _, err := ParseCSV(big)
	if publicmask.ErrorCode(err) != publicmask.EBodyTooLarge {
		t.Fatalf("err = %v, want body_too_large", err)
	}
	var rows bytes.Buffer
	rows.WriteString("code,name,addr,type,lat,lng\n")
	for i := 0; i <= MaxRows; i++ {
		rows.WriteString("x\n")
	}
	_, _, err = ParseCSV(&rows)
	if publicmask.ErrorCode(err) != publicmask.EBodyTooLarge {
		t.Fatalf("rows: err = %v, want body_too_large", err)
	}
}

func TestReadErrorPassesThrough(t *testing.T) {
	boom := errors.New("boom")
	_, _, err := ParseCSV(&failReader{data: "code,name,addr,type,lat,lng\n1,A,a,01,37,127\n", err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("csv err = %v", err)
	}
	_, _, err = ParseJSON(&failReader{data: `[{"code":"1"},`, err: boom})
	if !errors.Is(err, boom) {
		t.Fatalf("json err = %v", err)
	}
}

type failReader struct {
	data string
	err  error
}

func (f *failReader) Read(p []byte) (int, error) {
	if f.data == "" {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestWriteCSVRoundTrip(t *testing.T) {
	in := []publicmask.Outlet{
		{Code: "11837497", Name: "문화약국", Addr: "서울특별시 용산구  장문로  114-1 (보광동)", Type: "01", Lat: 37.5266681, Lng: 127.0022624},
		{Code: "5038300744", Name: "고령\"쌍림\"우체국", Addr: "a, b", Type: "02", Lat: 35.6791963, Lng: 128.2422529},
	}
	var buf bytes.Buffer
	if err := WriteCSV(&buf, in); err != nil {
		t.Fatal(err)
	}
	out, rej, err := ParseCSV(&buf)
	if err != nil || len(rej) != 0 || len(out) != 2 || out[0] != in[0] || out[1] != in[1] {
		t.Fatalf("round trip: %+v %+v %v", out, rej, err)
	}
}

// The national list as published in April 2020: every row but the five
// without coordinates is imported.
func TestStores2020(t *testing.T) {
	p := sharedData(t, "outlets-2020/stores-2020-04.csv")
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	outs, rej, err := Parse(f)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 26289-5 || len(rej) != 5 {
		t.Fatalf("imported %d, rejected %d (%v); want 26284 and 5", len(outs), len(rej), rej)
	}
	types := map[string]int{}
	for _, o := range outs {
		types[o.Type]++
	}
	for _, r := range rej {
		if r.Reason != "missing coordinates" || r.Code == "" || r.Line < 2 {
			t.Errorf("rejected %+v", r)
		}
	}
	// The five are Nonghyup marts: 23,019 pharmacies, 1,442 post offices.
	if types["01"] != 23019 || types["02"] != 1442 || types["03"] != 1828-5 {
		t.Errorf("types = %v", types)
	}
}

func TestNIAResponses(t *testing.T) {
	for file, n := range map[string]int{
		"storesByGeo-2020-07-03-gangbuk.json":              222,
		"storesByAddr-2020-03-10-yongsan-bogwangdong.json": 9,
	} {
		t.Run(file, func(t *testing.T) {
			p := sharedData(t, "nia-v1/"+file)
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			outs, rej, err := Parse(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			if len(outs) != n || len(rej) != 0 {
				t.Fatalf("imported %d rejected %v, want %d", len(outs), rej, n)
			}
			// Cross-check the first record with a plain decode.
			var env struct {
				Stores []struct {
					Code string  `json:"code"`
					Addr string  `json:"addr"`
					Lat  float64 `json:"lat"`
				} `json:"stores"`
			}
			if err := json.Unmarshal(data, &env); err != nil {
				t.Fatal(err)
			}
			if outs[0].Code != env.Stores[0].Code || outs[0].Addr != env.Stores[0].Addr || outs[0].Lat != env.Stores[0].Lat {
				t.Errorf("first = %+v, want %+v", outs[0], env.Stores[0])
			}
		})
	}
}

// TestParseCSVRows: with the body's lines counted, the outlets' list is
// made once for them instead of grown from empty, and what is read is
// ParseCSV's whatever the count said: exact, unknown, far too small (the
// list grows as before), too large (at most MaxRows), or the mixed header of
// TestCSV (columns found by name) with an addr column left out.
func TestParseCSVRows(t *testing.T) {
	var buf bytes.Buffer
	rows := make([]publicmask.Outlet, 1000)
	for i := range rows {
		rows[i] = publicmask.Outlet{Code: "1" + strconv.Itoa(1e7 + i)[1:], Name: "약국", Addr: "서울특별시 중구 세종대로 " + strconv.Itoa(i), Type: "01", Lat: 37.5, Lng: 127}
	}
	if err := WriteCSV(&buf, rows); err != nil {
		t.Fatal(err)
	}
	bodies := []string{buf.String(),
		"lng,lat,type,name,code\r\n127.0,37.5,01,가약국,11111111\r\n127.0,37.5,04,bad type,33333333\r\n127.0,37.5,02,나우체국,2222222222\r\n"}
	for _, body := range bodies {
		want, wantRej, err := ParseCSV(strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(body, "\n") + 1
		for _, n := range []int{lines, -1, 0, 3, 1 << 30} {
			got, rej, err := ParseCSVRows(strings.NewReader(body), n)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, want) || !slices.Equal(rej, wantRej) {
				t.Fatalf("rows %d: %d outlets, %v rejected; ParseCSV: %d, %v", n, len(got), rej, len(want), wantRej)
			}
			if n == lines && cap(got) != lines {
				t.Fatalf("rows %d: the list holds %d of %d (want %d: made once, not grown)", n, len(got), cap(got), lines)
			}
			if n > MaxRows && cap(got) > MaxRows {
				t.Fatalf("rows %d: made for %d", n, cap(got))
			}
		}
	}
}

// TestCSVDuplicatesInAnyOrder: bodies in code order (no map of codes
// until a code does not sort after the one before), with duplicates next
// to each other, after the order breaks and across the break: each code
// keeps its first place and its last row, and each row superseded is
// reported at its line, as one pass with a map of every code reports it.
func TestCSVDuplicatesInAnyOrder(t *testing.T) {
	for _, codes := range [][]string{
		{"1", "2", "3", "4"},
		{"1", "2", "2", "3"},
		{"1", "2", "3", "1"},
		{"1", "3", "2", "3", "1", "4", "2"},
		{"5", "4", "3", "3", "5"},
	} {
		var body strings.Builder
		body.WriteString("code,name,addr,type,lat,lng\n")
		for i, c := range codes {
			fmt.Fprintf(&body, "%s,N%d,a,01,37,127\n", c, i)
		}
		outs, rej, err := ParseCSV(strings.NewReader(body.String()))
		if err != nil {
			t.Fatal(err)
		}
		var wantOuts []string // code:name
		wantRej := []Rejected{}
		at, line := map[string]int{}, map[string]int{}
		for i, c := range codes {
			if k, ok := at[c]; ok {
				wantRej = append(wantRej, Rejected{line[c], c, fmt.Sprintf("duplicate code, superseded by line %d", i+2)})
				wantOuts[k] = fmt.Sprintf("%s:N%d", c, i)
			} else {
				at[c] = len(wantOuts)
				wantOuts = append(wantOuts, fmt.Sprintf("%s:N%d", c, i))
			}
			line[c] = i + 2
		}
		var gotOuts []string
		for _, o := range outs {
			gotOuts = append(gotOuts, o.Code+":"+o.Name)
		}
		if !slices.Equal(gotOuts, wantOuts) || !slices.Equal(rej, wantRej) {
			t.Errorf("%v: outlets %v, rejected %+v; want %v, %+v", codes, gotOuts, rej, wantOuts, wantRej)
		}
	}
}

// TestCodeHoldingARegistrationNumber: a code that is, or holds, 13 digits
// parsing as a registration number is refused (DESIGN.md §6.4) and not
// echoed in Rejected; other long codes stay valid.
func TestCodeHoldingARegistrationNumber(t *testing.T) {
	id := rrntest.ID("830315", '1', 7)
	for _, c := range []struct {
		code string
		ok   bool
	}{
		{"12345678", true}, {"1234567890", true}, {"12345678901234567890", true},
		{"8303151234567", !rrntest.HasCheckDigit("8303151234567")}, // without its check digit it is not a number
		{id, false}, {"A" + id, false}, {id + "ZZ", false},
	} {
		if got := ValidCode(c.code); got != c.ok {
			t.Errorf("ValidCode(%q) = %v, want %v", c.code, got, c.ok)
		}
	}
	outlets, rejected, err := ParseCSV(strings.NewReader("code,name,addr,type,lat,lng\n" + id + ",약국,서울특별시 강북구 솔매로 1,01,37.6,127.0\n"))
	if err != nil || len(outlets) != 0 || len(rejected) != 1 || rejected[0].Code != "" || rejected[0].Reason != "code: holds a registration number" {
		t.Fatalf("ParseCSV: %v %v %+v", err, outlets, rejected)
	}
	_, rejected, err = ParseJSON(strings.NewReader(`[{"code":"` + id + `","name":"약국","type":"01","lat":37.6,"lng":127}]`))
	if err != nil || len(rejected) != 1 || rejected[0].Code != "" {
		t.Fatalf("ParseJSON: %v %+v", err, rejected)
	}
}
