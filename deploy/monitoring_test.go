package deploy_test

import (
	"encoding/json"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

// metric is what the gate's code says about one metric family.
type metric struct {
	histogram bool
	labels    []string
}

var (
	metricNameRE  = regexp.MustCompile(`Name:\s*"(tollgate_[a-z0-9_]+)"`)
	constructorRE = regexp.MustCompile(`prometheus\.New(\w+)\(`)
	labelListRE   = regexp.MustCompile(`\[\]string\{([^}]*)\}`)
	constLabelRE  = regexp.MustCompile(`ConstLabels:\s*prometheus\.Labels\{"([a-z_]+)"`)
)

// gateMetrics reads the metric families the gate defines from its source, so that a
// dashboard or alert naming a metric that does not exist (or no longer does) fails here.
func gateMetrics(t *testing.T) map[string]metric {
	t.Helper()
	root := repoRoot(t)
	out := map[string]metric{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || path == filepath.Join(root, "deploy") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src := string(b)
		for _, m := range metricNameRE.FindAllStringSubmatchIndex(src, -1) {
			name := src[m[2]:m[3]]
			var mt metric
			if cs := constructorRE.FindAllStringSubmatch(src[:m[0]], -1); len(cs) > 0 {
				mt.histogram = strings.HasPrefix(cs[len(cs)-1][1], "Histogram")
			}
			// The options end at the next constructor; labels are declared within them.
			rest := src[m[1]:]
			if next := constructorRE.FindStringIndex(rest); next != nil {
				rest = rest[:next[0]]
			}
			if l := labelListRE.FindStringSubmatch(rest); l != nil {
				for _, q := range strings.Split(l[1], ",") {
					if q = strings.Trim(strings.TrimSpace(q), `"`); q != "" {
						mt.labels = append(mt.labels, q)
					}
				}
			}
			if c := constLabelRE.FindStringSubmatch(rest); c != nil {
				mt.labels = append(mt.labels, c[1])
			}
			out[name] = mt
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The Go and process collectors the gate registers next to its own metrics.
	build, err := os.ReadFile(filepath.Join(root, "cmd", "tollgate", "build.go"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(build), "collectors.NewGoCollector") {
		out["go_goroutines"] = metric{}
	}
	if strings.Contains(string(build), "collectors.NewProcessCollector") {
		out["process_resident_memory_bytes"] = metric{}
	}
	if len(out) < 10 {
		t.Fatalf("found only %d metrics in the code: the scan is broken", len(out))
	}
	return out
}

// grafanaVars replaces Grafana's variables with values PromQL accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$job", ".*", "$instance", ".*")

// exprProblems parses a PromQL expression and lists every metric it names that the gate does
// not export, and every label it matches or groups by that those metrics do not carry.
func exprProblems(expr string, known map[string]metric) []string {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(grafanaVars.Replace(expr))
	if err != nil {
		return []string{err.Error()}
	}
	var problems []string
	labelsOf := func(node parser.Node) map[string]bool {
		ls := map[string]bool{"job": true, "instance": true}
		parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
			if vs, ok := n.(*parser.VectorSelector); ok {
				name, m := family(vs.Name, known)
				for _, l := range m.labels {
					ls[l] = true
				}
				if name != vs.Name {
					ls["le"] = true
				}
			}
			return nil
		})
		return ls
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.VectorSelector:
			if n.Name == "" {
				problems = append(problems, "a selector without a metric name: "+n.String())
				return nil
			}
			if _, ok := known[n.Name]; !ok {
				if name, _ := family(n.Name, known); name == n.Name {
					problems = append(problems, "unknown metric "+n.Name)
					return nil
				}
			}
			ls := labelsOf(n)
			for _, m := range n.LabelMatchers {
				if m.Name != "__name__" && !ls[m.Name] {
					problems = append(problems, "metric "+n.Name+" has no label "+m.Name)
				}
			}
		case *parser.AggregateExpr:
			ls := labelsOf(n.Expr)
			for _, g := range n.Grouping {
				if !ls[g] {
					problems = append(problems, "grouping by "+g+", which "+n.Expr.String()+" does not carry")
				}
			}
		}
		return nil
	})
	return problems
}

// family maps a histogram's series (_bucket, _sum, _count) to its family.
func family(name string, known map[string]metric) (string, metric) {
	if m, ok := known[name]; ok {
		return name, m
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok && known[base].histogram {
			return base, known[base]
		}
	}
	return name, metric{}
}

