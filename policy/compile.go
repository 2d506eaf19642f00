package policy

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/ory/ladon"
	"github.com/ory/ladon/manager/memory"
)

// policyID names a compiled policy the way the file reads, e.g. "sales_rep:invoices.create:allow",
// so that a log line or audit record points straight at the role and route that decided.
func policyID(role, route, effect string) string {
	return role + ":" + route + ":" + effect
}

// rawRoute is the Decision.Route of a raw ladon policy: bounded like route names, and never
// mistaken for one, since route names hold no ":".
func rawRoute(id string) string { return "ladon:" + id }

// compiledPolicy is one ladon policy in the form the index evaluates.
type compiledPolicy struct {
	id    string
	route string // Decision.Route
	allow bool
	rank  int32 // position of id in sorted order: where several policies decide, the smallest id is named
	cond  condition

	subjects   []string // literal subjects
	subjectRes []*regexp.Regexp
	actions    []string // literal actions
	actionRes  []*regexp.Regexp
	resources  []string
	patterns   []string // the route's path patterns, aligned with resources; nil for raw policies
	templates  map[string]*regexp.Regexp
}

func (p *compiledPolicy) matchesAction(method string) bool {
	return slices.Contains(p.actions, method) || matchAny(p.actionRes, method)
}

func (p *compiledPolicy) matchesSubject(role string) bool {
	return slices.Contains(p.subjects, role) || matchAny(p.subjectRes, role)
}

func matchAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}

// compiled is what Parse builds from a valid model: the ladon policies (kept as the reference
// evaluation) and the index over the same policies.
type compiled struct {
	manager  *memory.MemoryManager
	matcher  *ladon.RegexpMatcher
	policies map[string]*compiledPolicy
	root     *node
	// roleNames are the defined roles, sorted; a role's index in it is its id in the index.
	roleNames []string
	roleID    map[string]int32
	methodID  map[string]uint16
}

// compile turns a validated model into ladon policies, one per (role, route, effect) plus the
// raw ones, stored in a memory manager, and builds the index over them. Every template is
// compiled once through ladon's matcher too, so that the reference evaluation never compiles
// on a request either.
func compile(m model) (*compiled, error) {
	ctx := context.Background()
	c := &compiled{manager: memory.NewMemoryManager(), policies: map[string]*compiledPolicy{}}
	var ladonPolicies []*ladon.DefaultPolicy
	add := func(lp *ladon.DefaultPolicy, cp *compiledPolicy) error {
		if err := c.manager.Create(ctx, lp); err != nil {
			return fmt.Errorf("policy: store %s: %w", lp.ID, err)
		}
		ladonPolicies = append(ladonPolicies, lp)
		c.policies[cp.id] = cp
		return nil
	}
	for _, r := range m.roles {
		for _, g := range r.grants {
			rt := m.routes[g.route]
			effect, verb := ladon.AllowAccess, "may"
			if !g.allow {
				effect, verb = ladon.DenyAccess, "may not"
			}
			lp := &ladon.DefaultPolicy{
				ID: policyID(r.name, rt.name, effect),
				Description: fmt.Sprintf("%s %s %s %s (route %s)",
					r.name, verb, strings.Join(rt.methods, "|"), strings.Join(rt.patterns, " "), rt.name),
				Subjects:   []string{r.name},
				Actions:    rt.methods,
				Resources:  rt.templates,
				Effect:     effect,
				Conditions: ladonConditions(g.cond, rt.patterns),
			}
			cp := &compiledPolicy{id: lp.ID, route: rt.name, allow: g.allow, cond: g.cond,
				subjects: lp.Subjects, actions: rt.methods, resources: rt.templates, patterns: rt.patterns}
			if err := add(lp, cp); err != nil {
				return nil, err
			}
		}
	}
	for _, p := range m.raw {
		effect := ladon.DenyAccess
		if p.allow {
			effect = ladon.AllowAccess
		}
		lp := &ladon.DefaultPolicy{ID: p.id, Description: p.description, Subjects: p.subjects,
			Actions: p.actions, Resources: p.resources, Effect: effect, Conditions: p.conds}
		cp := &compiledPolicy{id: p.id, route: rawRoute(p.id), allow: p.allow, cond: p.cond,
			resources: p.resources, templates: p.templates}
		for _, s := range p.subjects {
			if re := p.templates[s]; re != nil {
				cp.subjectRes = append(cp.subjectRes, re)
			} else {
				cp.subjects = append(cp.subjects, s)
			}
		}
		for _, a := range p.actions {
			if re := p.templates[a]; re != nil {
				cp.actionRes = append(cp.actionRes, re)
			} else {
				cp.actions = append(cp.actions, a)
			}
		}
		if err := add(lp, cp); err != nil {
			return nil, err
		}
	}

	ids := make([]string, 0, len(c.policies))
	for id := range c.policies {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for i, id := range ids {
		c.policies[id].rank = int32(i)
	}

	templates := map[string]bool{}
	for _, p := range ladonPolicies {
		for _, list := range [][]string{p.Subjects, p.Actions, p.Resources} {
			for _, t := range list {
				if isTemplate(t) {
					templates[t] = true
				}
			}
		}
	}
	// Sized to hold every template, so the cache never evicts and never recompiles.
	c.matcher = ladon.NewRegexpMatcher(max(len(templates), 1))
	for _, p := range ladonPolicies {
		for _, list := range [][]string{p.Subjects, p.Actions, p.Resources} {
			for _, t := range list {
				if _, err := c.matcher.Matches(p, []string{t}, "/"); err != nil {
					return nil, fmt.Errorf("policy: compile template %q of %s: %w", t, p.ID, err)
				}
			}
		}
	}
	c.roleID = make(map[string]int32, len(m.roles))
	for _, r := range m.roles {
		c.roleNames = append(c.roleNames, r.name)
	}
	slices.Sort(c.roleNames)
	for i, name := range c.roleNames {
		c.roleID[name] = int32(i)
	}
	order := make([]*compiledPolicy, len(ids))
	for i, id := range ids {
		order[i] = c.policies[id]
	}
	c.root, c.methodID = buildIndex(order, c.roleNames)
	return c, nil
}
