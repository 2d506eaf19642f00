package policy

import (
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"
)

// condSet is a validated entry of the top-level "conditions" mapping.
type condSet struct {
	name string
	line int
	spec *condSpec
	cond condition
	used bool
}

var (
	setName  = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	listName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)
	clock    = regexp.MustCompile(`^([01][0-9]|2[0-3]):[0-5][0-9]$`)
)

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

func (l *loader) resolveSets(specs []condSetSpec) []*condSet {
	out := make([]*condSet, 0, len(specs))
	for _, s := range specs {
		if !setName.MatchString(s.name.value) {
			l.errorf(s.name.line, s.cond.key, "condition set name %q must be a lower-case word, e.g. office_network", s.name.value)
		}
		out = append(out, &condSet{name: s.name.value, line: s.name.line, spec: s.cond, cond: l.compileCondition(s.cond)})
	}
	return out
}

// grantCondition resolves a grant's conditions: the sets it uses merged with its own. Deny
// entries take only network and time conditions: "deny unless the second factor is fresh" or
// "deny unless the user owns it" would be an allow in disguise, and would read backwards.
func (l *loader) grantCondition(c *condSpec, allow bool, rt *route, sets []*condSet) condition {
	var out condition
	for _, u := range c.use {
		var set *condSet
		for _, s := range sets {
			if s.name == u.value {
				set = s
			}
		}
		if set == nil {
			names := make([]string, 0, len(sets))
			for _, s := range sets {
				names = append(names, s.name)
			}
			l.errorf(u.line, c.key, "unknown condition set %q (defined sets: %s)", u.value, orNone(names))
			continue
		}
		set.used = true
		l.merge(&out, set.cond, c, "set "+set.name)
	}
	l.merge(&out, l.compileCondition(c), c, "this entry")
	if !allow && out.mfa > 0 {
		l.errorf(c.line, c.key, "mfa_within cannot be used on a deny: put it on the allow entries of the route instead")
	}
	if !allow && out.owns != nil {
		l.errorf(c.line, c.key, "owns cannot be used on a deny: put it on the allow entries of the route instead")
	}
	if out.owns != nil {
		l.checkOwns(c, out.owns, rt)
	}
	return out
}

// merge adds src to dst; a kind of condition set in both is reported, because silently picking
// one would widen or narrow the grant without saying so.
func (l *loader) merge(dst *condition, src condition, c *condSpec, from string) {
	clash := func(what string) {
		l.errorf(c.line, c.key, "%s is set twice (again by %s): keep one", what, from)
	}
	if src.source != nil {
		if dst.source != nil {
			clash("source")
		}
		dst.source, dst.cidrs = src.source, src.cidrs
	}
	if src.windows != nil {
		if dst.windows != nil {
			clash("hours")
		}
		dst.windows = src.windows
	}
	if src.mfa > 0 {
		if dst.mfa > 0 {
			clash("mfa_within")
		}
		dst.mfa = src.mfa
	}
	if src.owns != nil {
		if dst.owns != nil {
			clash("owns")
		}
		dst.owns = src.owns
	}
}

// compileCondition validates a condSpec's own conditions (not the sets it uses).
func (l *loader) compileCondition(c *condSpec) condition {
	var out condition
	for _, it := range c.source {
		p, ok := l.network(it, c.key+".source")
		if ok {
			out.source = append(out.source, p)
			out.cidrs = append(out.cidrs, it.value)
		}
	}
	for _, ws := range c.hours {
		if w, ok := l.compileWindow(ws); ok {
			out.windows = append(out.windows, w)
		}
	}
	if c.mfa.value != "" {
		d, err := time.ParseDuration(c.mfa.value)
		switch {
		case err != nil:
			l.errorf(c.mfa.line, c.key+".mfa_within", "%q is not a duration: write one such as 5m or 1h", c.mfa.value)
		case d <= 0:
			l.errorf(c.mfa.line, c.key+".mfa_within", "must be longer than zero, e.g. 5m")
		default:
			out.mfa = d
		}
	}
	if o := c.owns; o != nil && o.param.value != "" && o.list.value != "" {
		ok := true
		if !paramName.MatchString(o.param.value) {
			l.errorf(o.param.line, o.key+".param", "%q is not a parameter name: write the name inside {...} of the route's paths, e.g. id", o.param.value)
			ok = false
		}
		if !listName.MatchString(o.list.value) {
			l.errorf(o.list.line, o.key+".list", "list name %q must be a lower-case word, e.g. customers", o.list.value)
			ok = false
		}
		if ok {
			out.owns = &ownsBinding{param: o.param.value, list: o.list.value}
		}
	}
	return out
}

