package policy

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// rawSpec is one entry of "raw_ladon": a ladon policy written out by hand.
type rawSpec struct {
	key                          string // "raw_ladon[0]"
	line                         int
	id, description, effect      item
	subjects, actions, resources []item
	conds                        []rawCondSpec
}

// rawCondSpec is one ladon condition, {type, options}, under the request-context key it reads.
type rawCondSpec struct {
	key     string // "raw_ladon[0].conditions.source"
	name    item   // the context key: source, time or mfa_at
	typ     item
	cidr    item
	window  *windowSpec
	maxAge  item
	hasOpts bool
}

// Ladon condition types a raw policy may use, and the request-context key each reads.
const (
	ladonCIDR       = "CIDRCondition"
	ladonTimeWindow = "TimeWindowCondition"
	ladonMFAFresh   = "MFAFreshCondition"
)

func (l *loader) rawPolicies(n *yaml.Node) []rawSpec {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if !l.kind(n, "raw_ladon", yaml.SequenceNode, "a list of ladon policies (id, subjects, actions, resources, effect)") {
		return nil
	}
	out := make([]rawSpec, 0, len(n.Content))
	for i, pn := range n.Content {
		r := rawSpec{key: fmt.Sprintf("raw_ladon[%d]", i), line: pn.Line}
		f, ok := l.mapping(pn, r.key, "a ladon policy", "id", "description", "subjects", "actions", "resources", "effect", "conditions")
		if !ok {
			continue
		}
		if idf, ok := f["id"]; ok {
			r.id, _ = l.scalar(idf.value, r.key+".id")
		}
		if r.id.value == "" {
			l.errorf(pn.Line, r.key+".id", "missing: give the policy an id such as exports-from-office")
		}
		if df, ok := f["description"]; ok {
			r.description, _ = l.scalar(df.value, r.key+".description")
		}
		if ef, ok := f["effect"]; ok {
			r.effect, _ = l.scalar(ef.value, r.key+".effect")
		} else {
			l.errorf(pn.Line, r.key+".effect", "missing: write effect: allow or effect: deny")
		}
		r.subjects = l.requiredList(pn, f, r.key, "subjects", "at least one role name or ladon template, e.g. [accountant]")
		r.actions = l.requiredList(pn, f, r.key, "actions", "at least one method or ladon template, e.g. [GET]")
		r.resources = l.requiredList(pn, f, r.key, "resources", `at least one path or ladon template, e.g. ["/exports<(/.*)?>"]`)
		if cf, ok := f["conditions"]; ok {
			r.conds = l.rawConditions(cf.value, r.key+".conditions")
		}
		out = append(out, r)
	}
	return out
}

func (l *loader) rawConditions(n *yaml.Node, key string) []rawCondSpec {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if !l.kind(n, key, yaml.MappingNode, "a mapping from request-context key (source, time, mfa_at) to {type, options}") {
		return nil
	}
	var out []rawCondSpec
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := l.scalar(k, key)
		if !ok {
			continue
		}
		c := rawCondSpec{key: joinKey(key, name.value), name: name}
		if seen[name.value] {
			l.errorf(k.Line, c.key, "repeated key: a ladon policy has one condition per context key")
			continue
		}
		seen[name.value] = true
		f, ok := l.mapping(v, c.key, "a ladon condition", "type", "options")
		if !ok {
			continue
		}
		if tf, ok := f["type"]; ok {
			c.typ, _ = l.scalar(tf.value, c.key+".type")
		} else {
			l.errorf(v.Line, c.key+".type", "missing: one of %s, %s, %s", ladonCIDR, ladonTimeWindow, ladonMFAFresh)
			continue
		}
		of, hasOpts := f["options"]
		c.hasOpts = hasOpts
		switch c.typ.value {
		case ladonCIDR:
			if hasOpts {
				if o, ok := l.mapping(of.value, c.key+".options", "CIDRCondition options", "cidr"); ok {
					if cf, ok := o["cidr"]; ok {
						c.cidr, _ = l.scalar(cf.value, c.key+".options.cidr")
					}
				}
			}
		case ladonTimeWindow:
			if hasOpts {
				if w, ok := l.window(of.value, c.key+".options"); ok {
					c.window = &w
				}
			}
		case ladonMFAFresh:
			if hasOpts {
				if o, ok := l.mapping(of.value, c.key+".options", "MFAFreshCondition options", "max_age"); ok {
					if mf, ok := o["max_age"]; ok {
						c.maxAge, _ = l.scalar(mf.value, c.key+".options.max_age")
					}
				}
			}
		default:
			l.errorf(c.typ.line, c.key+".type", "unsupported condition type %q: use %s (key source), %s (key time) or %s (key mfa_at)", c.typ.value, ladonCIDR, ladonTimeWindow, ladonMFAFresh)
			continue
		}
		out = append(out, c)
	}
	return out
}
