package policy

import (
	"maps"
	"regexp"
	"slices"
	"strings"
)

var (
	// Role names become ladon subjects and part of policy IDs ("role:route:effect"), so they may
	// hold neither ladon's '<' '>' nor ':'.
	roleName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	// Route names are dotted words such as "invoices.create"; they also appear in policy IDs.
	routeName = regexp.MustCompile(`^[a-z][a-z0-9_-]*(\.[a-z][a-z0-9_-]*)*$`)
	// methodToken is an upper-case RFC 9110 token. Upper case only, because methods are compared
	// case-sensitively and "get" in a file would otherwise silently match nothing.
	methodToken = regexp.MustCompile(`^[A-Z][A-Z0-9_-]*$`)
)

// route is a validated route: its methods and the ladon templates of its paths.
type route struct {
	name      string
	key       string // "routes[2]", for messages
	line      int
	methods   []string
	patterns  []string // as written, for descriptions
	lines     []int    // line of each pattern
	templates []string
}

// role is a validated role.
type role struct {
	name        string
	description string
	line        int
	allow, deny []string // route names as listed
	grants      []grant
}

// grant is one entry of a role's allow or deny list.
type grant struct {
	route string
	allow bool
	cond  condition
	key   string // "roles.sales_rep.allow", for messages
	line  int
}

// model is a validated policy file, ready to compile.
type model struct {
	routes    map[string]*route
	routeList []*route // in file order
	roles     []role
	raw       []rawPolicy
	sets      []*condSet
}

func (l *loader) validate(spec fileSpec) model {
	m := model{routes: make(map[string]*route, len(spec.routes))}
	routeLine := map[string]int{}
	// owner maps "METHOD template" to the route that already claims it, so that one request
	// belongs to one route.
	type claim struct {
		route string
		line  int
	}
	owner := map[string]claim{}
	for _, rs := range spec.routes {
		r := &route{name: rs.name.value, key: rs.key, line: rs.line}
		if r.name != "" {
			if first, dup := routeLine[r.name]; dup {
				l.errorf(rs.name.line, rs.key+".name", "duplicate route name %q (first defined at line %d): route names must be unique", r.name, first)
			} else {
				routeLine[r.name] = rs.name.line
				// Registered even when badly named, so roles that use it do not also fail.
				m.routes[r.name] = r
				m.routeList = append(m.routeList, r)
			}
			if !routeName.MatchString(r.name) {
				l.errorf(rs.name.line, rs.key+".name", "route name %q must be lower-case words separated by \".\", e.g. invoices.create", r.name)
			}
		}
		for _, mt := range rs.methods {
			switch {
			case slices.Contains(r.methods, mt.value):
				l.errorf(mt.line, rs.key+".methods", "method %q is listed twice: remove one", mt.value)
			case methodToken.MatchString(mt.value):
				r.methods = append(r.methods, mt.value)
			case methodToken.MatchString(strings.ToUpper(mt.value)):
				l.errorf(mt.line, rs.key+".methods", "method %q must be upper case: write %q (methods are compared case-sensitively)", mt.value, strings.ToUpper(mt.value))
			default:
				l.errorf(mt.line, rs.key+".methods", "%q is not an HTTP method: use upper-case methods such as GET or POST", mt.value)
			}
		}
		seen := map[string]bool{}
		for _, p := range rs.paths {
			tpl, err := compilePattern(p.value)
			if err != nil {
				l.errorf(p.line, rs.key+".paths", "bad path pattern %q: %v", p.value, err)
				continue
			}
			if seen[tpl] {
				l.errorf(p.line, rs.key+".paths", "path pattern %q matches the same paths as an earlier one in this route: remove it", p.value)
				continue
			}
			seen[tpl] = true
			r.patterns = append(r.patterns, p.value)
			r.lines = append(r.lines, p.line)
			r.templates = append(r.templates, tpl)
			for _, mt := range r.methods {
				k := mt + " " + tpl
				if c, taken := owner[k]; taken {
					l.errorf(p.line, rs.key+".paths", "%s %q is already in route %q (line %d): a method and path belong to one route, so remove one", mt, p.value, c.route, c.line)
					continue
				}
				owner[k] = claim{route: r.name, line: p.line}
			}
		}
	}

	sets := l.resolveSets(spec.conditions)
	m.sets = sets
	defined := slices.Sorted(maps.Keys(m.routes))
	for _, rs := range spec.roles {
		r := role{name: rs.name.value, description: strings.TrimSpace(rs.description.value), line: rs.name.line}
		if !roleName.MatchString(r.name) {
			l.errorf(rs.name.line, rs.key, "role name %q must be a lower-case word (letters, digits, \"_\" or \"-\"), e.g. billing_manager", r.name)
		}
		allow := l.grantRefs(rs.allow, rs.key+".allow", true, m.routes, defined, sets)
		deny := l.grantRefs(rs.deny, rs.key+".deny", false, m.routes, defined, sets)
		for _, g := range allow {
			r.allow = append(r.allow, g.route)
		}
		for _, d := range deny {
			if slices.Contains(r.allow, d.route) {
				l.errorf(d.line, rs.key+".deny", "route %q is both allowed and denied: remove it from one of the lists (deny would win)", d.route)
			}
			r.deny = append(r.deny, d.route)
		}
		r.grants = append(allow, deny...)
		m.roles = append(m.roles, r)
	}
	m.raw = l.resolveRaw(spec.raw, m.roles)
	return m
}

// grantRefs resolves a role's allow or deny list against the defined routes and condition sets.
func (l *loader) grantRefs(specs []grantSpec, key string, allow bool, routes map[string]*route, defined []string, sets []*condSet) []grant {
	out := make([]grant, 0, len(specs))
	seen := map[string]bool{}
	for _, gs := range specs {
		it := gs.route
		rt := routes[it.value]
		switch {
		case rt == nil && len(defined) == 0:
			l.errorf(it.line, key, "unknown route %q (no routes are defined)", it.value)
			continue
		case rt == nil:
			l.errorf(it.line, key, "unknown route %q (defined routes: %s)", it.value, strings.Join(defined, ", "))
			continue
		case seen[it.value]:
			l.errorf(it.line, key, "route %q is listed twice: remove one", it.value)
			continue
		}
		seen[it.value] = true
		g := grant{route: it.value, allow: allow, key: key, line: it.line}
		if gs.cond != nil {
			g.cond = l.grantCondition(gs.cond, allow, rt, sets)
		}
		out = append(out, g)
	}
	return out
}
