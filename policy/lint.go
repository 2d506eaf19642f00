package policy

import (
	"slices"
	"strings"
)

// lint looks at a valid model as a whole: rules that can never apply and routes whose paths
// overlap. What makes the policy wrong or ambiguous is an error; what is merely worth a look
// is a warning, shown by check-config and the policy tools.
func (l *loader) lint(m model) {
	l.lintOverlaps(m)
	used := map[string]bool{}
	for _, r := range m.roles {
		if len(r.grants) == 0 && !l.rawNames(m, r.name) {
			l.warnf(r.line, "roles."+r.name, "role %q allows and denies nothing: a user holding only it reaches nothing", r.name)
		}
		for _, g := range r.grants {
			used[g.route] = true
		}
		l.lintShadowed(m, r)
	}
	for _, rt := range m.routeList {
		if !used[rt.name] {
			l.warnf(rt.line, rt.key, "route %q is in no role's allow or deny list: it is denied to everyone", rt.name)
		}
	}
	for _, s := range m.sets {
		if !s.used {
			l.warnf(s.line, "conditions."+s.name, "condition set %q is used by no allow or deny entry", s.name)
		}
	}
	for _, p := range m.raw {
		for _, s := range p.subjects {
			re := p.templates[s]
			if re == nil {
				continue
			}
			if !slices.ContainsFunc(m.roles, func(r role) bool { return re.MatchString(r.name) }) {
				l.warnf(p.line, p.key+".subjects", "template %q matches none of the roles defined in this file", s)
			}
		}
	}
}

// rawNames reports whether a raw policy names the role as a literal subject.
func (l *loader) rawNames(m model, name string) bool {
	for _, p := range m.raw {
		if slices.Contains(p.subjects, name) {
			return true
		}
	}
	return false
}

// lintShadowed reports an allow entry that the role's own unconditional deny entries cover on
// every method and path: it can never take effect.
func (l *loader) lintShadowed(m model, r role) {
	for _, a := range r.grants {
		if !a.allow {
			continue
		}
		ra := m.routes[a.route]
		for _, d := range r.grants {
			if d.allow || !d.cond.empty() || d.route == a.route {
				continue
			}
			if rd := m.routes[d.route]; routeCovers(rd, ra) {
				l.errorf(a.line, a.key, "route %q can never be used by %s: the role's deny of %q (line %d) covers every method and path of it; remove one of the two", a.route, r.name, d.route, d.line)
				break
			}
		}
	}
}

// routeCovers reports whether every request route b matches is matched by route a.
func routeCovers(a, b *route) bool {
	for _, mt := range b.methods {
		if !slices.Contains(a.methods, mt) {
			return false
		}
	}
	for _, pb := range b.patterns {
		if !slices.ContainsFunc(a.patterns, func(pa string) bool { return covers(patternSegments(pa), patternSegments(pb)) }) {
			return false
		}
	}
	return true
}

// patternRef is one path pattern of one route, split into segments.
type patternRef struct {
	rt   *route
	i    int
	segs []string
}

// lintOverlaps compares the patterns of different routes that share a method. One nested in
// the other (/invoices/new inside /invoices/{id}) is common and fine, but worth knowing: the
// roles of the wider route reach the narrower paths too, so it is a warning. Two patterns that
// overlap without either containing the other leave no route that clearly owns the requests
// both match, so that is an error.
func (l *loader) lintOverlaps(m model) {
	// Patterns can only overlap when their first segments can: bucket by the first literal
	// segment, and compare the buckets with the parameter-first ones as well.
	buckets := map[string][]patternRef{}
	var wild []patternRef
	for _, rt := range m.routeList {
		for i, p := range rt.patterns {
			ref := patternRef{rt: rt, i: i, segs: patternSegments(p)}
			if first := ref.segs[0]; isParamSeg(first) || first == "**" {
				wild = append(wild, ref)
			} else {
				buckets[first] = append(buckets[first], ref)
			}
		}
	}
	for _, b := range buckets {
		for i, x := range b {
			for _, y := range b[i+1:] {
				l.lintPair(x, y)
			}
			for _, y := range wild {
				l.lintPair(x, y)
			}
		}
	}
	for i, x := range wild {
		for _, y := range wild[i+1:] {
			l.lintPair(x, y)
		}
	}
}

func (l *loader) lintPair(x, y patternRef) {
	if x.rt == y.rt || !slices.ContainsFunc(x.rt.methods, func(mt string) bool { return slices.Contains(y.rt.methods, mt) }) {
		return
	}
	if x.rt.templates[x.i] == y.rt.templates[y.i] || !overlaps(x.segs, y.segs) {
		// Identical patterns were refused while validating.
		return
	}
	// Report at the later line, naming the earlier one.
	if x.rt.lines[x.i] > y.rt.lines[y.i] {
		x, y = y, x
	}
	px, py := x.rt.patterns[x.i], y.rt.patterns[y.i]
	methods := strings.Join(common(x.rt.methods, y.rt.methods), "|")
	switch {
	case covers(x.segs, y.segs):
		l.warnf(y.rt.lines[y.i], y.rt.key+".paths", "%s %q is inside %q of route %q (line %d): roles allowed %q reach these paths too, and a deny on either applies", methods, py, px, x.rt.name, x.rt.lines[x.i], x.rt.name)
	case covers(y.segs, x.segs):
		l.warnf(y.rt.lines[y.i], y.rt.key+".paths", "%s %q contains %q of route %q (line %d): roles allowed %q reach those paths too, and a deny on either applies", methods, py, px, x.rt.name, x.rt.lines[x.i], y.rt.name)
	default:
		l.errorf(y.rt.lines[y.i], y.rt.key+".paths", "%s %q overlaps %q of route %q (line %d) without either containing the other, so no route clearly owns the paths both match: make one pattern more specific or split it", methods, py, px, x.rt.name, x.rt.lines[x.i])
	}
}

func common(a, b []string) []string {
	var out []string
	for _, x := range a {
		if slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}
