package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy/canon"
)

const policyUsage = `usage: tollgate policy <explain|test|coverage> (--config tollgate.yaml | --policy policy.yaml) ...

  explain  --roles r1,r2 [--ip ADDR] [--mfa-age 2m|never] [--owns list=id,id] [--at RFC3339] METHOD PATH
           the decision, the policy that made it, and every policy that matched and why
  test     CASES.yaml
           run a table of expected decisions (see examples/policy-cases.yaml); exit 1 on a mismatch
  coverage [FILE]
           read "METHOD PATH" lines or an access log (common/combined format; stdin without FILE)
           and list the requests no rule names; exit 1 when there are some

Exit 2 on a usage error or a file that cannot be read.
`

// cmdPolicy runs the tools for people who write policies.
func cmdPolicy(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, policyUsage)
		return 2
	}
	fs := flag.NewFlagSet("policy "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, policyUsage) }
	configPath := fs.String("config", "", "Tollgate configuration file (its policy.file is used)")
	policyPath := fs.String("policy", "", "policy file")
	ex := explainFlags{owns: map[string][]string{}}
	if args[0] == "explain" {
		fs.StringVar(&ex.roles, "roles", "", "comma-separated roles")
		fs.StringVar(&ex.ip, "ip", "", "client address")
		fs.StringVar(&ex.mfaAge, "mfa-age", "0s", `time since the second factor was proven, or "never"`)
		fs.StringVar(&ex.at, "at", "", "decision time, RFC 3339 (default now)")
		fs.Func("owns", "ownership list, list=id,id (repeatable)", func(s string) error {
			list, ids, ok := strings.Cut(s, "=")
			if !ok || list == "" {
				return errors.New(`want list=id,id`)
			}
			ex.owns[list] = append(ex.owns[list], strings.Split(ids, ",")...)
			return nil
		})
	}
	// Flags may come before or after the arguments.
	var pos []string
	for rest := args[1:]; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		pos, rest = append(pos, rest[0]), rest[1:]
	}
	if (*configPath == "") == (*policyPath == "") {
		fmt.Fprintln(stderr, "tollgate policy: give exactly one of --config and --policy")
		return 2
	}
	var eng *policy.Engine
	var err error
	if *policyPath != "" {
		eng, err = policy.Load(*policyPath)
	} else {
		_, eng, err = loadAll(*configPath)
	}
	if err != nil {
		for _, line := range splitErrors(err) {
			fmt.Fprintln(stderr, line)
		}
		return 2
	}
	for _, w := range eng.Warnings() {
		fmt.Fprintln(stderr, "warning:", w.Error())
	}
	switch {
	case args[0] == "explain" && len(pos) == 2:
		return policyExplain(ctx, eng, ex, pos[0], pos[1], stdout, stderr)
	case args[0] == "test" && len(pos) == 1:
		return policyTest(ctx, eng, pos[0], stdout, stderr)
	case args[0] == "coverage" && len(pos) <= 1:
		return policyCoverage(eng, pos, stdout, stderr)
	}
	fmt.Fprint(stderr, policyUsage)
	return 2
}

type explainFlags struct {
	roles, ip, mfaAge, at string
	owns                  map[string][]string
}

// request builds the policy request an explain or a test case describes.
func buildRequest(target string, roles []string, ip, mfaAge, at string, owns map[string][]string) (policy.Request, error) {
	method, raw, ok := strings.Cut(strings.TrimSpace(target), " ")
	if !ok {
		return policy.Request{}, fmt.Errorf("request %q: want METHOD PATH", target)
	}
	t, err := canon.Request(method, strings.TrimSpace(raw))
	if err != nil {
		return policy.Request{}, fmt.Errorf("request %q: %w", target, err)
	}
	r := policy.Request{Method: t.Method, Path: t.Path, Roles: roles, Owns: owns, Now: time.Now()}
	if at != "" {
		if r.Now, err = time.Parse(time.RFC3339, at); err != nil {
			return r, fmt.Errorf("time %q: want RFC 3339, e.g. 2026-12-08T10:30:00+01:00", at)
		}
	}
	if ip != "" {
		if r.ClientIP, err = netip.ParseAddr(ip); err != nil {
			return r, fmt.Errorf("address %q: %w", ip, err)
		}
	}
	switch mfaAge {
	case "never":
	case "":
		r.MFAAt = r.Now
	default:
		age, err := time.ParseDuration(mfaAge)
		if err != nil {
			return r, fmt.Errorf("MFA age %q: want a duration such as 2m, or never", mfaAge)
		}
		r.MFAAt = r.Now.Add(-age)
	}
	return r, nil
}