// network reads a CIDR. Only the forms that ladon's CIDRCondition (net.ParseCIDR) and the
// index (net/netip) read alike are accepted.
func (l *loader) network(it item, key string) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(it.value)
	switch {
	case err != nil:
		l.errorf(it.line, key, "%q is not a network: write a CIDR such as 10.0.0.0/8 or 2001:db8::/32", it.value)
	case p.Addr().Is4In6():
		l.errorf(it.line, key, "%q is an IPv4-mapped IPv6 network: write it in IPv4 form, e.g. %s", it.value, netip.PrefixFrom(p.Addr().Unmap(), max(p.Bits()-96, 0)).Masked())
	case p != p.Masked():
		l.errorf(it.line, key, "%q has host bits set: write the network, %s", it.value, p.Masked())
	default:
		return p, true
	}
	return netip.Prefix{}, false
}

func (l *loader) compileWindow(ws windowSpec) (window, bool) {
	w := window{}
	ok := len(ws.days) > 0 && ws.from.value != "" && ws.to.value != "" && ws.zone.value != ""
	for _, d := range ws.days {
		bits, good := dayRange(d.value)
		if !good {
			l.errorf(d.line, ws.key+".days", "%q is not a day or range: write mon, tue, wed, thu, fri, sat, sun or a range such as mon-fri", d.value)
			ok = false
		}
		w.days |= bits
	}
	from, okFrom := clockSeconds(ws.from.value, false)
	to, okTo := clockSeconds(ws.to.value, true)
	if ws.from.value != "" && !okFrom {
		l.errorf(ws.from.line, ws.key+".from", "%q is not a time of day: write \"HH:MM\", e.g. \"08:00\"", ws.from.value)
		ok = false
	}
	if ws.to.value != "" && !okTo {
		l.errorf(ws.to.line, ws.key+".to", "%q is not a time of day: write \"HH:MM\", e.g. \"18:00\" (or \"24:00\")", ws.to.value)
		ok = false
	}
	if okFrom && okTo && from >= to {
		l.errorf(ws.to.line, ws.key+".to", "must be after from (%s): for a window across midnight write two windows", ws.from.value)
		ok = false
	}
	w.from, w.to = from, to
	if ws.zone.value != "" {
		loc, err := time.LoadLocation(ws.zone.value)
		if err != nil || ws.zone.value == "Local" {
			l.errorf(ws.zone.line, ws.key+".zone", "%q is not a time zone: write an IANA name such as Europe/Berlin or UTC", ws.zone.value)
			ok = false
		}
		w.loc = loc
	}
	days := make([]string, len(ws.days))
	for i, d := range ws.days {
		days[i] = d.value
	}
	w.text = fmt.Sprintf("%s %s-%s %s", strings.Join(days, ","), ws.from.value, ws.to.value, ws.zone.value)
	return w, ok
}

// dayRange reads "mon" or "mon-fri" into weekday bits. Ranges run forward within one week.
func dayRange(s string) (uint8, bool) {
	a, b, isRange := strings.Cut(s, "-")
	from, ok1 := weekdays[a]
	to, ok2 := from, true
	if isRange {
		to, ok2 = weekdays[b]
	}
	// Monday-first order, so that mon-sun is the whole week.
	idx := func(d time.Weekday) int { return (int(d) + 6) % 7 }
	if !ok1 || !ok2 || idx(from) > idx(to) {
		return 0, false
	}
	var bits uint8
	for i := idx(from); i <= idx(to); i++ {
		bits |= 1 << ((i + 1) % 7)
	}
	return bits, true
}

// clockSeconds reads "HH:MM"; "24:00" is accepted as an end of day.
func clockSeconds(s string, end bool) (int, bool) {
	if end && s == "24:00" {
		return 24 * 3600, true
	}
	if !clock.MatchString(s) {
		return 0, false
	}
	h := int(s[0]-'0')*10 + int(s[1]-'0')
	m := int(s[3]-'0')*10 + int(s[4]-'0')
	return h*3600 + m*60, true
}

// checkOwns requires the owned parameter in every path of the route, and the paths to be
// disjoint, so that one request names exactly one id.
func (l *loader) checkOwns(c *condSpec, o *ownsBinding, rt *route) {
	for _, p := range rt.patterns {
		if !strings.Contains(p+"/", "/{"+o.param+"}/") {
			l.errorf(c.line, c.key, "owns: path %q of route %q has no parameter {%s}: every path of the route must carry the owned id", p, rt.name, o.param)
		}
	}
	for i, a := range rt.patterns {
		for _, b := range rt.patterns[i+1:] {
			if overlaps(patternSegments(a), patternSegments(b)) {
				l.errorf(c.line, c.key, "owns: paths %q and %q of route %q can match the same request, so the owned id would be ambiguous: split the route", a, b, rt.name)
			}
		}
	}
}

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
