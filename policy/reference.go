package policy

import (
	"context"
	"fmt"
	"time"

	"github.com/ory/ladon"
	"github.com/ory/ladon/manager/memory"
)

// The reference evaluation decides with ladon itself: candidates from ladon's memory manager,
// matched by ladon's regexp matcher, conditions through ladon's Condition interface. It is
// what the index must agree with (the differential test checks it on random requests), and
// what Explain cross-checks a decision against. It is far too slow for requests.

// candidateFinder is the part of a ladon.Manager that evaluation needs.
type candidateFinder interface {
	FindRequestCandidates(ctx context.Context, r *ladon.Request) (ladon.Policies, error)
}

var _ candidateFinder = (*memory.MemoryManager)(nil)

// policyMatcher is ladon's matcher contract (ladon.Ladon.Matcher), declared here because ladon
// keeps its own unexported.
type policyMatcher interface {
	Matches(p ladon.Policy, haystack []string, needle string) (bool, error)
}

var _ policyMatcher = (*ladon.RegexpMatcher)(nil)

// ladonContext is the request context the compiled policies' conditions read.
func ladonContext(r Request, now time.Time) ladon.Context {
	c := ladon.Context{ctxTime: now, ctxMFAAt: r.MFAAt, ctxOwns: r.Owns}
	if r.ClientIP.IsValid() {
		c[ctxSource] = r.ClientIP.String()
	}
	return c
}

// freshContext is the request context with a second factor proven at the decision time.
func freshContext(r Request, now time.Time) ladon.Context {
	c := ladonContext(r, now)
	c[ctxMFAAt] = now
	return c
}

// referenceDecide is Decide computed by ladon's evaluation, role by role.
func (e *Engine) referenceDecide(ctx context.Context, r Request) (Decision, error) {
	d := Decision{Version: e.version}
	if err := ctx.Err(); err != nil {
		d.Reason = ReasonError
		return d, fmt.Errorf("policy: decide: %w", err)
	}
	if !validMethod(r.Method) || !canonicalPath(r.Path) {
		d.Reason = ReasonInvalidRequest
		return d, nil
	}
	// Ladon is asked about the path in the same match form as the index, and the raw
	// policies' resources were folded alike when the file loaded.
	path := matchForm(r.Path)
	now := e.decisionTime(r)
	lctx := ladonContext(r, now)
	all, err := e.evaluateRoles(ctx, r.Roles, r.Method, path, lctx)
	if err != nil {
		return Decision{Version: e.version, Reason: ReasonError}, err
	}
	switch {
	case all.denyID != "":
		d.Reason, d.PolicyID = ReasonDeniedByPolicy, all.denyID
	case all.allowID != "":
		d.Allow, d.Reason, d.PolicyID, d.Route = true, ReasonAllowed, all.allowID, e.policies[all.allowID].route
		return d, nil
	default:
		// Denied by default: would a second factor proven now allow it?
		f, err := e.evaluateRoles(ctx, r.Roles, r.Method, path, freshContext(r, now))
		if err != nil {
			return Decision{Version: e.version, Reason: ReasonError}, err
		}
		switch {
		case f.allowID != "" && f.denyID == "":
			d.Reason, d.PolicyID, d.MFAMaxAge = ReasonMFAStale, f.allowID, f.maxMFA
		case len(r.Roles) == 0:
			d.Reason = ReasonNoRoles
		default:
			d.Reason = ReasonNoMatchingPolicy
		}
	}
	if d.PolicyID != "" {
		d.Route = e.policies[d.PolicyID].route
	}
	// The roles that on their own would be allowed, given a fresh second factor.
	fresh := freshContext(r, now)
	for _, name := range e.roleNames {
		m, err := e.evaluate(ctx, name, r.Method, path, fresh)
		if err != nil {
			return Decision{Version: e.version, Reason: ReasonError}, err
		}
		if m.allowID != "" && m.denyID == "" {
			d.NeededRoles = append(d.NeededRoles, name)
		}
	}
	return d, nil
}

// match is what policies say about a request: the deciding allow and deny policy IDs, ""
// where none matched, and the longest MFA window among the matching allow policies.
type match struct {
	allowID, denyID string
	maxMFA          time.Duration
}

func (m *match) add(o match) {
	m.allowID, m.denyID = firstID(m.allowID, o.allowID), firstID(m.denyID, o.denyID)
	m.maxMFA = max(m.maxMFA, o.maxMFA)
}

// evaluateRoles evaluates every role, defined or not, as ladon would be asked about each.
func (e *Engine) evaluateRoles(ctx context.Context, roles []string, method, path string, lctx ladon.Context) (match, error) {
	var all match
	for _, name := range roles {
		m, err := e.evaluate(ctx, name, method, path, lctx)
		if err != nil {
			return match{}, err
		}
		all.add(m)
	}
	return all, nil
}

// evaluate runs ladon's matching for one subject, as Ladon.DoPoliciesAllow does, but records
// which policies matched instead of collapsing them into an error. Where several match, the
// smallest ID is reported so that the same request always names the same policy (the memory
// manager returns candidates in map order).
func (e *Engine) evaluate(ctx context.Context, subject, method, path string, lctx ladon.Context) (match, error) {
	req := &ladon.Request{Subject: subject, Action: method, Resource: path, Context: lctx}
	policies, err := e.candidates.FindRequestCandidates(ctx, req)
	if err != nil {
		return match{}, fmt.Errorf("policy: find candidates for %q: %w", subject, err)
	}
	var m match
	for _, p := range policies {
		ok, err := e.matches(ctx, p, req)
		if err != nil {
			return match{}, fmt.Errorf("policy: evaluate %s: %w", p.GetID(), err)
		}
		if !ok {
			continue
		}
		if p.AllowAccess() {
			m.allowID = firstID(m.allowID, p.GetID())
			if c, ok := p.GetConditions()[ctxMFAAt].(*mfaFreshCondition); ok {
				m.maxMFA = max(m.maxMFA, c.MaxAge)
			}
		} else {
			m.denyID = firstID(m.denyID, p.GetID())
		}
	}
	return m, nil
}

// matches checks one policy in ladon's order: action, subject, resource, then conditions.
func (e *Engine) matches(ctx context.Context, p ladon.Policy, r *ladon.Request) (bool, error) {
	for _, check := range [...]struct {
		haystack []string
		needle   string
	}{
		{p.GetActions(), r.Action},
		{p.GetSubjects(), r.Subject},
		{p.GetResources(), r.Resource},
	} {
		ok, err := e.matcher.Matches(p, check.haystack, check.needle)
		if err != nil || !ok {
			return false, err
		}
	}
	for key, c := range p.GetConditions() {
		if !c.Fulfills(ctx, r.Context[key], r) {
			return false, nil
		}
	}
	return true, nil
}

func firstID(a, b string) string {
	if a == "" || (b != "" && b < a) {
		return b
	}
	return a
}
