package policy

import (
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/ory/ladon"
)

// rawPolicy is a validated raw ladon policy.
type rawPolicy struct {
	id, description              string
	subjects, actions, resources []string
	allow                        bool
	cond                         condition
	conds                        ladon.Conditions // as they go into the ladon policy
	key                          string
	line                         int
	// templates holds the Go form of every template among subjects, actions and resources.
	templates map[string]*regexp.Regexp
}

// rawID keeps raw ids apart from the generated "role:route:effect" ones.
var rawID = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

func (l *loader) resolveRaw(specs []rawSpec, roles []role) []rawPolicy {
	defined := make([]string, 0, len(roles))
	for _, r := range roles {
		defined = append(defined, r.name)
	}
	slices.Sort(defined)
	firstLine := map[string]int{}
	var out []rawPolicy
	for _, s := range specs {
		p := rawPolicy{id: s.id.value, description: s.description.value, key: s.key, line: s.line,
			conds: ladon.Conditions{}, templates: map[string]*regexp.Regexp{}}
		if p.id != "" {
			if first, dup := firstLine[p.id]; dup {
				l.errorf(s.id.line, s.key+".id", "duplicate id %q (first at line %d): ids must be unique", p.id, first)
			}
			firstLine[p.id] = s.id.line
			if !rawID.MatchString(p.id) {
				l.errorf(s.id.line, s.key+".id", "id %q must be lower-case letters, digits, \".\", \"_\" or \"-\", e.g. exports-from-office", p.id)
			}
		}
		switch s.effect.value {
		case ladon.AllowAccess:
			p.allow = true
		case ladon.DenyAccess, "":
		default:
			l.errorf(s.effect.line, s.key+".effect", "%q is not an effect: write allow or deny", s.effect.value)
		}
		for _, it := range s.subjects {
			if l.template(&p, it, s.key+".subjects") {
				continue
			}
			switch {
			case !roleName.MatchString(it.value):
				l.errorf(it.line, s.key+".subjects", "%q is neither a role name nor a ladon template such as <(sales_rep|support)>", it.value)
			case !slices.Contains(defined, it.value):
				l.errorf(it.line, s.key+".subjects", "unknown role %q (defined roles: %s)", it.value, orNone(defined))
			}
		}
		for _, it := range s.actions {
			if !l.template(&p, it, s.key+".actions") && !methodToken.MatchString(it.value) {
				l.errorf(it.line, s.key+".actions", "%q is not an upper-case method such as GET, nor a ladon template such as <GET|HEAD>", it.value)
			}
		}
		for _, it := range s.resources {
			if res, ok := l.rawResource(&p, it, s.key+".resources"); ok && !slices.Contains(p.resources, res) {
				p.resources = append(p.resources, res)
			}
		}
		p.subjects, p.actions = values(s.subjects), values(s.actions)
		for _, c := range s.conds {
			l.rawCondition(&p, c)
		}
		out = append(out, p)
	}
	return out
}

// template compiles it when it is a ladon template, reporting a template it cannot accept.
func (l *loader) template(p *rawPolicy, it item, key string) bool {
	if !isTemplate(it.value) {
		return false
	}
	re, err := compileTemplate(it.value)
	if err != nil {
		l.errorf(it.line, key, "template %q: %v", it.value, err)
		return true
	}
	p.templates[it.value] = re
	return true
}

// rawResource checks one resource and returns it in the form it is matched in: its literal
// text in match form, like the paths it is matched against, so that "/a%40b" and "/a@b" name
// the same paths (two resources that differ only so become one). Messages quote the resource
// as written.
func (l *loader) rawResource(p *rawPolicy, it item, key string) (string, bool) {
	if !isTemplate(it.value) {
		if !canonicalPath(it.value) {
			l.errorf(it.line, key, "%q never matches: requests are decided on canonical paths such as /exports/2024", it.value)
			return "", false
		}
		return matchForm(strings.Clone(it.value)), true
	}
	folded := foldTemplate(strings.Clone(it.value))
	re, err := compileTemplate(folded)
	if err != nil {
		l.errorf(it.line, key, "template %q: %v", it.value, err)
		return "", false
	}
	l.checkLiteralParts(it, key)
	if msg := expressionEscape(it.value); msg != "" {
		l.errorf(it.line, key, "template %q: %s", it.value, msg)
		return "", false
	}
	p.templates[folded] = re
	return folded, true
}

// rawCondition checks one ladon condition: its type must read the context key it is under.
func (l *loader) rawCondition(p *rawPolicy, c rawCondSpec) {
	wantKey := map[string]string{ladonCIDR: ctxSource, ladonTimeWindow: ctxTime, ladonMFAFresh: ctxMFAAt}[c.typ.value]
	if c.name.value != wantKey {
		l.errorf(c.name.line, c.key, "a %s reads the request-context key %q: put it under %s", c.typ.value, wantKey, wantKey)
		return
	}
	if !c.hasOpts {
		l.errorf(c.typ.line, c.key+".options", "missing: %s needs options", c.typ.value)
		return
	}
	switch c.typ.value {
	case ladonCIDR:
		if c.cidr.value == "" {
			l.errorf(c.typ.line, c.key+".options.cidr", "missing: write the network, e.g. cidr: 10.0.0.0/8")
			return
		}
		if pfx, ok := l.network(c.cidr, c.key+".options.cidr"); ok {
			p.cond.source, p.cond.cidrs = []netip.Prefix{pfx}, []string{c.cidr.value}
			p.conds[ctxSource] = &ladon.CIDRCondition{CIDR: c.cidr.value}
		}
	case ladonTimeWindow:
		if c.window == nil {
			return
		}
		if w, ok := l.compileWindow(*c.window); ok {
			p.cond.windows = []window{w}
			p.conds[ctxTime] = &timeWindowCondition{Windows: []string{w.text}, windows: p.cond.windows}
		}
	case ladonMFAFresh:
		d, err := time.ParseDuration(c.maxAge.value)
		switch {
		case !p.allow:
			l.errorf(c.typ.line, c.key, "an MFA freshness condition belongs on an allow policy")
		case err != nil || d <= 0:
			l.errorf(c.typ.line, c.key+".options.max_age", "%q is not a duration longer than zero: write one such as 5m", c.maxAge.value)
		default:
			p.cond.mfa = d
			p.conds[ctxMFAAt] = &mfaFreshCondition{MaxAge: d}
		}
	}
}

// checkLiteralParts refuses a resource template whose text outside "<...>" holds a byte no
// canonical path holds: ladon matches that text literally (a "\." there is a backslash and a
// dot), so the template could never match.
func (l *loader) checkLiteralParts(it item, key string) {
	parts, err := splitTemplate(it.value)
	if err != nil {
		return
	}
	for _, p := range parts {
		if p.pattern {
			continue
		}
		for i := 0; i < len(p.text); i++ {
			if c := p.text[i]; !isPathChar[c] && c != '%' {
				l.errorf(it.line, key, "template %q never matches: the text %q outside <...> holds %q, which no canonical path holds (ladon matches that text literally; put expressions between < and >)", it.value, p.text, c)
				return
			}
		}
	}
}

func values(items []item) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = strings.Clone(it.value)
	}
	return out
}
