package policy

import "strings"

// Path patterns as segment lists ("{name}" a parameter, a final "**" any remainder) can be
// compared exactly, which is what lets the loader tell overlapping routes apart from nested
// ones and report both before a request ever meets them.

func isParamSeg(s string) bool { return strings.HasPrefix(s, "{") }

// segOverlap reports whether some path segment matches both x and y. A parameter never
// matches the empty segment of a trailing slash.
func segOverlap(x, y string) bool {
	px, py := isParamSeg(x), isParamSeg(y)
	switch {
	case px && py:
		return true
	case px:
		return y != ""
	case py:
		return x != ""
	}
	return x == y
}

// overlaps reports whether some canonical path matches both patterns.
func overlaps(a, b []string) bool {
	for i := 0; ; i++ {
		if i < len(a) && a[i] == "**" || i < len(b) && b[i] == "**" {
			return true
		}
		if i == len(a) || i == len(b) {
			return i == len(a) && i == len(b)
		}
		if !segOverlap(a[i], b[i]) {
			return false
		}
	}
}

// covers reports whether every path that b matches is matched by a.
func covers(a, b []string) bool {
	for i := 0; ; i++ {
		if i < len(a) && a[i] == "**" {
			return true
		}
		if i == len(b) {
			return i == len(a)
		}
		if b[i] == "**" || i == len(a) {
			return false
		}
		switch {
		case isParamSeg(a[i]):
			if b[i] == "" {
				return false
			}
		case isParamSeg(b[i]) || a[i] != b[i]:
			return false
		}
	}
}
