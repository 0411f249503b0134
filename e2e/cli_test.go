package e2e

import (
	"encoding/csv"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// TestGenOutletsAndVersion: the other commands of the contract.
func TestGenOutletsAndVersion(t *testing.T) {
	skipShort(t, "builds the binary")
	bin := binary(t)
	out, err := exec.Command(bin, "gen", "outlets", "--count", "300", "--format", "csv").Output()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 301 || strings.Join(rows[0], ",") != "code,name,addr,type,lat,lng" {
		t.Fatalf("gen outlets csv: %d rows, header %v", len(rows), rows[0])
	}
	out, err = exec.Command(bin, "gen", "outlets", "--count", "50", "--format", "json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var j struct {
		StoreInfos []struct {
			Code string  `json:"code"`
			Lat  float64 `json:"lat"`
		} `json:"storeInfos"`
	}
	if err := json.Unmarshal(out, &j); err != nil || len(j.StoreInfos) != 50 || j.StoreInfos[0].Lat < 33 {
		t.Fatalf("gen outlets json: %v, %d outlets", err, len(j.StoreInfos))
	}
	if out, err := exec.Command(bin, "gen", "outlets", "--format", "xml").CombinedOutput(); err == nil || !strings.Contains(string(out), "csv or json") {
		t.Fatalf("bad format accepted: %s", out)
	}
	out, err = exec.Command(bin, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "publicmask ") {
		t.Fatalf("version: %q, %v", out, err)
	}
	if out, err := exec.Command(bin, "serve", "--role", "primary").CombinedOutput(); err == nil || !strings.Contains(string(out), "--role") {
		t.Fatalf("bad role accepted: %s", out)
	}
	dir := t.TempDir()
	out, err = exec.Command(bin, "serve", "--db", dir+"/pm.db", "--seed", "none", "--trust-proxy", "10.0.0.0/8,not-an-address").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--trust-proxy") || strings.Contains(string(out), "panic") {
		t.Fatalf("bad --trust-proxy: %v %s", err, out)
	}
}
