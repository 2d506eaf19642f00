package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Ladon templates put a regular expression between '<' and '>' and quote everything else with
// regexp.QuoteMeta; a template without '<' is compared as a plain string. Those two characters
// can therefore never appear in a literal segment.
const (
	// oneSegment is what "{name}" becomes: exactly one non-empty segment.
	oneSegment = "<[^/]+>"
	// anySegments is what a final "**" becomes: nothing, or "/" and anything after it.
	anySegments = "<(/.*)?>"
)

// paramName is the shape of the name inside "{...}".
var paramName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// literalChars are the characters a literal segment may hold: RFC 3986 unreserved characters
// plus the sub-delimiters and ':' '@' that canonical paths keep as they are. ';' is left out
// (servers disagree on path parameters), as are '*' (reserved for "**"), '{' '}' (parameters),
// '%' (what a pattern could name is matched decoded, see matchForm) and '<' '>' (ladon's
// delimiters).
const literalChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~!$&'()+,=:@"

// compilePattern checks a path pattern and turns it into a ladon resource template. The error
// says what to change.
func compilePattern(pattern string) (string, error) {
	if !strings.HasPrefix(pattern, "/") {
		return "", fmt.Errorf("must start with \"/\" (write %q)", "/"+pattern)
	}
	if pattern == "/" {
		return "/", nil
	}
	segments := strings.Split(pattern[1:], "/")
	var tpl strings.Builder
	params := map[string]bool{}
	for i, seg := range segments {
		last := i == len(segments)-1
		switch {
		case seg == "" && last:
			// A trailing slash is part of the path: "/a/" and "/a" are different paths.
			tpl.WriteString("/")
		case seg == "":
			return "", fmt.Errorf(`has an empty segment ("//"): remove the extra "/"`)
		case seg == "**":
			if !last {
				return "", fmt.Errorf(`"**" may only be the last segment, e.g. "/files/**"`)
			}
			tpl.WriteString(anySegments)
		case strings.HasPrefix(seg, "{") || strings.HasSuffix(seg, "}"):
			name, ok := strings.CutPrefix(seg, "{")
			name, closed := strings.CutSuffix(name, "}")
			if !ok || !closed || !paramName.MatchString(name) {
				return "", fmt.Errorf("segment %q: a parameter is a whole segment named with letters, digits or \"_\", e.g. \"{id}\"", seg)
			}
			if params[name] {
				return "", fmt.Errorf("parameter {%s} appears twice: give each parameter its own name", name)
			}
			params[name] = true
			tpl.WriteString("/" + oneSegment)
		case seg == "." || seg == "..":
			return "", fmt.Errorf("segment %q: paths are canonical when they reach the policy, so they never hold \".\" or \"..\" segments; remove it", seg)
		default:
			if err := checkLiteral(seg); err != nil {
				return "", err
			}
			tpl.WriteString("/" + seg)
		}
	}
	return tpl.String(), nil
}

func checkLiteral(seg string) error {
	for i := 0; i < len(seg); i++ {
		c := seg[i]
		if strings.IndexByte(literalChars, c) >= 0 {
			continue
		}
		switch c {
		case '?', '#':
			return fmt.Errorf("segment %q: %q is not allowed: patterns match the path only, never a query or fragment", seg, c)
		case '*':
			return fmt.Errorf("segment %q: \"*\" is only allowed as a whole last segment \"**\"; use \"{name}\" for one segment", seg)
		case '{', '}':
			return fmt.Errorf("segment %q: a parameter must be a whole segment, e.g. \"/invoices/{id}\"", seg)
		case '%':
			switch v, ok := unhex2(seg, i+1); {
			case ok && v == '*':
				return fmt.Errorf("segment %q: %q is \"*\", which a literal segment cannot hold (it is kept for a final \"**\"); use \"{name}\" for the segment, or a raw ladon policy", seg, seg[i:i+3])
			case ok && isFoldChar[v]:
				// Requests are matched with both spellings read as the raw character, so the
				// raw character is the one way to name it.
				return fmt.Errorf("segment %q: write %q instead of %q: it matches requests with either spelling", seg, string(v), seg[i:i+3])
			}
			return fmt.Errorf("segment %q: percent-encoding is not allowed in patterns; write the character itself or use \"{name}\"", seg)
		default:
			return fmt.Errorf("segment %q: character %q is not allowed; use letters, digits and - . _ ~ ! $ & ' ( ) + , = : @", seg, c)
		}
	}
	return nil
}