func TestExprProblemsCatchesMistakes(t *testing.T) {
	known := map[string]metric{
		"tollgate_requests_total":           {labels: []string{"route", "decision"}},
		"tollgate_request_duration_seconds": {histogram: true},
	}
	for _, c := range []struct{ expr, want string }{
		{`sum by (decision) (rate(tollgate_requests_total{job=~"$job"}[$__rate_interval]))`, ""},
		{`histogram_quantile(0.9, sum by (le) (rate(tollgate_request_duration_seconds_bucket[5m])))`, ""},
		{`rate(tollgate_request_total[5m])`, "unknown metric tollgate_request_total"},
		{`rate(tollgate_requests_total_bucket[5m])`, "unknown metric tollgate_requests_total_bucket"},
		{`rate(tollgate_requests_total{decison="deny"}[5m])`, "has no label decison"},
		{`sum by (reason) (rate(tollgate_requests_total[5m]))`, "grouping by reason"},
		{`sum(rate(tollgate_requests_total[5m])`, "unclosed"},
	} {
		got := strings.Join(exprProblems(c.expr, known), "; ")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("exprProblems(%s) = %q, want %q", c.expr, got, c.want)
		}
	}
}

func TestGrafanaDashboard(t *testing.T) {
	known := gateMetrics(t)
	b, err := os.ReadFile("monitoring/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		UID, Title    string
		SchemaVersion int
		Panels        []struct {
			ID          int
			Type, Title string
			Targets     []struct{ Expr string }
			GridPos     struct{ H, W, X, Y int }
		}
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.UID == "" || dash.Title == "" || dash.SchemaVersion == 0 || len(dash.Panels) == 0 {
		t.Fatalf("not a Grafana dashboard: uid %q, title %q, schemaVersion %d, %d panels", dash.UID, dash.Title, dash.SchemaVersion, len(dash.Panels))
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		if p.GridPos.X+p.GridPos.W > 24 || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q is placed at %+v, outside the 24-column grid", p.Title, p.GridPos)
		}
		for _, tg := range p.Targets {
			for _, problem := range exprProblems(tg.Expr, known) {
				t.Errorf("panel %q: %s\n  %s", p.Title, problem, tg.Expr)
			}
			for name := range known {
				if strings.Contains(tg.Expr, name) {
					used[name] = true
				}
			}
		}
	}
	// Every metric the README lists is on the dashboard.
	for _, name := range []string{"tollgate_requests_total", "tollgate_request_duration_seconds", "tollgate_upstream_duration_seconds",
		"tollgate_logins_total", "tollgate_policy_decisions_total", "tollgate_store_errors_total", "tollgate_audit_errors_total",
		"tollgate_audit_records_total", "tollgate_audit_spool_bytes", "tollgate_audit_oldest_undelivered_seconds",
		"tollgate_policy_reloads_total", "tollgate_policy_version_info", "tollgate_mfa_total", "tollgate_tls_cert_expiry_seconds"} {
		if !used[name] {
			t.Errorf("no panel shows %s", name)
		}
	}
}

func TestAlertRules(t *testing.T) {
	known := gateMetrics(t)
	groups, errs := rulefmt.ParseFile("monitoring/alerts.yaml", false, model.LegacyValidation,
		parser.NewParser(parser.Options{}), slog.New(slog.DiscardHandler))
	for _, err := range errs {
		t.Errorf("alerts.yaml: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	alerts := map[string]bool{}
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			alerts[r.Alert] = true
			for _, problem := range exprProblems(r.Expr, known) {
				t.Errorf("alert %s: %s", r.Alert, problem)
			}
			if !slices.Contains([]string{"warning", "critical"}, r.Labels["severity"]) {
				t.Errorf("alert %s: severity %q, want warning or critical", r.Alert, r.Labels["severity"])
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("alert %s: a summary and a description tell the person paged what to do", r.Alert)
			}
		}
	}
	for _, want := range []string{"TollgateAuditBacklog", "TollgateSessionStoreErrors", "TollgateLoginFailureSpike",
		"TollgateDenySpike", "TollgateCertificateExpiresSoon"} {
		if !alerts[want] {
			t.Errorf("no alert %s", want)
		}
	}

	// promtool checks the file as Prometheus loads it, and runs the unit tests that make each
	// alert fire on its situation and stay quiet otherwise.
	promtool := tool(t, "promtool", "apt-get install prometheus")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yaml"},
		{"test", "rules", "alerts_test.yaml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = "monitoring"
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// TestGateMetricsScan pins what the source scan finds for a few families, so that a broken
// scan cannot pass every expression.
func TestGateMetricsScan(t *testing.T) {
	known := gateMetrics(t)
	for name, want := range map[string]metric{
		"tollgate_requests_total":           {labels: []string{"route", "decision"}},
		"tollgate_request_duration_seconds": {histogram: true},
		"tollgate_audit_records_total":      {labels: []string{"sink", "result"}},
		"tollgate_store_errors_total":       {},
		"tollgate_tls_cert_expiry_seconds":  {labels: []string{"name"}},
	} {
		got, ok := known[name]
		if !ok || got.histogram != want.histogram || !slices.Equal(got.labels, want.labels) {
			t.Errorf("%s = %+v (found %v), want %+v", name, got, ok, want)
		}
	}
}