func splitRoles(s string) []string {
	var out []string
	for _, r := range strings.Split(s, ",") {
		if r = strings.TrimSpace(r); r != "" {
			out = append(out, r)
		}
	}
	return out
}

func policyExplain(ctx context.Context, eng *policy.Engine, f explainFlags, method, path string, stdout, stderr io.Writer) int {
	r, err := buildRequest(method+" "+path, splitRoles(f.roles), f.ip, f.mfaAge, f.at, f.owns)
	if err != nil {
		fmt.Fprintln(stderr, "tollgate policy explain:", err)
		return 1
	}
	x, err := eng.Explain(ctx, r)
	if err != nil {
		fmt.Fprintln(stderr, "tollgate policy explain:", err)
		return 1
	}
	d := x.Decision
	fmt.Fprintf(stdout, "%s %s as %s (policy version %s)\n", r.Method, r.Path, orDash(strings.Join(r.Roles, ", ")), d.Version)
	fmt.Fprintf(stdout, "decision: %s (%s)\n", effect(d), d.Reason)
	if d.PolicyID != "" {
		fmt.Fprintf(stdout, "policy:   %s (route %s)\n", d.PolicyID, d.Route)
	}
	if d.Reason == policy.ReasonMFAStale {
		fmt.Fprintf(stdout, "step-up:  a second factor proven within %s would allow it\n", d.MFAMaxAge)
	}
	if len(x.Matches) > 0 {
		fmt.Fprintln(stdout, "matched:")
	}
	for _, m := range x.Matches {
		state := "applies"
		if !m.Applies {
			state = "does not apply"
		}
		fmt.Fprintf(stdout, "  %-5s %s (role %s): %s\n", m.Effect, m.PolicyID, m.Role, state)
		for _, c := range m.Conditions {
			fmt.Fprintf(stdout, "        %s %s: %s\n", c.Name, c.Want, map[bool]string{true: "holds", false: "fails"}[c.OK])
		}
	}
	if !d.Allow {
		fmt.Fprintf(stdout, "roles that may: %s\n", orDash(strings.Join(d.NeededRoles, ", ")))
	}
	if x.Reference.Allow != d.Allow || x.Reference.Reason != d.Reason || x.Reference.PolicyID != d.PolicyID {
		fmt.Fprintf(stderr, "tollgate policy explain: ladon's own evaluation disagrees: %s (%s, %s); please report this\n",
			effect(x.Reference), x.Reference.Reason, x.Reference.PolicyID)
		return 1
	}
	return 0
}

func effect(d policy.Decision) string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// caseFile is the format of `tollgate policy test`: a matrix of requests against roles, every
// cell of which is checked, and individual cases with their own request context.
type caseFile struct {
	Defaults caseContext `yaml:"defaults"`
	Matrix   struct {
		Roles    []string `yaml:"roles"`
		Requests []struct {
			Request string   `yaml:"request"`
			Allow   []string `yaml:"allow"`
			Route   string   `yaml:"route"`
		} `yaml:"requests"`
	} `yaml:"matrix"`
	Cases []struct {
		Name        string   `yaml:"name"`
		Request     string   `yaml:"request"`
		Roles       []string `yaml:"roles"`
		caseContext `yaml:",inline"`
		Expect      expectation `yaml:"expect"`
	} `yaml:"cases"`
}

type caseContext struct {
	IP     string              `yaml:"ip"`
	At     string              `yaml:"at"`
	MFAAge string              `yaml:"mfa_age"`
	Owns   map[string][]string `yaml:"owns"`
}

// or fills what c leaves empty from d.
func (c caseContext) or(d caseContext) caseContext {
	for _, p := range []struct{ v, def *string }{{&c.IP, &d.IP}, {&c.At, &d.At}, {&c.MFAAge, &d.MFAAge}} {
		if *p.v == "" {
			*p.v = *p.def
		}
	}
	if c.Owns == nil {
		c.Owns = d.Owns
	}
	return c
}

