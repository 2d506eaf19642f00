package policy

import (
	"cmp"
	"regexp"
	"slices"
	"strings"
)

// The index answers "which policies apply to this method, path and role" without looking at
// the others. Paths go through a trie of segments: a literal child per segment value, one child
// for a "{name}" parameter, a terminal where a pattern ends and one where a final "**" starts.
// Templates of raw policies that are not in that form hang, as Go regular expressions compiled
// once, off the node of the literal segments they start with. At a terminal, rules are grouped
// by literal method and sorted by role, so a request finds its own rules by binary search.

// node is one position in the trie: the path segments that lead to it.
type node struct {
	literal map[string]*node
	param   *node
	end     *terminal // a pattern ends exactly here
	tail    *terminal // a pattern's final "**" starts here
	regex   []regexTerminal
}

type regexTerminal struct {
	tpl string
	re  *regexp.Regexp
	t   *terminal
}

// terminal holds the rules of every policy with a resource that ends at one place in the trie.
type terminal struct {
	methods   []methodRules
	anyMethod []rule // rules of policies with an action template, per role
	unknown   []rule // policies with a subject template, for roles this file does not define
}

// methodRules are a terminal's rules for one literal method.
type methodRules struct {
	method string
	mid    uint16 // the method's id in Engine.methodID
	rules  []rule // sorted by role, then rank
	// simple is set when no rule has a condition; needed then lists the roles allowed here on
	// their own, sorted, so that a denial needs no further work to name them.
	simple bool
	needed []string
}

// rule is one policy for one role at one terminal.
type rule struct {
	p       *compiledPolicy
	role    int32 // -1 in terminal.unknown
	ownsSeg int32 // index of the owned parameter's segment in this terminal's pattern
}

// buildIndex indexes the policies (in rank order) for the defined roles. It also numbers the
// literal methods from 1, so that a request compares its method once, as a number, rather than
// as a string at every terminal.
func buildIndex(policies []*compiledPolicy, roleNames []string) (*node, map[string]uint16) {
	root := &node{}
	methodID := map[string]uint16{}
	for _, p := range policies {
		for _, a := range p.actions {
			if _, ok := methodID[a]; !ok {
				methodID[a] = uint16(len(methodID) + 1)
			}
		}
	}
	var terminals []*terminal
	seen := map[*terminal]bool{}
	for _, p := range policies {
		var roles []int32
		for i, name := range roleNames {
			if p.matchesSubject(name) {
				roles = append(roles, int32(i))
			}
		}
		for i, res := range p.resources {
			t := root.terminalFor(res, p.templates[res])
			if t == nil {
				continue
			}
			if !seen[t] {
				seen[t] = true
				terminals = append(terminals, t)
			}
			owns := int32(-1)
			if p.cond.owns != nil {
				owns = int32(slices.Index(patternSegments(p.patterns[i]), "{"+p.cond.owns.param+"}"))
			}
			for _, a := range p.actions {
				mr := t.methodRules(a, methodID[a])
				for _, id := range roles {
					mr.rules = append(mr.rules, rule{p: p, role: id, ownsSeg: owns})
				}
			}
			if len(p.actionRes) > 0 {
				for _, id := range roles {
					t.anyMethod = append(t.anyMethod, rule{p: p, role: id, ownsSeg: owns})
				}
			}
			if len(p.subjectRes) > 0 {
				t.unknown = append(t.unknown, rule{p: p, role: -1, ownsSeg: owns})
			}
		}
	}
	for _, t := range terminals {
		for i := range t.methods {
			t.methods[i].finish(roleNames)
		}
	}
	return root, methodID
}

func (t *terminal) methodRules(method string, mid uint16) *methodRules {
	for i := range t.methods {
		if t.methods[i].mid == mid {
			return &t.methods[i]
		}
	}
	t.methods = append(t.methods, methodRules{method: method, mid: mid})
	return &t.methods[len(t.methods)-1]
}

func (mr *methodRules) finish(roleNames []string) {
	slices.SortFunc(mr.rules, func(a, b rule) int {
		return cmp.Or(cmp.Compare(a.role, b.role), cmp.Compare(a.p.rank, b.p.rank))
	})
	mr.simple = !slices.ContainsFunc(mr.rules, func(r rule) bool { return !r.p.cond.empty() })
	if !mr.simple {
		return
	}
	allowed := map[int32]bool{}
	denied := map[int32]bool{}
	for _, r := range mr.rules {
		if r.p.allow {
			allowed[r.role] = true
		} else {
			denied[r.role] = true
		}
	}
	for i, name := range roleNames {
		if allowed[int32(i)] && !denied[int32(i)] {
			mr.needed = append(mr.needed, name)
		}
	}
}

// terminalFor finds or makes the terminal for a resource: re is its compiled form when it is
// a template. It returns nil for a literal that no canonical path can equal.
func (n *node) terminalFor(res string, re *regexp.Regexp) *terminal {
	if !isTemplate(res) {
		if !strings.HasPrefix(res, "/") {
			return nil
		}
		n = n.literals(strings.Split(res[1:], "/"))
		if n.end == nil {
			n.end = &terminal{}
		}
		return n.end
	}
	if segs, ok := segmentForm(res); ok {
		for _, s := range segs {
			switch s {
			case anySegments:
				if n.tail == nil {
					n.tail = &terminal{}
				}
				return n.tail
			case oneSegment:
				if n.param == nil {
					n.param = &node{}
				}
				n = n.param
			default:
				n = n.literals([]string{s})
			}
		}
		if n.end == nil {
			n.end = &terminal{}
		}
		return n.end
	}
	n = n.literals(regexAnchor(res))
	for _, rt := range n.regex {
		if rt.tpl == res {
			return rt.t
		}
	}
	n.regex = append(n.regex, regexTerminal{tpl: res, re: re, t: &terminal{}})
	return n.regex[len(n.regex)-1].t
}

// literals follows (making where needed) the literal children for segs.
func (n *node) literals(segs []string) *node {
	for _, s := range segs {
		c := n.literal[s]
		if c == nil {
			if n.literal == nil {
				n.literal = map[string]*node{}
			}
			c = &node{}
			n.literal[s] = c
		}
		n = c
	}
	return n
}
