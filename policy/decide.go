package policy

import (
	"context"
	"fmt"

	"github.com/ory/ladon"
	"github.com/ory/ladon/manager/memory"
)

// Reasons a Decision gives. They are stable strings: metrics labels and audit records use them.
const (
	ReasonAllowed          = "allowed"
	ReasonNoRoles          = "no-roles"           // the user has no role at all
	ReasonNoMatchingPolicy = "no-matching-policy" // default deny: no policy allows it
	ReasonDeniedByPolicy   = "denied-by-policy"   // a deny policy of one of the user's roles matched
	ReasonInvalidRequest   = "invalid-request"    // the method or path is not in canonical form
	ReasonError            = "error"              // evaluation broke; Decide also returns the error
)

// Request is what is being decided: may a user holding Roles do Method on Path?
type Request struct {
	Method  string   // as sent; compared case-sensitively
	Path    string   // canonical path, without the query
	Roles   []string // the user's roles; ones the policy does not define count for nothing
	Subject string   // who is asking, for logs only; never used in the decision
}

// Decision is the outcome. A denial is a Decision, not an error.
type Decision struct {
	Allow    bool
	Reason   string // one of the Reason constants
	PolicyID string // the deciding ladon policy, e.g. "sales_rep:invoices.create:allow"; "" on default deny
	Version  string // the policy version that decided
	// NeededRoles are the roles that on their own would be allowed this method and path, sorted;
	// filled on denials only, for the 403 page.
	NeededRoles []string
}

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

// Decide evaluates each of the user's roles as a ladon subject. Any matching deny policy denies,
// whichever role it belongs to; otherwise any matching allow policy allows; otherwise the
// request is denied by default. The error is non-nil only when evaluation broke, and then the
// Decision denies.
func (e *Engine) Decide(ctx context.Context, r Request) (Decision, error) {
	d := Decision{Version: e.version}
	if err := ctx.Err(); err != nil {
		d.Reason = ReasonError
		return d, fmt.Errorf("policy: decide: %w", err)
	}
	// The proxy canonicalizes before asking; this refuses anything that slipped past it, because
	// ladon matches with regexp2, whose semantics differ from Go's on such input.
	if !validMethod(r.Method) || !canonicalPath(r.Path) {
		d.Reason = ReasonInvalidRequest
		return d, nil
	}

	var allowID, denyID string
	for _, name := range r.Roles {
		if _, ok := e.roles[name]; !ok {
			continue
		}
		m, err := e.evaluate(ctx, name, r.Method, r.Path)
		if err != nil {
			d.Reason = ReasonError
			return d, err
		}
		allowID, denyID = firstID(allowID, m.allowID), firstID(denyID, m.denyID)
	}

	switch {
	case denyID != "":
		d.Reason, d.PolicyID = ReasonDeniedByPolicy, denyID
	case allowID != "":
		d.Allow, d.Reason, d.PolicyID = true, ReasonAllowed, allowID
		return d, nil
	case len(r.Roles) == 0:
		d.Reason = ReasonNoRoles
	default:
		d.Reason = ReasonNoMatchingPolicy
	}
	needed, err := e.neededRoles(ctx, r.Method, r.Path)
	if err != nil {
		return Decision{Version: e.version, Reason: ReasonError}, err
	}
	d.NeededRoles = needed
	return d, nil
}

// match is what one role's policies say about a request: the deciding allow and deny policy
// IDs, "" where none matched.
type match struct{ allowID, denyID string }

// evaluate runs ladon's matching for one subject, as Ladon.DoPoliciesAllow does, but records
// which policies matched instead of collapsing them into an error. Where several match, the
// smallest ID is reported so that the same request always names the same policy (the memory
// manager returns candidates in map order).
func (e *Engine) evaluate(ctx context.Context, subject, method, path string) (match, error) {
	req := &ladon.Request{Subject: subject, Action: method, Resource: path}
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

// neededRoles lists the defined roles that on their own would be allowed method on path.
func (e *Engine) neededRoles(ctx context.Context, method, path string) ([]string, error) {
	var out []string
	for _, name := range e.roleNames {
		m, err := e.evaluate(ctx, name, method, path)
		if err != nil {
			return nil, err
		}
		if m.allowID != "" && m.denyID == "" {
			out = append(out, name)
		}
	}
	return out, nil
}

func firstID(a, b string) string {
	if a == "" || (b != "" && b < a) {
		return b
	}
	return a
}
