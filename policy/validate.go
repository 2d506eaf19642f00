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
	methods   []string
	patterns  []string // as written, for descriptions
	templates []string
}

// role is a validated role.
type role struct {
	name        string
	description string
	allow, deny []string
}

// model is a validated policy file, ready to compile.
type model struct {
	routes map[string]*route
	roles  []role
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
		r := &route{name: rs.name.value}
		if r.name != "" {
			if first, dup := routeLine[r.name]; dup {
				l.errorf(rs.name.line, rs.key+".name", "duplicate route name %q (first defined at line %d): route names must be unique", r.name, first)
			} else {
				routeLine[r.name] = rs.name.line
				// Registered even when badly named, so roles that use it do not also fail.
				m.routes[r.name] = r
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

	defined := slices.Sorted(maps.Keys(m.routes))
	for _, rs := range spec.roles {
		r := role{name: rs.name.value, description: strings.TrimSpace(rs.description.value)}
		if !roleName.MatchString(r.name) {
			l.errorf(rs.name.line, rs.key, "role name %q must be a lower-case word (letters, digits, \"_\" or \"-\"), e.g. billing_manager", r.name)
		}
		r.allow = l.routeRefs(rs.allow, rs.key+".allow", m.routes, defined)
		r.deny = l.routeRefs(rs.deny, rs.key+".deny", m.routes, defined)
		for _, d := range rs.deny {
			if slices.Contains(r.allow, d.value) {
				l.errorf(d.line, rs.key+".deny", "route %q is both allowed and denied: remove it from one of the lists (deny would win)", d.value)
			}
		}
		m.roles = append(m.roles, r)
	}
	return m
}

// routeRefs resolves a role's allow or deny list against the defined routes.
func (l *loader) routeRefs(items []item, key string, routes map[string]*route, defined []string) []string {
	out := make([]string, 0, len(items))
	for _, it := range items {
		switch {
		case routes[it.value] == nil && len(defined) == 0:
			l.errorf(it.line, key, "unknown route %q (no routes are defined)", it.value)
		case routes[it.value] == nil:
			l.errorf(it.line, key, "unknown route %q (defined routes: %s)", it.value, strings.Join(defined, ", "))
		case slices.Contains(out, it.value):
			l.errorf(it.line, key, "route %q is listed twice: remove one", it.value)
		default:
			out = append(out, it.value)
		}
	}
	return out
}
