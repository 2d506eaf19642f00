package policy

import (
	"fmt"

	"go.yaml.in/yaml/v3"
)

// condSpec is a set of conditions as written: inline on a grant, or named under "conditions".
type condSpec struct {
	key    string // "roles.billing_manager.allow.payments.refund", used in messages
	line   int
	use    []item // names of condition sets to include
	source []item
	hours  []windowSpec
	mfa    item // mfa_within; empty when absent
	owns   *ownsSpec
}

// windowSpec is one time window of an "hours" condition.
type windowSpec struct {
	key            string
	line           int
	days           []item
	from, to, zone item
}

// ownsSpec binds a path parameter to an ownership list from the directory.
type ownsSpec struct {
	key         string
	line        int
	param, list item
}

// condSetSpec is one entry of the top-level "conditions" mapping.
type condSetSpec struct {
	name item
	cond *condSpec
}

var conditionKeys = []string{"source", "hours", "mfa_within", "owns"}

func (l *loader) condSets(n *yaml.Node) []condSetSpec {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if !l.kind(n, "conditions", yaml.MappingNode, "a mapping from a condition set's name to its conditions") {
		return nil
	}
	var out []condSetSpec
	first := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := l.scalar(k, "conditions")
		if !ok {
			continue
		}
		key := "conditions." + name.value
		if line, dup := first[name.value]; dup {
			l.errorf(k.Line, key, "duplicate condition set (first defined at line %d): merge the two", line)
			continue
		}
		first[name.value] = k.Line
		if c := l.condition(v, key, false); c != nil {
			out = append(out, condSetSpec{name: name, cond: c})
		}
	}
	return out
}

// condition reads a set of conditions. On a grant (onGrant) it may also be the name of a
// condition set, or include sets with "use"; sets themselves do not nest.
func (l *loader) condition(n *yaml.Node, key string, onGrant bool) *condSpec {
	c := &condSpec{key: key, line: n.Line}
	if onGrant && n.Kind == yaml.ScalarNode {
		it, _ := l.scalar(n, key)
		if it.value == "" {
			l.errorf(n.Line, key, "empty: name a condition set, write conditions such as {mfa_within: 5m}, or drop the \":\"")
			return nil
		}
		c.use = []item{it}
		return c
	}
	allowed := conditionKeys
	what := "conditions"
	if onGrant {
		allowed = append([]string{"use"}, conditionKeys...)
		what = "conditions (or the name of a condition set)"
	}
	f, ok := l.mapping(n, key, what, allowed...)
	if !ok {
		return nil
	}
	if len(n.Content) == 0 {
		l.errorf(n.Line, key, "empty conditions: write at least one of %v, or drop them", conditionKeys)
	}
	if uf, ok := f["use"]; ok {
		c.use = l.oneOrMore(uf.value, key+".use", "a condition set's name, or a list of them")
	}
	if sf, ok := f["source"]; ok {
		c.source = l.oneOrMore(sf.value, key+".source", `a network in CIDR form, or a list of them, e.g. ["10.0.0.0/8"]`)
	}
	if hf, ok := f["hours"]; ok {
		c.hours = l.windows(hf.value, key+".hours")
	}
	if mf, ok := f["mfa_within"]; ok {
		c.mfa, _ = l.scalar(mf.value, key+".mfa_within")
		if c.mfa.value == "" {
			l.errorf(mf.value.Line, key+".mfa_within", "empty: write a duration such as 5m")
		}
	}
	if of, ok := f["owns"]; ok {
		c.owns = l.owns(of.value, key+".owns")
	}
	return c
}

// oneOrMore reads a scalar or a non-empty list of scalars.
func (l *loader) oneOrMore(n *yaml.Node, key, want string) []item {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		it, _ := l.scalar(n, key)
		return []item{it}
	}
	items := l.list(n, key, want)
	if isEmptyList(n) {
		l.errorf(n.Line, key, "empty: write %s", want)
	}
	return items
}

// windows reads one time window or a list of them.
func (l *loader) windows(n *yaml.Node, key string) []windowSpec {
	if n.Kind == yaml.MappingNode {
		if w, ok := l.window(n, key); ok {
			return []windowSpec{w}
		}
		return nil
	}
	const want = `a time window {days: [mon-fri], from: "08:00", to: "18:00", zone: Europe/Berlin}, or a list of them`
	if !l.kind(n, key, yaml.SequenceNode, want) {
		return nil
	}
	if len(n.Content) == 0 {
		l.errorf(n.Line, key, "empty: write %s", want)
	}
	var out []windowSpec
	for i, wn := range n.Content {
		if w, ok := l.window(wn, fmt.Sprintf("%s[%d]", key, i)); ok {
			out = append(out, w)
		}
	}
	return out
}

func (l *loader) window(n *yaml.Node, key string) (windowSpec, bool) {
	w := windowSpec{key: key, line: n.Line}
	f, ok := l.mapping(n, key, "a time window", "days", "from", "to", "zone")
	if !ok {
		return w, false
	}
	for _, name := range []string{"days", "from", "to", "zone"} {
		if _, ok := f[name]; !ok {
			l.errorf(n.Line, key+"."+name, "missing: a time window needs days, from, to and zone, e.g. {days: [mon-fri], from: \"08:00\", to: \"18:00\", zone: Europe/Berlin}")
		}
	}
	if df, ok := f["days"]; ok {
		w.days = l.oneOrMore(df.value, key+".days", "days such as [mon-fri] or [sat, sun]")
	}
	if ff, ok := f["from"]; ok {
		w.from, _ = l.scalar(ff.value, key+".from")
	}
	if tf, ok := f["to"]; ok {
		w.to, _ = l.scalar(tf.value, key+".to")
	}
	if zf, ok := f["zone"]; ok {
		w.zone, _ = l.scalar(zf.value, key+".zone")
	}
	return w, true
}

func (l *loader) owns(n *yaml.Node, key string) *ownsSpec {
	o := &ownsSpec{key: key, line: n.Line}
	f, ok := l.mapping(n, key, "an ownership binding {param: id, list: customers}", "param", "list")
	if !ok {
		return nil
	}
	if pf, ok := f["param"]; ok {
		o.param, _ = l.scalar(pf.value, key+".param")
	}
	if lf, ok := f["list"]; ok {
		o.list, _ = l.scalar(lf.value, key+".list")
	}
	if o.param.value == "" {
		l.errorf(n.Line, key+".param", "missing: name the path parameter that holds the id, e.g. param: id")
	}
	if o.list.value == "" {
		l.errorf(n.Line, key+".list", "missing: name the directory's ownership list, e.g. list: customers")
	}
	return o
}
