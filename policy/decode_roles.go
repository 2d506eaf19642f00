package policy

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

type roleSpec struct {
	key         string // "roles.sales_rep", used in messages
	name        item
	description item
	allow, deny []grantSpec
}

// grantSpec is one entry of an allow or deny list: a route name, on its own or with the
// conditions under which the entry applies.
type grantSpec struct {
	route item
	cond  *condSpec // nil for a bare route name
}

func (l *loader) roles(n *yaml.Node) []roleSpec {
	if !l.kind(n, "roles", yaml.MappingNode, "a mapping from role name to {description, allow, deny}") {
		return nil
	}
	if len(n.Content) == 0 {
		l.errorf(n.Line, "roles", "empty: define at least one role")
		return nil
	}
	out := make([]roleSpec, 0, len(n.Content)/2)
	firstLine := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := l.scalar(k, "roles")
		if !ok {
			continue
		}
		r := roleSpec{key: "roles." + name.value, name: name}
		if first, dup := firstLine[name.value]; dup {
			l.errorf(k.Line, r.key, "duplicate role (first defined at line %d): merge the two definitions", first)
			continue
		}
		firstLine[name.value] = k.Line
		f, ok := l.mapping(v, r.key, "a role", "description", "allow", "deny")
		if !ok {
			continue
		}
		if df, ok := f["description"]; ok {
			r.description, _ = l.scalar(df.value, r.key+".description")
		}
		if strings.TrimSpace(r.description.value) == "" {
			l.errorf(k.Line, r.key+".description", "missing: say in one line what this role is for")
		}
		if af, ok := f["allow"]; ok {
			r.allow = l.grants(af.value, r.key+".allow")
		}
		if df, ok := f["deny"]; ok {
			r.deny = l.grants(df.value, r.key+".deny")
		}
		out = append(out, r)
	}
	return out
}

// grants reads an allow or deny list. Each entry is a route name, or a one-key mapping from a
// route name to its conditions: inline ({mfa_within: 5m}) or the name of a condition set.
func (l *loader) grants(n *yaml.Node, key string) []grantSpec {
	const want = `a list of route names, each optionally with conditions ("- payments.refund: {mfa_within: 5m}")`
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if !l.kind(n, key, yaml.SequenceNode, want) {
		return nil
	}
	out := make([]grantSpec, 0, len(n.Content))
	for _, e := range n.Content {
		switch e.Kind {
		case yaml.ScalarNode:
			it, _ := l.scalar(e, key)
			if it.value == "" {
				l.errorf(e.Line, key, "empty entry: remove it")
				continue
			}
			out = append(out, grantSpec{route: it})
		case yaml.MappingNode:
			if len(e.Content) != 2 {
				l.errorf(e.Line, key, `an entry with conditions names one route: "- route.name: {conditions}"`)
				continue
			}
			name, ok := l.scalar(e.Content[0], key)
			if !ok {
				continue
			}
			if name.value == "" {
				l.errorf(e.Line, key, "empty entry: remove it")
				continue
			}
			cond := l.condition(e.Content[1], key+"."+name.value, true)
			if cond == nil {
				continue
			}
			out = append(out, grantSpec{route: name, cond: cond})
		default:
			l.kind(e, key, yaml.ScalarNode, want)
		}
	}
	return out
}