// expectation is "allow", "deny", or a mapping of the decision's fields to check.
type expectation struct {
	Allow       *bool    `yaml:"allow"`
	Reason      string   `yaml:"reason"`
	Policy      string   `yaml:"policy"`
	Route       string   `yaml:"route"`
	MFAMaxAge   string   `yaml:"mfa_max_age"`
	NeededRoles []string `yaml:"needed_roles"`
}

func (x *expectation) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode && (n.Value == "allow" || n.Value == "deny") {
		allow := n.Value == "allow"
		x.Allow = &allow
		return nil
	}
	// Node.Decode does not refuse unknown keys, and a misspelt one would pass every case.
	known := []string{"allow", "reason", "policy", "route", "mfa_max_age", "needed_roles"}
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: expect is allow, deny, or a mapping of %s", n.Line, strings.Join(known, ", "))
	}
	for i := 0; i < len(n.Content); i += 2 {
		if k := n.Content[i]; !slices.Contains(known, k.Value) {
			return fmt.Errorf("line %d: unknown key %q in expect (known: %s)", k.Line, k.Value, strings.Join(known, ", "))
		}
	}
	type plain expectation
	return n.Decode((*plain)(x))
}

// mismatch describes how d differs from x, or returns "".
func (x expectation) mismatch(d policy.Decision) string {
	var diffs []string
	check := func(what, want, got string) {
		if want != "" && want != got {
			diffs = append(diffs, fmt.Sprintf("%s %s, want %s", what, orDash(got), want))
		}
	}
	if x.Allow != nil && *x.Allow != d.Allow {
		diffs = append(diffs, fmt.Sprintf("%s (%s), want %s", effect(d), d.Reason, map[bool]string{true: "allow", false: "deny"}[*x.Allow]))
	}
	check("reason", x.Reason, d.Reason)
	check("policy", x.Policy, d.PolicyID)
	check("route", x.Route, d.Route)
	if x.MFAMaxAge != "" {
		want, err := time.ParseDuration(x.MFAMaxAge)
		if err != nil || want != d.MFAMaxAge {
			diffs = append(diffs, fmt.Sprintf("mfa_max_age %s, want %s", d.MFAMaxAge, x.MFAMaxAge))
		}
	}
	if x.NeededRoles != nil && !slices.Equal(x.NeededRoles, d.NeededRoles) {
		diffs = append(diffs, fmt.Sprintf("needed_roles %v, want %v", d.NeededRoles, x.NeededRoles))
	}
	return strings.Join(diffs, "; ")
}

func policyTest(ctx context.Context, eng *policy.Engine, path string, stdout, stderr io.Writer) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintln(stderr, "tollgate policy test:", err)
		return 2
	}
	var cf caseFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cf); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", path, err)
		return 2
	}
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc) // decoded above, so it parses; used for line numbers only
	matrixLines, caseLines := itemLines(&doc, "matrix", "requests"), itemLines(&doc, "cases")
	failed, cells := 0, 0
	fail := func(line int, format string, args ...any) {
		failed++
		fmt.Fprintf(stdout, "FAIL %s:%d: %s\n", path, line, fmt.Sprintf(format, args...))
	}
	reached := map[string]bool{}
	for i, row := range cf.Matrix.Requests {
		for _, role := range cf.Matrix.Roles {
			cells++
			c := cf.Defaults
			r, err := buildRequest(row.Request, []string{role}, c.IP, c.MFAAge, c.At, c.Owns)
			if err != nil {
				fail(matrixLines[i], "%v", err)
				continue
			}
			for _, rt := range eng.Covers(r.Method, r.Path) {
				reached[rt] = true
			}
			d, err := eng.Decide(ctx, r)
			want := slices.Contains(row.Allow, role)
			switch {
			case err != nil:
				fail(matrixLines[i], "%s as %s: %v", row.Request, role, err)
			case d.Allow != want:
				fail(matrixLines[i], "%s as %s: %s (%s), want %s", row.Request, role, effect(d), d.Reason, effect(policy.Decision{Allow: want}))
			case want && row.Route != "" && d.Route != row.Route:
				fail(matrixLines[i], "%s as %s: allowed by route %s, want %s", row.Request, role, d.Route, row.Route)
			}
		}
	}
	for i, tc := range cf.Cases {
		c := tc.caseContext.or(cf.Defaults)
		r, err := buildRequest(tc.Request, tc.Roles, c.IP, c.MFAAge, c.At, c.Owns)
		if err != nil {
			fail(caseLines[i], "%s: %v", tc.Name, err)
			continue
		}
		for _, rt := range eng.Covers(r.Method, r.Path) {
			reached[rt] = true
		}
		d, err := eng.Decide(ctx, r)
		if err != nil {
			fail(caseLines[i], "%s: %v", tc.Name, err)
		} else if m := tc.Expect.mismatch(d); m != "" {
			fail(caseLines[i], "%s: %s as %s: %s", tc.Name, tc.Request, orDash(strings.Join(tc.Roles, ",")), m)
		}
	}
	var missed []string
	for _, role := range eng.Roles() {
		_, routes, _ := eng.RoleInfo(role)
		for _, rt := range routes {
			if !reached[rt] && !slices.Contains(missed, rt) {
				missed = append(missed, rt)
			}
		}
	}
	slices.Sort(missed)
	if len(missed) > 0 {
		fmt.Fprintf(stderr, "note: no case requests a path of these allowed routes: %s\n", strings.Join(missed, ", "))
	}
	total := cells + len(cf.Cases)
	if failed > 0 {
		fmt.Fprintf(stdout, "%d of %d checks failed\n", failed, total)
		return 1
	}
	fmt.Fprintf(stdout, "ok: %d checks (%d matrix cells, %d cases)\n", total, cells, len(cf.Cases))
	return 0
}

