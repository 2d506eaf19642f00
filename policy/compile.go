package policy

import (
	"context"
	"fmt"
	"strings"

	"github.com/ory/ladon"
	"github.com/ory/ladon/manager/memory"
)

// policyID names a compiled policy the way the file reads, e.g. "sales_rep:invoices.create:allow",
// so that a log line or audit record points straight at the role and route that decided.
func policyID(role, route, effect string) string {
	return role + ":" + route + ":" + effect
}

// compile turns a validated model into ladon policies, one per (role, route, effect), stored in a
// memory manager. It also compiles every resource template once, through the matcher that Decide
// uses, so that a template ladon cannot compile fails the load rather than a request, and no
// request pays for compiling.
func compile(m model) (*memory.MemoryManager, *ladon.RegexpMatcher, error) {
	ctx := context.Background()
	mgr := memory.NewMemoryManager()
	var policies []*ladon.DefaultPolicy
	for _, r := range m.roles {
		for _, effect := range []string{ladon.AllowAccess, ladon.DenyAccess} {
			names, verb := r.allow, "may"
			if effect == ladon.DenyAccess {
				names, verb = r.deny, "may not"
			}
			for _, name := range names {
				rt := m.routes[name]
				p := &ladon.DefaultPolicy{
					ID: policyID(r.name, rt.name, effect),
					Description: fmt.Sprintf("%s %s %s %s (route %s)",
						r.name, verb, strings.Join(rt.methods, "|"), strings.Join(rt.patterns, " "), rt.name),
					Subjects:  []string{r.name},
					Actions:   rt.methods,
					Resources: rt.templates,
					Effect:    effect,
				}
				if err := mgr.Create(ctx, p); err != nil {
					return nil, nil, fmt.Errorf("policy: store %s: %w", p.ID, err)
				}
				policies = append(policies, p)
			}
		}
	}

	templates := map[string]bool{}
	for _, p := range policies {
		for _, t := range p.Resources {
			if strings.ContainsRune(t, rune(p.GetStartDelimiter())) {
				templates[t] = true
			}
		}
	}
	// Sized to hold every template, so the cache never evicts and Decide never recompiles.
	matcher := ladon.NewRegexpMatcher(max(len(templates), 1))
	for _, p := range policies {
		for _, t := range p.Resources {
			if _, err := matcher.Matches(p, []string{t}, "/"); err != nil {
				return nil, nil, fmt.Errorf("policy: compile template %q of %s: %w", t, p.ID, err)
			}
		}
	}
	return mgr, matcher, nil
}
