package outletio

import (
	"strings"
	"testing"
)

// Text that could forge a log line, reorder what a reader sees, run as a
// spreadsheet formula or carry a registration number is refused per row,
// with a reason; ordinary text passes.
func TestUnsafeTextRejected(t *testing.T) {
	csv := "code,name,addr,type,lat,lng\n" +
		"1,정상약국,서울특별시 강북구 솔매로 38 (미아동),01,37.6,127.0\n" +
		"2,\"=HYPERLINK(\"\"http://x\"\")\",서울,01,37.6,127.0\n" +
		"3,+약국,서울,01,37.6,127.0\n" +
		"4,-1+1,서울,01,37.6,127.0\n" +
		"5,@SUM(A1),서울,01,37.6,127.0\n" +
		"6,약국\x1b[31m,서울,01,37.6,127.0\n" +
		"7,약국,\"서울\n가짜 로그\",01,37.6,127.0\n" +
		"8,약국\u202Egnp.exe,서울,01,37.6,127.0\n" +
		"9,약국,서울 \u2066x\u2069,01,37.6,127.0\n" +
		"10,약국 830315-1234561,서울,01,37.6,127.0\n" +
		"11,약국 1-2,서울 중구 을지로 1-2,01,37.6,127.0\n" // a hyphen inside is fine
	outs, rej, err := ParseCSV(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].Code != "1" || outs[1].Code != "11" {
		t.Fatalf("imported %+v", outs)
	}
	want := map[string]string{
		"2":  "name: starts with = (a spreadsheet formula prefix)",
		"3":  "name: starts with + (a spreadsheet formula prefix)",
		"4":  "name: starts with - (a spreadsheet formula prefix)",
		"5":  "name: starts with @ (a spreadsheet formula prefix)",
		"6":  "name: control character U+001B",
		"7":  "addr: control character U+000A",
		"8":  "name: bidirectional control U+202E",
		"9":  "addr: bidirectional control U+2066",
		"10": "name: holds a registration number",
	}
	if len(rej) != len(want) {
		t.Fatalf("rejected %+v", rej)
	}
	for _, r := range rej {
		if want[r.Code] != r.Reason {
			t.Errorf("row %s (line %d): reason %q, want %q", r.Code, r.Line, r.Reason, want[r.Code])
		}
	}
	// JSON: the same rules.
	_, rej, err = ParseJSON(strings.NewReader(`[{"code":"1","name":"약국\u0000","type":"01","lat":37,"lng":127}]`))
	if err != nil || len(rej) != 1 || rej[0].Reason != "name: control character U+0000" {
		t.Fatalf("JSON: %+v %v", rej, err)
	}
}

// A code is kept by the store, served and logged like the name: a code that
// is a registration number is refused, and never echoed back in a rejected
// row, whichever way the row fails (CSV, a short CSV row, JSON, a JSON item
// with a bad field). Other long numbers stay valid codes.
func TestCodeHoldingARegistrationNumberRejected(t *testing.T) {
	const raw = "8303151234561"
	if ValidCode(raw) || !ValidCode("8303151234567") || !ValidCode("1583911200000") {
		t.Fatalf("ValidCode: %v for a registration number, %v for a bad check digit, %v for a timestamp",
			ValidCode(raw), ValidCode("8303151234567"), ValidCode("1583911200000"))
	}
	csv := "code,name,addr,type,lat,lng\n" +
		raw + ",약국,서울특별시 강북구 솔매로 38 (미아동),01,37.6,127.0\n" +
		raw + ",약국,서울\n" + // a short row
		"8303151234567,약국,서울특별시 강북구 솔매로 38 (미아동),01,37.6,127.0\n"
	outs, rej, err := ParseCSV(strings.NewReader(csv))
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 1 || outs[0].Code != "8303151234567" || len(rej) != 2 ||
		rej[0].Reason != "code: holds a registration number" || rej[0].Code != "" || rej[1].Code != "" {
		t.Fatalf("imported %+v, rejected %+v", outs, rej)
	}
	outs, rej, err = ParseJSON(strings.NewReader(`{"storeInfos":[{"code":"` + raw + `","name":"약국","addr":"서울","type":"01","lat":37,"lng":127},` +
		`{"code":` + raw + `,"name":"약국","addr":"서울","type":"01","lat":37,"lng":127},` +
		`{"code":"` + raw + `","name":["x"],"addr":"서울","type":"01","lat":37,"lng":127}]}`))
	if err != nil || len(outs) != 0 || len(rej) != 3 {
		t.Fatalf("JSON: imported %+v, rejected %+v, %v", outs, rej, err)
	}
	for _, r := range rej {
		if r.Code != "" {
			t.Errorf("JSON row %d echoes its code: %+v", r.Line, r)
		}
	}
}
