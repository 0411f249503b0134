package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

var metricName = regexp.MustCompile(`publicmask_[a-z0-9_]+`)

// metricNames lists the publicmask metric names a file mentions.
func metricNames(t *testing.T, rel string) []string {
	t.Helper()
	b, err := os.ReadFile(repoFile(rel))
	if err != nil {
		t.Fatal(err)
	}
	names := metricName.FindAllString(string(b), -1)
	slices.Sort(names)
	return slices.Compact(names)
}

// exported reports whether name is a series name a node exports: the name
// itself, or a histogram's base name.
func exported(have map[string]bool, name string) bool {
	return have[name] || have[name+"_bucket"]
}

// opsNode is a node of role all with one sale and one public read made, so
// that every labelled metric has a series.
func opsNode(t *testing.T) *server {
	t.Helper()
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--seed", "none", "--tiles", "none", "--clock", "2020-03-11T10:00:00+09:00")
	codes, tokens := setupOutlets(t, s, 1, 100)
	s.mustCall("POST", "/api/v2/outlet/sales", tokens[codes[0]], map[string]any{"txn_id": "ops-1", "buyer": born83(3), "quantity": 1}, nil, 201)
	s.mustCall("GET", "/corona19-masks/v1/storesByGeo/json?lat=37.62&lng=127.0164&m=500", "", nil, nil, 200)
	return s
}

// scrapedNames are the series names in a node's /metrics.
func scrapedNames(t *testing.T, s *server) map[string]bool {
	t.Helper()
	b := s.metrics(t)
	have := map[string]bool{}
	for _, line := range strings.Split(b, "\n") {
		if line == "" || line[0] == '#' {
			continue
		}
		have[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	return have
}

// TestPrometheusAlertRules runs promtool's unit tests of the alerts.
func TestPrometheusAlertRules(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = repoFile("deploy/prometheus")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestPrometheusScrapesAlertMetrics: a real Prometheus, loading the alert
// rules, scrapes a running node; every metric the rules name is among the
// series it stored.
func TestPrometheusScrapesAlertMetrics(t *testing.T) {
	skipShort(t, "runs Prometheus and a node")
	prom := needTool(t, "prometheus", "prometheus")
	s := opsNode(t)
	dir := t.TempDir()
	rules, _ := filepath.Abs(repoFile("deploy/prometheus/alerts.yml"))
	conf := fmt.Sprintf(`global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [%q]
scrape_configs:
  - job_name: publicmask
    static_configs: [{targets: [%q]}]
`, rules, strings.TrimPrefix(s.base, "http://"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	logs := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = logs, logs
	dieWithTests(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() })

	want := metricNames(t, "deploy/prometheus/alerts.yml")
	if len(want) < 6 {
		t.Fatalf("alerts name only %v", want)
	}
	query := func(q string) []map[string]any {
		resp, err := http.Get("http://" + addr + "/api/v1/query?query=" + url.QueryEscape(q))
		if err != nil {
			return nil
		}
		defer resp.Body.Close()
		var out struct {
			Data struct {
				Result []map[string]any `json:"result"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		return out.Data.Result
	}
	var missing []string
	deadline := time.Now().Add(30 * time.Second)
	for {
		have := map[string]bool{}
		for _, r := range query(`count by (__name__) ({__name__=~"publicmask_.+",job="publicmask"})`) {
			if m, ok := r["metric"].(map[string]any); ok {
				have[fmt.Sprint(m["__name__"])] = true
			}
		}
		missing = missing[:0]
		for _, n := range want {
			if !exported(have, n) {
				missing = append(missing, n)
			}
		}
		if len(missing) == 0 && len(query(`ALERTS`)) == 0 && len(have) > 0 {
			break // scraped, and a healthy node fires no alert
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not store %v (alerts: %v); its log:\n%s", missing, query(`ALERTS`), logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("Prometheus scraped all %d metrics the alerts name: %v", len(want), want)
}

// TestGrafanaDashboardMetrics: every metric the dashboard names is in a
// node's /metrics, and every panel has a query.
func TestGrafanaDashboardMetrics(t *testing.T) {
	skipShort(t, "runs a node")
	b, err := os.ReadFile(repoFile("deploy/grafana/publicmask.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title  string `json:"title"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	if len(dash.Panels) < 8 {
		t.Fatalf("%d panels", len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("panel %q has no query", p.Title)
		}
	}
	have := scrapedNames(t, opsNode(t))
	for _, n := range metricNames(t, "deploy/grafana/publicmask.json") {
		if !exported(have, n) {
			t.Errorf("the dashboard names %s, which no node exports", n)
		}
	}
}

// TestSystemdUnits: the units pass systemd-analyze verify (with ExecStart
// pointed at the built binary), keep their exposure low, are hardened as
// intended, and their serve flags parse.
func TestSystemdUnits(t *testing.T) {
	sa := needTool(t, "systemd-analyze", "systemd")
	bin := binary(t)
	units, _ := filepath.Glob(repoFile("deploy/systemd/*.service"))
	if len(units) < 3 {
		t.Fatalf("units: %v", units)
	}
	dir := t.TempDir()
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		text := string(b)
		name := filepath.Base(u)
		for _, must := range []string{"DynamicUser=yes", "ProtectSystem=strict", "StateDirectory=publicmask", "NoNewPrivileges=yes",
			"ExecReload=/bin/kill -HUP $MAINPID", "CapabilityBoundingSet=\n", "PrivateTmp=yes", "ProtectHome=yes"} {
			if !strings.Contains(text, must) {
				t.Errorf("%s lacks %q", name, strings.TrimSpace(must))
			}
		}
		execStart := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/publicmask (.*)$`).FindStringSubmatch(text)
		if execStart == nil {
			t.Fatalf("%s: no ExecStart of /usr/local/bin/publicmask", name)
		}
		args := strings.Fields(execStart[1])
		switch name {
		case "publicmask-ledger.service":
			for _, must := range []string{"LoadCredential=secret:", "LoadCredential=admin-token:", "--secret-file %d/secret", "--admin-token-file %d/admin-token", "--role ledger"} {
				if !strings.Contains(text, must) {
					t.Errorf("%s lacks %q", name, must)
				}
			}
		case "publicmask-public.service":
			for _, mustNot := range []string{"LoadCredential=secret", "LoadCredential=admin-token", "--secret-file", "--admin-token"} {
				if strings.Contains(text, mustNot) {
					t.Errorf("%s hands a public node the secret or the admin token (%s)", name, mustNot)
				}
			}
			if !strings.Contains(execStart[1], "--role public") {
				t.Errorf("%s: not --role public", name)
			}
		}
		// The flags parse (-h stops after parsing what comes before it).
		if out, err := exec.Command(bin, append(args, "-h")...).CombinedOutput(); err != nil {
			t.Errorf("%s: publicmask %s -h: %v\n%s", name, execStart[1], err, out)
		}
		local := filepath.Join(dir, name)
		if err := os.WriteFile(local, []byte(strings.ReplaceAll(text, "/usr/local/bin/publicmask", bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(sa, "verify", local).CombinedOutput()
		if err != nil || len(strings.TrimSpace(string(out))) > 0 {
			t.Errorf("systemd-analyze verify %s: %v\n%s", name, err, out)
		}
		out, err = exec.Command(sa, "security", "--offline=yes", "--threshold=20", local).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security %s: exposure above 2.0 of 10 (%v):\n%s", name, err, out)
		}
	}
}
