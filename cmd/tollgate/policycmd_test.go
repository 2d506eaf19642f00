package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func runPolicy(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"policy"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func writeTemp(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const examplePolicy = "../../examples/policy.yaml"

// TestPolicyTestExampleCases: the example policy passes its own cases, which check every cell
// of the role matrix and reach every route a role is allowed.
func TestPolicyTestExampleCases(t *testing.T) {
	for _, source := range [][]string{{"--policy", examplePolicy}, {"--config", "../../examples/tollgate.yaml"}} {
		code, out, errOut := runPolicy(t, append([]string{"test"}, append(source, "../../examples/policy-cases.yaml")...)...)
		if code != 0 || !strings.Contains(out, "ok: 205 checks (190 matrix cells, 15 cases)") {
			t.Fatalf("%v: exit %d\n%s%s", source, code, out, errOut)
		}
		if errOut != "" {
			t.Errorf("%v: stderr (warnings or routes no case reaches):\n%s", source, errOut)
		}
	}
}

func TestPolicyTestReportsMismatches(t *testing.T) {
	cases := writeTemp(t, "cases.yaml", `defaults: {mfa_age: 1m}
matrix:
  roles: [administrator, support]
  requests:
    - {request: "GET /settings", allow: [administrator]}
    - {request: "GET /payments", allow: [administrator]}
    - {request: "GET /customers", route: invoices.read, allow: [support]}
cases:
  - name: stale refund
    request: POST /payments/1/refund
    roles: [billing_manager]
    mfa_age: 6m
    expect: {allow: false, reason: mfa-stale, mfa_max_age: 10m}
  - name: right
    request: GET /
    roles: [support]
    expect: allow
`)
	code, out, _ := runPolicy(t, "test", "--policy", examplePolicy, cases)
	for _, want := range []string{
		cases + ":6: GET /payments as support: allow (allowed), want deny",
		cases + ":7: GET /customers as support: allowed by route customers.read, want invoices.read",
		cases + ":7: GET /customers as administrator: allow (allowed), want deny",
		cases + ":9: stale refund: POST /payments/1/refund as billing_manager: mfa_max_age 5m0s, want 10m",
		"4 of 8 checks failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 || strings.Contains(out, "GET /settings") || strings.Contains(out, ": right:") {
		t.Errorf("exit %d, want 1 and only the mismatches:\n%s", code, out)
	}
}

func TestPolicyTestRefusesBadCaseFiles(t *testing.T) {
	for name, body := range map[string]string{
		"unknown key":           "cases:\n  - name: x\n    request: GET /\n    role: [support]\n    expect: allow\n",
		"unknown expect key":    "cases:\n  - name: x\n    request: GET /\n    roles: [support]\n    expect: {alow: true}\n",
		"expect neither":        "cases:\n  - name: x\n    request: GET /\n    expect: maybe\n",
		"not YAML":              "cases: [\n",
		"unknown top-level key": "case: []\n",
	} {
		t.Run(name, func(t *testing.T) {
			code, _, errOut := runPolicy(t, "test", "--policy", examplePolicy, writeTemp(t, "cases.yaml", body))
			if code != 2 || !strings.Contains(errOut, "cases.yaml") {
				t.Errorf("exit %d, want 2 with the file named; stderr:\n%s", code, errOut)
			}
		})
	}
	// A request that cannot be canonicalized is a failing case, not a pass.
	code, out, _ := runPolicy(t, "test", "--policy", examplePolicy, writeTemp(t, "c.yaml", "cases:\n  - {name: dots, request: \"GET /a/%2F\", roles: [support], expect: deny}\n"))
	if code != 1 || !strings.Contains(out, "dots") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestPolicyExplain(t *testing.T) {
	code, out, _ := runPolicy(t, "explain", "--policy", examplePolicy, "--roles", "billing_manager,support", "--mfa-age", "7m", "POST", "/payments/9/refund")
	for _, want := range []string{
		"POST /payments/9/refund as billing_manager, support",
		"decision: deny (mfa-stale)",
		"policy:   billing_manager:payments.refund:allow (route payments.refund)",
		"step-up:  a second factor proven within 5m0s would allow it",
		"allow billing_manager:payments.refund:allow (role billing_manager): does not apply",
		"mfa_within 5m0s: fails",
		"roles that may: administrator, billing_manager",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}
	// Flags after the request; the query string is not part of the decision.
	code, out, _ = runPolicy(t, "explain", "--config", "../../examples/tollgate.yaml", "GET", "/settings?tab=x", "--roles", "administrator")
	if code != 0 || !strings.Contains(out, "GET /settings as administrator") || !strings.Contains(out, "decision: allow (allowed)") {
		t.Errorf("exit %d:\n%s", code, out)
	}
	code, _, errOut := runPolicy(t, "explain", "--policy", examplePolicy, "--roles", "administrator", "GET", "/settings/%2e%2e%2fadmin")
	if code != 1 || !strings.Contains(errOut, "refused request target") {
		t.Errorf("a target the gate refuses: exit %d, stderr %q", code, errOut)
	}
}

func TestPolicyCoverage(t *testing.T) {
	log := writeTemp(t, "access.log", `# requests seen in a week
GET /customers?page=2
GET /admin
10.0.0.1 - - [04/Dec/2026:10:00:00 +0000] "POST /settings HTTP/1.1" 200 12 "-" "curl/8"
10.0.0.1 - alice [04/Dec/2026:10:00:00 +0000] "DELETE /invoices/7 HTTP/1.1" 403 12 "-" "curl/8"
10.0.0.2 - - [04/Dec/2026:10:00:01 +0000] "GET /a/%2F HTTP/1.1" 400 0 "-" "-"
GET /admin
not a request line
`)
	code, out, errOut := runPolicy(t, "coverage", "--policy", examplePolicy, log)
	for _, want := range []string{
		"named by no rule, so denied to everyone (2):\n  DELETE /invoices/7  (1 request)\n  GET /admin  (2 requests)\n",
		"refused before the policy, as not canonical (1):\n  GET /a/%2F",
		"6 requests, 4 distinct; 2 named by no rule",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 || strings.Contains(out, "/customers") || strings.Contains(out, "/settings") || !strings.Contains(errOut, "not a request line") {
		t.Errorf("exit %d, want 1, routes only for uncovered requests:\n%s\nstderr:\n%s", code, out, errOut)
	}
	code, out, _ = runPolicy(t, "coverage", "--policy", examplePolicy, writeTemp(t, "ok.txt", "GET /\nPOST /invoices/1/void\n"))
	if code != 0 || !strings.Contains(out, "2 requests, 2 distinct; 0 named by no rule") {
		t.Errorf("all covered: exit %d\n%s", code, out)
	}
}

func TestPolicyUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"explain", "GET", "/"},
		{"explain", "--policy", examplePolicy, "--config", "x.yaml", "GET", "/"},
		{"explain", "--policy", examplePolicy, "GET"},
		{"frobnicate", "--policy", examplePolicy},
		{"test", "--policy", examplePolicy},
		{"test", "--policy", "missing.yaml", "cases.yaml"},
	} {
		if code, _, _ := runPolicy(t, args...); code != 2 {
			t.Errorf("policy %v: exit %d, want 2", args, code)
		}
	}
}
