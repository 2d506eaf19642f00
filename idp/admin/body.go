package admin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"unicode/utf8"
)

// Limits on request bodies. Admin requests are small; anything larger is a mistake or an
// attack.
const (
	maxBody  = 64 << 10
	maxDepth = 16
)

// readJSON decodes a request body strictly into v (a pointer to a struct): a body over
// maxBody, invalid UTF-8, nesting deeper than maxDepth, a duplicate key, a key that is not
// one of the struct's JSON names (exactly, not in another case), trailing data or a value
// of the wrong type is a 400 naming the problem. An empty body counts as {}.
func readJSON(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return badRequest("the request body could not be read")
	}
	if len(body) > maxBody {
		return &apiError{status: http.StatusRequestEntityTooLarge, title: "Request too large",
			detail: fmt.Sprintf("the request body is larger than %d KiB", maxBody>>10)}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		return &apiError{status: http.StatusUnsupportedMediaType, title: "Unsupported media type",
			detail: "send the body as Content-Type: application/json"}
	}
	if !utf8.Valid(body) {
		return badRequest("the request body is not valid UTF-8")
	}
	if err := checkShape(body, jsonNames(v)); err != nil {
		return badRequest(err.Error())
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest(fmt.Sprintf("field %q: expected %s, got %s", te.Field, te.Type.Kind(), te.Value))
		}
		return badRequest("the request body is not valid JSON: " + err.Error())
	}
	return nil
}

// checkShape walks the JSON once, refusing deep nesting, duplicate keys, a top level that is
// not an object, top-level keys outside names, and anything after the value. Go's decoder
// would keep the last of two duplicate keys and match keys in any case; a second parser in
// front of us (a WAF, a log pipeline) might pick differently, so both are refused.
func checkShape(body []byte, names map[string]bool) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []*frame
	first := true
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("the request body is not valid JSON: %v", err)
		}
		if first {
			if d, ok := tok.(json.Delim); !ok || d != '{' {
				return errors.New("the request body must be a JSON object")
			}
		} else if len(stack) == 0 {
			return errors.New("the request body holds more than one JSON value")
		}
		first = false
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				markValue(stack)
				continue
			}
			key := tok.(string)
			if top.keys[key] {
				return fmt.Errorf("the key %q appears twice", key)
			}
			top.keys[key] = true
			if len(stack) == 1 && !names[key] {
				return fmt.Errorf("unknown field %q; the fields are %s", key, strings.Join(sortedKeys(names), ", "))
			}
			top.wantKey = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{', '[':
			if len(stack) >= maxDepth {
				return fmt.Errorf("the request body is nested deeper than %d levels", maxDepth)
			}
			stack = append(stack, &frame{object: d == '{', keys: map[string]bool{}, wantKey: d == '{'})
		case '}', ']':
			stack = stack[:len(stack)-1]
			markValue(stack)
		default:
			markValue(stack)
		}
	}
	return nil
}

// frame is one open object or array of checkShape's walk.
type frame struct {
	object  bool
	keys    map[string]bool
	wantKey bool // in an object, the next token is a key (or the closing brace)
}

// markValue notes that the enclosing object's value is complete, so a key comes next.
func markValue(stack []*frame) {
	if len(stack) > 0 && stack[len(stack)-1].object {
		stack[len(stack)-1].wantKey = true
	}
}

// jsonNames lists the JSON names of the fields of the struct v points to.
func jsonNames(v any) map[string]bool {
	names := map[string]bool{}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		names[name] = true
	}
	return names
}

func sortedKeys(m map[string]bool) []string {
	return slices.Sorted(maps.Keys(m))
}
