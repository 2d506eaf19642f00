package policy

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/ory/ladon/compiler"
)

// Raw ladon policies may use ladon templates: text with regular expressions between '<' and
// '>'. Ladon matches them with regexp2 (a backtracking, .NET-style engine); the index matches
// them with Go's regexp, compiled once. The two agree only on a common subset, so a template's
// expressions are checked against that subset when the file loads, and anything outside it is
// refused with the reason rather than matched differently by the two engines.

// isTemplate reports whether ladon treats s as a template rather than a plain string: ladon
// looks for the start delimiter only.
func isTemplate(s string) bool { return strings.IndexByte(s, '<') >= 0 }

// templatePart is a run of literal text or one expression of a template.
type templatePart struct {
	text    string
	pattern bool
}

// splitTemplate cuts a template the way ladon's compiler does: delimiters nest, and an
// expression is the text between a '<' at depth zero and its matching '>'.
func splitTemplate(tpl string) ([]templatePart, error) {
	var parts []templatePart
	level, start, end := 0, 0, 0
	for i := 0; i < len(tpl); i++ {
		switch tpl[i] {
		case '<':
			if level++; level == 1 {
				start = i
			}
		case '>':
			if level--; level == 0 {
				if start > end {
					parts = append(parts, templatePart{text: tpl[end:start]})
				}
				parts = append(parts, templatePart{text: tpl[start+1 : i], pattern: true})
				end = i + 1
			} else if level < 0 {
				return nil, errors.New(`unbalanced "<" and ">"`)
			}
		}
	}
	if level != 0 {
		return nil, errors.New(`unbalanced "<" and ">"`)
	}
	if end < len(tpl) {
		parts = append(parts, templatePart{text: tpl[end:]})
	}
	return parts, nil
}

// compileTemplate checks a ladon template and returns the Go regular expression that matches
// exactly the strings ladon's would: "^", the literal parts quoted, each expression in a
// group, "$" (which regexp2 in ladon's RE2 mode also reads as the very end of the string).
func compileTemplate(tpl string) (*regexp.Regexp, error) {
	parts, err := splitTemplate(tpl)
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteByte('^')
	for _, p := range parts {
		if !p.pattern {
			b.WriteString(regexp.QuoteMeta(p.text))
			continue
		}
		if err := checkPattern(p.text); err != nil {
			return nil, fmt.Errorf("expression <%s>: %w", p.text, err)
		}
		b.WriteString("(" + p.text + ")")
	}
	b.WriteByte('$')
	// Ladon compiles the template itself when it first matches; doing it here makes a template
	// ladon cannot read fail the load instead of a request.
	if _, err := compiler.CompileRegex(tpl, '<', '>'); err != nil {
		return nil, fmt.Errorf("ladon cannot compile it: %w", err)
	}
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, fmt.Errorf("not a valid expression: %w", err)
	}
	return re, nil
}

// quantifier is a counted repetition that both engines read the same way.
var quantifier = regexp.MustCompile(`^\{[0-9]+(,[0-9]*)?\}`)

// checkPattern accepts the part of regular-expression syntax on which regexp2 (RE2 mode) and
// Go agree: literals, ".", classes without nesting or POSIX names, groups "( )" and "(?: )",
// alternation, the repetitions * + ? {n,m} (greedy or lazy), anchors ^ $, the classes \d \w \s
// (ASCII in both) and their negations, and backslash before punctuation.
func checkPattern(p string) error {
	inClass := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '\\':
			if i+1 == len(p) {
				return errors.New(`ends with a lone "\"`)
			}
			n := p[i+1]
			if strings.IndexByte("dDwWsS", n) < 0 && (n >= 0x80 || isAlnum(n)) {
				return fmt.Errorf(`escape "\%c" is not supported: use \d \w \s, their upper-case negations, or "\" before punctuation`, n)
			}
			i++
		case inClass && c == '[':
			return errors.New(`"[" inside a character class is read differently by ladon and Go: write "\["`)
		case inClass && c == ']':
			inClass = false
		case inClass:
		case c == '[':
			inClass = true
			j := i + 1
			if j < len(p) && p[j] == '^' {
				j++
			}
			if j < len(p) && (p[j] == ']' || p[j] == ':') {
				return fmt.Errorf(`"[%c" is read differently by ladon and Go: write "\%c" inside the class`, p[j], p[j])
			}
			i = j - 1
		case c == '(' && i+1 < len(p) && p[i+1] == '?':
			if i+2 >= len(p) || p[i+2] != ':' {
				return errors.New(`only plain groups "( )" and "(?: )" are supported: flags, named groups and look-arounds are not`)
			}
		case c == '{':
			m := quantifier.FindString(p[i:])
			if m == "" {
				return errors.New(`a "{" that does not start a repetition such as {2} or {1,3} must be written "\{"`)
			}
			i += len(m) - 1
		case c == '}':
			return errors.New(`write a literal "}" as "\}"`)
		}
	}
	if inClass {
		return errors.New(`unterminated character class "["`)
	}
	return nil
}

func isAlnum(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// segmentForm recognises templates the route trie can hold without a regular expression:
// literal segments, one-segment parameters (oneSegment) and a final anySegments, which is
// what compilePattern produces. It returns the segments with "" for the root.
func segmentForm(tpl string) ([]string, bool) {
	body := tpl
	tail := false
	if strings.HasSuffix(body, anySegments) {
		body, tail = strings.TrimSuffix(body, anySegments), true
	}
	if body == "" && tail {
		return []string{anySegments}, true
	}
	if !strings.HasPrefix(body, "/") {
		return nil, false
	}
	// oneSegment holds a "/" of its own, so it is swapped for a byte no template segment can
	// hold before the body is cut at "/".
	segs := strings.Split(strings.ReplaceAll(body[1:], oneSegment, "\x00"), "/")
	for i, s := range segs {
		switch {
		case s == "\x00":
			segs[i] = oneSegment
		case strings.ContainsAny(s, "<>\x00"):
			return nil, false
		}
	}
	if tail {
		if len(segs) == 1 && segs[0] == "" {
			// "/" followed by anySegments would need "//"; leave it to the expression matcher.
			return nil, false
		}
		segs = append(segs, anySegments)
	}
	return segs, true
}

// regexAnchor is where in the route trie an expression template is tried: the node of the
// literal segments it starts with, up to the last "/" before its first expression. Every path
// it can match starts with those segments, so the walk reaches that node for each of them.
func regexAnchor(tpl string) []string {
	lit := tpl[:strings.IndexByte(tpl, '<')]
	cut := strings.LastIndexByte(lit, '/')
	if cut <= 0 || lit[0] != '/' {
		return nil
	}
	return strings.Split(lit[1:cut], "/")
}
