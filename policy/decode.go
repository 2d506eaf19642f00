package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// The file is decoded by walking a yaml.Node tree rather than through struct tags so that every
// problem names its line, unknown keys are caught at every depth, and all problems are reported
// together instead of stopping at the first. This file checks shape (kinds, required keys);
// validate.go checks content (names, patterns, references).

// item is a scalar from the file together with the line it came from.
type item struct {
	value string
	line  int
}

type routeSpec struct {
	key     string // "routes[2]", used in messages
	line    int
	name    item
	methods []item
	paths   []item
}

type fileSpec struct {
	conditions []condSetSpec
	routes     []routeSpec
	roles      []roleSpec
	raw        []rawSpec
}

// loader collects every problem found in one policy file: errors, which refuse the file, and
// warnings, which do not.
type loader struct {
	file  string
	errs  []*ValidationError
	warns []*ValidationError
}

func (l *loader) errorf(line int, key, format string, args ...any) {
	l.errs = append(l.errs, &ValidationError{File: l.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) warnf(line int, key, format string, args ...any) {
	l.warns = append(l.warns, &ValidationError{File: l.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) decode(data []byte) fileSpec {
	var spec fileSpec
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errorf(1, "version", `missing: the file is empty; start it with "version: 1"`)
		} else {
			l.errs = append(l.errs, syntaxError(l.file, err))
		}
		return spec
	}
	// A second document would otherwise be ignored silently, and with it whatever its author
	// meant to allow or deny.
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case errors.Is(err, io.EOF):
	case err != nil:
		l.errs = append(l.errs, syntaxError(l.file, err))
	default:
		l.errorf(extra.Line, "", `a second YAML document starts here; a policy file holds one document, so remove the "---" separator`)
	}
	if len(doc.Content) == 0 {
		l.errorf(1, "version", `missing: the file has no content; start it with "version: 1"`)
		return spec
	}
	root := doc.Content[0]
	top, ok := l.mapping(root, "", "the policy file", "version", "conditions", "routes", "roles", "raw_ladon")
	if !ok {
		return spec
	}
	if f, ok := top["version"]; ok {
		l.version(f.value)
	} else {
		l.errorf(root.Line, "version", `missing: add "version: 1" at the top of the file`)
	}
	if f, ok := top["routes"]; ok {
		spec.routes = l.routes(f.value)
	} else {
		l.errorf(root.Line, "routes", "missing: add a list of routes (name, methods, paths)")
	}
	if f, ok := top["roles"]; ok {
		spec.roles = l.roles(f.value)
	} else {
		l.errorf(root.Line, "roles", "missing: add a mapping of roles (description, allow, deny)")
	}
	if f, ok := top["conditions"]; ok {
		spec.conditions = l.condSets(f.value)
	}
	if f, ok := top["raw_ladon"]; ok {
		spec.raw = l.rawPolicies(f.value)
	}
	return spec
}

func (l *loader) version(n *yaml.Node) {
	if !l.kind(n, "version", yaml.ScalarNode, "the number 1") {
		return
	}
	if n.Tag != "!!int" || n.Value != "1" {
		l.errorf(n.Line, "version", "unsupported version %q: this Tollgate reads version 1; write \"version: 1\"", n.Value)
	}
}

func (l *loader) routes(n *yaml.Node) []routeSpec {
	if !l.kind(n, "routes", yaml.SequenceNode, "a list of routes, each with name, methods and paths") {
		return nil
	}
	if len(n.Content) == 0 {
		l.errorf(n.Line, "routes", "empty: define at least one route (name, methods, paths)")
		return nil
	}
	out := make([]routeSpec, 0, len(n.Content))
	for i, rn := range n.Content {
		r := routeSpec{key: fmt.Sprintf("routes[%d]", i), line: rn.Line}
		f, ok := l.mapping(rn, r.key, "a route", "name", "methods", "paths")
		if !ok {
			continue
		}
		if nf, ok := f["name"]; ok {
			r.name, _ = l.scalar(nf.value, r.key+".name")
		}
		if r.name.value == "" {
			l.errorf(rn.Line, r.key+".name", "missing: give the route a name such as invoices.create")
		}
		r.methods = l.requiredList(rn, f, r.key, "methods", "at least one upper-case method, e.g. [GET]")
		r.paths = l.requiredList(rn, f, r.key, "paths", `at least one path pattern, e.g. ["/invoices/{id}"]`)
		out = append(out, r)
	}
	return out
}

// field is one key/value pair of a YAML mapping.
type field struct{ key, value *yaml.Node }

// mapping returns the fields of a YAML mapping by key, reporting unknown and repeated keys.
func (l *loader) mapping(n *yaml.Node, path, what string, allowed ...string) (map[string]field, bool) {
	if !l.kind(n, path, yaml.MappingNode, what+" with keys "+strings.Join(allowed, ", ")) {
		return nil, false
	}
	out := make(map[string]field, len(allowed))
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name, ok := l.scalar(k, path)
		if !ok {
			continue
		}
		key := joinKey(path, name.value)
		if !slices.Contains(allowed, name.value) {
			l.errorf(k.Line, key, "unknown key (allowed keys: %s)", strings.Join(allowed, ", "))
			continue
		}
		if prev, dup := out[name.value]; dup {
			l.errorf(k.Line, key, "repeated key (first at line %d): keep one", prev.key.Line)
			continue
		}
		out[name.value] = field{key: k, value: v}
	}
	return out, true
}

// requiredList reads a list that must be present and non-empty.
func (l *loader) requiredList(parent *yaml.Node, f map[string]field, path, name, want string) []item {
	key := path + "." + name
	lf, ok := f[name]
	if !ok {
		l.errorf(parent.Line, key, "missing: list %s", want)
		return nil
	}
	items := l.list(lf.value, key, "a list of "+want)
	if isEmptyList(lf.value) {
		l.errorf(lf.value.Line, key, "empty: list %s", want)
	}
	return items
}

// list reads a list of scalars; a null value (the key with nothing after it) is an empty list.
func (l *loader) list(n *yaml.Node, key, want string) []item {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil
	}
	if !l.kind(n, key, yaml.SequenceNode, want) {
		return nil
	}
	out := make([]item, 0, len(n.Content))
	for _, e := range n.Content {
		if it, ok := l.scalar(e, key); ok {
			if it.value == "" {
				l.errorf(e.Line, key, "empty entry: remove it")
				continue
			}
			out = append(out, it)
		}
	}
	return out
}

func isEmptyList(n *yaml.Node) bool {
	return (n.Kind == yaml.SequenceNode && len(n.Content) == 0) || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// scalar reads a single value; null reads as "".
func (l *loader) scalar(n *yaml.Node, key string) (item, bool) {
	if !l.kind(n, key, yaml.ScalarNode, "a single value") {
		return item{}, false
	}
	if n.Tag == "!!null" {
		return item{line: n.Line}, true
	}
	return item{value: n.Value, line: n.Line}, true
}

// kind checks a node's kind. Aliases are refused rather than followed: a shared anchor would
// make one edit change several roles at once, and errors would point at the anchor's line
// instead of the place that uses it.
func (l *loader) kind(n *yaml.Node, key string, want yaml.Kind, shape string) bool {
	switch {
	case n.Kind == yaml.AliasNode:
		l.errorf(n.Line, key, "YAML aliases (*%s) are not supported: write the value out", n.Value)
		return false
	case n.Kind != want:
		l.errorf(n.Line, key, "must be %s", shape)
		return false
	}
	return true
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}
