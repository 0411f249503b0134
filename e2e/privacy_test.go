package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/publicmask/publicmask/rrn/rrntest"
)

// TestNoRawIDAfterARush: after `publicmask rush` drove a server (sales with
// valid, mistyped and repeated IDs), neither the server's output (at debug
// level) nor any of its database files holds anything shaped like a
// registration number with a valid check digit.
func TestNoRawIDAfterARush(t *testing.T) {
	dir := realRunDir(t, "runs a real server and a rush")
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--log-level", "debug", "--clock", "2020-03-11T08:00:00+09:00")
	rush := exec.Command(binary(t), "rush", "--target", s.base, "--admin-token", adminToken, "--duration", "5s",
		"--outlets", "200", "--sales-rate", "300", "--read-rate", "300", "--quiet", "--report", filepath.Join(t.TempDir(), "report"))
	if out, err := rush.CombinedOutput(); err != nil {
		t.Fatalf("rush: %v\n%s", err, out)
	}
	s.stop()
	check := func(where string, data []byte) {
		for _, m := range rrnShaped.FindAllSubmatch(data, -1) {
			if rrntest.HasCheckDigit(string(m[1]) + string(m[2])) {
				t.Fatalf("a registration number with a valid check digit in %s", where)
			}
		}
	}
	// The detector itself: it must see an ID in a log line or a record,
	// and must not see one inside a hex person key.
	for sample, want := range map[string]bool{
		`{"buyer":"830315-1234561"}`: true, "\x03" + "8303151234561" + "\x00": true,
		"9f8303151234561ab": false, `"830315-1234567"`: false, // a hex key; a bad check digit
	} {
		found := false
		for _, m := range rrnShaped.FindAllSubmatch([]byte(sample), -1) {
			found = found || rrntest.HasCheckDigit(string(m[1])+string(m[2]))
		}
		if found != want {
			t.Fatalf("detector on %q = %v, want %v", sample, found, want)
		}
	}
	check("the server's output", []byte(s.Logs()))
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(files) < 2 {
		t.Fatalf("database files: %v", files)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		check(filepath.Base(f), data)
	}
}

// TestNoRawIDAsOutletCode: an outlet code is a client-supplied string that
// the store keeps, the open data API serves and the access log names
// (DESIGN.md §2: the raw number never reaches the store or a log; §6.4:
// refuse runs that parse as a registration number). An import row whose
// code is a registration number is rejected without echoing it, as a name
// or an address holding one is, and no token or delivery can name it.
func TestNoRawIDAsOutletCode(t *testing.T) {
	dir := realRunDir(t, "runs a real server")
	s := start(t, "--db", filepath.Join(dir, "pm.db"), "--seed", "none", "--log-level", "debug", "--clock", "2020-03-11T08:00:00+09:00")
	raw := id("830315", '1', 61)
	csv := "code,name,addr,type,lat,lng\n" +
		raw + ",가약국,서울특별시 강북구 솔매로 38 (미아동),01,37.62,127.0164\n" +
		"99000001,나약국,서울특별시 강북구 솔매로 40 (미아동),01,37.621,127.0164\n"
	var imp struct {
		Upserted int `json:"upserted"`
		Rejected []struct {
			Line   int    `json:"line"`
			Code   string `json:"code"`
			Reason string `json:"reason"`
		} `json:"rejected"`
	}
	code, _, body, err := s.send("PUT", "/api/v2/admin/outlets", adminToken, csv)
	if err != nil || code != 200 {
		t.Fatalf("import = %d, %v: %s", code, err, body)
	}
	if err := json.Unmarshal(body, &imp); err != nil {
		t.Fatal(err)
	}
	if imp.Upserted != 1 || len(imp.Rejected) != 1 || imp.Rejected[0].Line != 2 || imp.Rejected[0].Reason == "" {
		t.Fatalf("import with a registration number as a code: %s; want that row rejected, the other upserted", body)
	}
	// JSON (the 2020 storeInfos shape) too.
	code, _, body, err = s.send("PUT", "/api/v2/admin/outlets", adminToken, map[string]any{"storeInfos": []map[string]any{
		{"code": raw, "name": "다약국", "addr": "서울특별시 강북구 솔매로 42 (미아동)", "type": "01", "lat": 37.622, "lng": 127.0164}}})
	if err != nil || code != 200 || !strings.Contains(string(body), `"upserted":0`) {
		t.Fatalf("JSON import with a registration number as a code = %d, %v: %s", code, err, body)
	}
	// Nothing may name it.
	for _, c := range []struct {
		path string
		body any
	}{
		{"/api/v2/admin/tokens", map[string]string{"role": "outlet", "outlet": raw}},
		{"/api/v2/admin/tokens/bulk", map[string]any{"outlets": []string{raw}}},
		{"/api/v2/admin/deliveries", []map[string]any{{"outlet": raw, "quantity": 5, "txn_id": "d1"}}},
	} {
		code, _, body, err := s.send("POST", c.path, adminToken, c.body)
		if err != nil {
			t.Fatal(err)
		}
		if code < 400 && !strings.Contains(string(body), `"ok":false`) || strings.Contains(string(body), raw) {
			t.Errorf("POST %s naming a registration number as an outlet = %d: %s", c.path, code, body)
		}
	}
	code, _, body, _ = s.send("GET", "/corona19-masks/v1/stores/json", "", nil)
	if code != 200 || strings.Contains(string(body), raw) {
		t.Fatalf("stores/json = %d: %s", code, body)
	}
	s.stop()
	if strings.Contains(s.Logs(), raw) {
		t.Error("the server's log holds the registration number")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(data, []byte(raw)) {
			t.Errorf("%s holds the registration number", filepath.Base(f))
		}
	}
}

// rrnShaped: 6 + 7 digits, optionally hyphenated, not inside a longer run of
// letters or digits (person keys are hex and may hold long digit runs).
var rrnShaped = regexp.MustCompile(`(?:^|[^0-9A-Za-z])(\d{6})-?([1-8]\d{6})(?:[^0-9A-Za-z]|$)`)
