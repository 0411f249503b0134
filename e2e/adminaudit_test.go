package e2e

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestAdminRefusesRegistrationNumbersAsCodes: an outlet code is a string
// the client supplies, and a 13-digit run in one that parses as a
// registration number is refused (DESIGN.md §6.4), since the raw number
// must reach neither the store nor a log (§2 Privacy). An outlet code is
// stored, published by the open API and logged with every request of the
// outlet's token, so the admin API refuses one that holds a registration
// number wherever it takes a code, and never echoes it.
func TestAdminRefusesRegistrationNumbersAsCodes(t *testing.T) {
	dir := realRunDir(t, "runs the binary")
	s := start(t, "--db", dir+"/pm.db", "--seed", "none", "--clock", "2020-03-11T08:00:00+09:00")
	rrnCode := born83(7) // 13 digits, a valid date and check digit
	csv := "code,name,addr,type,lat,lng\n" +
		"11111111,가약국,서울특별시 강북구 솔매로 1 (미아동),01,37.62,127.01\n" +
		rrnCode + ",나약국,서울특별시 강북구 솔매로 2 (미아동),01,37.63,127.02\n"
	code, _, data, err := s.send("PUT", "/api/v2/admin/outlets", adminToken, csv)
	if err != nil || code != 200 {
		t.Fatalf("import: %d %v %s", code, err, data)
	}
	var imp struct {
		Upserted int `json:"upserted"`
		Rejected []struct {
			Line   int    `json:"line"`
			Reason string `json:"reason"`
		} `json:"rejected"`
	}
	if err := json.Unmarshal(data, &imp); err != nil {
		t.Fatal(err)
	}
	if imp.Upserted != 1 || len(imp.Rejected) != 1 || imp.Rejected[0].Line != 3 || strings.Contains(string(data), rrnCode) {
		t.Errorf("import of a code that is a registration number: %s", data)
	}
	// The JSON shapes too.
	code, _, data, _ = s.send("PUT", "/api/v2/admin/outlets", adminToken, map[string]any{"storeInfos": []map[string]any{
		{"code": rrnCode, "name": "나약국", "addr": "서울특별시 강북구 솔매로 2 (미아동)", "type": "01", "lat": 37.63, "lng": 127.02}}})
	if code != 200 || !strings.Contains(string(data), `"upserted":0`) || strings.Contains(string(data), rrnCode) {
		t.Errorf("storeInfos import of a code that is a registration number: %d %s", code, data)
	}
	_, _, data, _ = s.send("GET", "/corona19-masks/v1/stores/json", "", nil)
	if strings.Contains(string(data), rrnCode) {
		t.Errorf("the open API publishes it: %s", data)
	}

	for _, c := range []struct {
		method, path string
		body         any
		want         int
	}{
		{"POST", "/api/v2/admin/tokens", map[string]string{"role": "outlet", "outlet": rrnCode}, 400},
		{"POST", "/api/v2/admin/tokens/bulk", map[string]any{"outlets": []string{"11111111", rrnCode}}, 400},
		{"POST", "/api/v2/admin/deliveries", []map[string]any{{"outlet": rrnCode, "txn_id": "d-1", "quantity": 5}}, 200},
		// A line refused for its outlet must not echo its txn_id either.
		{"POST", "/api/v2/admin/deliveries", []map[string]any{{"outlet": "not a code", "txn_id": rrnCode, "quantity": 5}}, 200},
	} {
		code, _, data, err := s.send(c.method, c.path, adminToken, c.body)
		if err != nil || code != c.want || strings.Contains(string(data), rrnCode) {
			t.Errorf("%s %s: %d %v %s; want %d without the number", c.method, c.path, code, err, data, c.want)
		}
		if c.path == "/api/v2/admin/deliveries" && !strings.Contains(string(data), `"ok":false`) {
			t.Errorf("%s %s recorded a delivery: %s", c.method, c.path, data)
		}
	}
	if strings.Contains(s.Logs(), rrnCode) {
		t.Errorf("the log holds the registration number:\n%s", s.Logs())
	}
}

// TestAdminBodyOverLimitIs413: a JSON body over its route's limit is 413
// body_too_large (§4) whatever it holds; the admin token routes (1 MiB)
// called 2 MB of non-JSON malformed (400) first, as the outlet routes did
// before readBody looked at the size.
func TestAdminBodyOverLimitIs413(t *testing.T) {
	dir := realRunDir(t, "runs the binary")
	s := start(t, "--db", dir+"/pm.db", "--seed", "none")
	junk := strings.Repeat("x", 2<<20)
	for _, c := range []struct{ method, path, body string }{
		{"POST", "/api/v2/admin/tokens", junk},
		{"POST", "/api/v2/admin/tokens/revoke", junk},
		{"DELETE", "/api/v2/admin/tokens", junk},
		{"POST", "/api/v2/admin/tokens", `{"role":"distributor"}` + junk},
		{"POST", "/api/v2/admin/tokens", `{"role":"distributor"}` + strings.Repeat(" ", 2<<20)},
	} {
		var e errBody
		code, _, data, err := s.send(c.method, c.path, adminToken, c.body)
		if err == nil {
			err = json.Unmarshal(data, &e)
		}
		if err != nil || code != 413 || e.Error.Code != "body_too_large" {
			t.Errorf("%s %s with %d bytes (%.20q…): %d %v %.200s; want 413 body_too_large", c.method, c.path, len(c.body), c.body, code, err, data)
		}
	}
	// Under the limit, the same routes still answer.
	s.mustCall("POST", "/api/v2/admin/tokens", adminToken, map[string]string{"role": "distributor"}, nil, 201)
}

// TestClockRateMustBeAPositiveNumber: `--clock 2020-03-11T08:00:00+09:00`
// starts the service clock at that instant and it advances at --clock-rate
// simulated seconds per real second (§3). A rate the clock cannot keep
// (zero, negative, NaN, infinite) is refused at start, not replaced by 1;
// a huge finite one must not wrap the clock to before its start (1e300
// started it in 1727).
func TestClockRateMustBeAPositiveNumber(t *testing.T) {
	dir := realRunDir(t, "runs the binary")
	for _, rate := range []string{"0", "-5", "NaN", "Inf", "-Inf"} {
		cmd := exec.Command(binary(t), "serve", "--addr", freeAddr(t), "--db", dir+"/refused.db", "--seed", "none",
			"--admin-token", adminToken, "--clock", "2020-03-11T08:00:00+09:00", "--clock-rate", rate)
		done := make(chan struct{})
		var out []byte
		var err error
		go func() { out, err = cmd.CombinedOutput(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
			t.Errorf("--clock-rate %s: the server started", rate)
			continue
		}
		if err == nil || !strings.Contains(string(out), "--clock-rate") {
			t.Errorf("--clock-rate %s: %v %s", rate, err, out)
		}
	}
	s := start(t, "--db", dir+"/pm.db", "--seed", "none", "--clock", "2020-03-11T08:00:00+09:00", "--clock-rate", "1e300")
	var st struct {
		Now time.Time `json:"now"`
	}
	s.mustCall("GET", "/api/v2/status", "", nil, &st, 200)
	if start := time.Date(2020, 3, 11, 8, 0, 0, 0, time.FixedZone("KST", 9*3600)); st.Now.Before(start) {
		t.Errorf("--clock-rate 1e300: the service clock reads %v, before its start %v", st.Now, start)
	}
}