// itemLines returns the line of each item of the list at keys in a YAML document.
func itemLines(doc *yaml.Node, keys ...string) []int {
	n := doc
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, k := range keys {
		n = mapValue(n, k)
		if n == nil {
			return nil
		}
	}
	lines := make([]int, len(n.Content))
	for i, item := range n.Content {
		lines[i] = item.Line
	}
	return lines
}

// accessLog matches the start of an nginx/Apache common or combined log line up to the request.
var accessLog = regexp.MustCompile(`^\S+ \S+ \S+ \[[^\]]*\] "(\S+) (\S+)(?: [^"]*)?"`)

func policyCoverage(eng *policy.Engine, pos []string, stdout, stderr io.Writer) int {
	in := io.Reader(os.Stdin)
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			fmt.Fprintln(stderr, "tollgate policy coverage:", err)
			return 2
		}
		defer f.Close()
		in = f
	}
	seen := map[string]int{}
	refused := map[string]string{}
	var order []string
	total := 0
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		method, target := "", ""
		if m := accessLog.FindStringSubmatch(line); m != nil {
			method, target = m[1], m[2]
		} else if f := strings.Fields(line); len(f) == 2 {
			method, target = f[0], f[1]
		} else {
			fmt.Fprintf(stderr, "skipped (neither \"METHOD PATH\" nor an access log line): %.80s\n", line)
			continue
		}
		total++
		t, err := canon.Request(method, target)
		if err != nil {
			refused[method+" "+target] = err.Error()
			continue
		}
		key := t.Method + " " + t.Path
		if seen[key] == 0 {
			order = append(order, key)
		}
		seen[key]++
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(stderr, "tollgate policy coverage:", err)
		return 2
	}
	var uncovered []string
	for _, key := range order {
		method, path, _ := strings.Cut(key, " ")
		if len(eng.Covers(method, path)) == 0 {
			uncovered = append(uncovered, key)
		}
	}
	slices.Sort(uncovered)
	if len(uncovered) > 0 {
		fmt.Fprintf(stdout, "named by no rule, so denied to everyone (%d):\n", len(uncovered))
		for _, key := range uncovered {
			fmt.Fprintf(stdout, "  %s  (%s)\n", key, plural(seen[key], "request"))
		}
	}
	if len(refused) > 0 {
		fmt.Fprintf(stdout, "refused before the policy, as not canonical (%d):\n", len(refused))
		for _, key := range slices.Sorted(maps.Keys(refused)) {
			fmt.Fprintf(stdout, "  %s  (%s)\n", key, refused[key])
		}
	}
	fmt.Fprintf(stdout, "%s, %d distinct; %d named by no rule\n", plural(total, "request"), len(order), len(uncovered))
	if len(uncovered) > 0 {
		return 1
	}
	return 0
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
