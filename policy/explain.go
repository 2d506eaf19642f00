package policy

import (
	"cmp"
	"context"
	"slices"
	"strings"
)

// Explanation is a decision with its working shown, for people writing policies.
type Explanation struct {
	Decision Decision
	// Matches are the policies whose subject, action and resource match the request for one of
	// its roles, in policy-ID order, each with how its conditions came out.
	Matches []Match
	// Reference is the same request decided by ladon's own evaluation of the same policies. It
	// equals Decision unless something is wrong with the index.
	Reference Decision
}

// Match is one policy that matched the request's method, path and one of its roles.
type Match struct {
	PolicyID   string
	Route      string
	Effect     string // "allow" or "deny"
	Role       string
	Conditions []ConditionResult
	Applies    bool // every condition holds, so the policy took part in the decision
}

// ConditionResult is one condition of a Match.
type ConditionResult struct {
	Name string // "source", "hours", "mfa_within" or "owns"
	Want string // what the condition asks for, e.g. "10.0.0.0/8" or "5m0s"
	OK   bool
}

// Explain decides the request and reports every policy that took part or might have. It is
// slow next to Decide and meant for tools.
func (e *Engine) Explain(ctx context.Context, r Request) (Explanation, error) {
	d, err := e.Decide(ctx, r)
	if err != nil {
		return Explanation{Decision: d}, err
	}
	x := Explanation{Decision: d}
	if x.Reference, err = e.referenceDecide(ctx, r); err != nil {
		return x, err
	}
	if d.Reason == ReasonInvalidRequest {
		return x, nil
	}
	m := newMatcher(e, &r)
	add := func(ru *rule, role string) {
		x.Matches = append(x.Matches, m.explainRule(ru, role))
	}
	m.visit = func(t *terminal) {
		for _, mr := range t.methods {
			if mr.method != r.Method {
				continue
			}
			for i := range mr.rules {
				if name := e.roleNames[mr.rules[i].role]; slices.Contains(r.Roles, name) {
					add(&mr.rules[i], name)
				}
			}
		}
		for i := range t.anyMethod {
			ru := &t.anyMethod[i]
			if name := e.roleNames[ru.role]; ru.p.matchesAction(r.Method) && slices.Contains(r.Roles, name) {
				add(ru, name)
			}
		}
		for i := range t.unknown {
			ru := &t.unknown[i]
			for _, name := range r.Roles {
				if _, defined := e.roleID[name]; !defined && ru.p.matchesAction(r.Method) && matchAny(ru.p.subjectRes, name) {
					add(ru, name)
				}
			}
		}
	}
	m.walk(e.root, 0, nil)
	slices.SortFunc(x.Matches, func(a, b Match) int {
		return cmp.Or(strings.Compare(a.PolicyID, b.PolicyID), strings.Compare(a.Role, b.Role))
	})
	x.Matches = slices.CompactFunc(x.Matches, func(a, b Match) bool { return a.PolicyID == b.PolicyID && a.Role == b.Role })
	return x, nil
}

func (m *matcher) explainRule(ru *rule, role string) Match {
	p := ru.p
	out := Match{PolicyID: p.id, Route: p.route, Effect: "deny", Role: role}
	if p.allow {
		out.Effect = "allow"
	}
	c := &p.cond
	if c.source != nil {
		out.Conditions = append(out.Conditions, ConditionResult{"source", strings.Join(c.cidrs, " or "), sourceOK(c.source, m.ip)})
	}
	if c.windows != nil {
		texts := make([]string, len(c.windows))
		for i, w := range c.windows {
			texts[i] = w.text
		}
		out.Conditions = append(out.Conditions, ConditionResult{"hours", strings.Join(texts, " or "), windowsOK(c.windows, m.now)})
	}
	if c.mfa > 0 {
		out.Conditions = append(out.Conditions, ConditionResult{"mfa_within", c.mfa.String(), mfaFresh(m.now, m.mfaAt, c.mfa)})
	}
	if c.owns != nil {
		ok := ru.ownsSeg >= 0 && owned(m.owns, c.owns.list, nthSegment(m.path, int(ru.ownsSeg)))
		out.Conditions = append(out.Conditions, ConditionResult{"owns", "{" + c.owns.param + "} in " + c.owns.list, ok})
	}
	out.Applies = m.check(ru) == holds
	return out
}

// Covers returns the routes ("ladon:<id>" for raw policies) of every policy whose action and
// resource match method and path, whatever the role and conditions, sorted. An empty result
// means that no rule names the request at all: it is denied to everyone by default.
func (e *Engine) Covers(method, path string) []string {
	if !validMethod(method) || !canonicalPath(path) {
		return nil
	}
	var routes []string
	m := matcher{e: e, method: method, path: matchForm(path)}
	m.visit = func(t *terminal) {
		for _, mr := range t.methods {
			if mr.method == method {
				for _, ru := range mr.rules {
					routes = append(routes, ru.p.route)
				}
			}
		}
		for _, list := range [][]rule{t.anyMethod, t.unknown} {
			for _, ru := range list {
				if ru.p.matchesAction(method) {
					routes = append(routes, ru.p.route)
				}
			}
		}
	}
	m.walk(e.root, 0, nil)
	slices.Sort(routes)
	return slices.Compact(routes)
}
