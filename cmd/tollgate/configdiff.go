package main

import (
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

var yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// changedKeys lists, as dotted YAML keys ("session.idle_timeout", "directory.users[1].roles"),
// every setting whose value differs between a and b, both loaded and defaulted. It names keys
// only, never values: the caller may log the list even when the key holds a secret.
func changedKeys(a, b *Config) []string {
	var out []string
	diffValue("", reflect.ValueOf(a).Elem(), reflect.ValueOf(b).Elem(), &out)
	return out
}

// diffValue walks the fields the YAML decoder fills. A struct is compared field by field, a
// list of structs of the same length item by item; anything else (a scalar, a map, a list
// that grew or shrank, a type that decodes itself) is one key.
func diffValue(key string, a, b reflect.Value, out *[]string) {
	t := a.Type()
	switch {
	case t.Implements(yamlUnmarshaler) || reflect.PointerTo(t).Implements(yamlUnmarshaler):
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			name, inline, ok := yamlKey(f)
			if !ok {
				continue
			}
			k := key
			if !inline {
				k = joinKey(key, name)
			}
			diffValue(k, a.Field(i), b.Field(i), out)
		}
		return
	case t.Kind() == reflect.Pointer && !a.IsNil() && !b.IsNil():
		diffValue(key, a.Elem(), b.Elem(), out)
		return
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct && a.Len() == b.Len():
		for i := range a.Len() {
			diffValue(fmt.Sprintf("%s[%d]", key, i), a.Index(i), b.Index(i), out)
		}
		return
	}
	if !reflect.DeepEqual(a.Interface(), b.Interface()) {
		*out = append(*out, key)
	}
}

// yamlKey is the key the decoder reads a field from; ok is false for fields it never fills
// (unexported, or tagged "-": values the wiring derives from other keys).
func yamlKey(f reflect.StructField) (name string, inline, ok bool) {
	if !f.IsExported() {
		return "", false, false
	}
	tag := f.Tag.Get("yaml")
	if tag == "-" {
		return "", false, false
	}
	name, opts, _ := strings.Cut(tag, ",")
	if name == "" {
		name = strings.ToLower(f.Name)
	}
	return name, strings.Contains(","+opts+",", ",inline,"), true
}

func joinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// under reports whether key is section or lies below it.
func under(key, section string) bool {
	if !strings.HasPrefix(key, section) {
		return false
	}
	rest := key[len(section):]
	return rest == "" || rest[0] == '.' || rest[0] == '['
}
