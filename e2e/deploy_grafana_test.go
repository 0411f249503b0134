package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

type dashboard struct {
	Panels []struct {
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr         string `json:"expr"`
			LegendFormat string `json:"legendFormat"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(repoFile("deploy/grafana/publicmask.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("dashboard is not JSON: %v", err)
	}
	return d
}

// TestGrafanaLatencyPerNode: the dashboard is the one page where an operator
// sees every node (§1.7: no one guesses whose server is slow). Its charts of
// latencies (histogram_quantile over time) keep the nodes apart. The outlet,
// admin and public latencies and the ledger's commit time were summed over
// every selected node: with two ledger nodes, one slow database session
// raised one line, and which node it was took a click per node to find.
// The stat panels at the top are the headline, summed on purpose.
func TestGrafanaLatencyPerNode(t *testing.T) {
	byClause := regexp.MustCompile(`histogram_quantile\([^,]+,\s*sum by \(([^)]*)\)`)
	for _, p := range readDashboard(t).Panels {
		if p.Type != "timeseries" {
			continue
		}
		for _, tg := range p.Targets {
			for _, m := range byClause.FindAllStringSubmatch(tg.Expr, -1) {
				if !strings.Contains(m[1], "instance") {
					t.Errorf("panel %q: %s is summed over the nodes (by %s)", p.Title, tg.Expr, m[1])
				} else if !strings.Contains(tg.LegendFormat, "{{instance}}") {
					t.Errorf("panel %q: legend %q does not name the node", p.Title, tg.LegendFormat)
				}
			}
		}
	}
}

// TestGrafanaQueriesParse: every query of the dashboard is valid PromQL
// (promtool checks them as recording rules, $instance standing for all).
func TestGrafanaQueriesParse(t *testing.T) {
	promtool := needTool(t, "promtool", "prometheus")
	var rules strings.Builder
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range readDashboard(t).Panels {
		for _, tg := range p.Targets {
			n++
			expr, _ := json.Marshal(strings.ReplaceAll(tg.Expr, "$instance", ".*"))
			fmt.Fprintf(&rules, "      - record: dashboard:query%d\n        expr: %s\n", n, expr)
		}
	}
	file := filepath.Join(t.TempDir(), "dashboard-rules.yml")
	if err := os.WriteFile(file, []byte(rules.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules on the dashboard's %d queries: %v\n%s", n, err, out)
	}
}
