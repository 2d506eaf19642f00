package canon

import (
	"errors"
	"net/url"
	"path"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzRequest checks properties that hold for every input; testdata/fuzz/FuzzRequest holds
// a seed corpus with members of every refused class and their positive controls.
func FuzzRequest(f *testing.F) {
	f.Add("GET", "/invoices/42?page=2")
	f.Add("GET", "/customers/%7Ealice/../bob/./")
	f.Add("get", "//a/%2e%2E/b")
	f.Fuzz(func(t *testing.T, method, uri string) {
		got, err := Request(method, uri)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("refusal is %T, want *Error: %v", err, err)
			}
			if !safeReason(ce.Reason) {
				t.Fatalf("reason %q is not a short plain phrase", ce.Reason)
			}
			if got != (Target{}) {
				t.Fatalf("refusal returned %+v", got)
			}
			return
		}
		if got.Method != method {
			t.Fatalf("method %q became %q", method, got.Method)
		}
		rawPath, rawQuery, _ := strings.Cut(uri, "?")
		if got.RawQuery != rawQuery {
			t.Fatalf("query %q became %q", rawQuery, got.RawQuery)
		}
		if p, err := Path(rawPath); err != nil || p != got.Path {
			t.Fatalf("Path(%q) = %q, %v; Request gave %q", rawPath, p, err, got.Path)
		}
		checkCanonical(t, got)
		checkOracle(t, rawPath, got)
	})
}

// checkOracle compares an accepted path with a naive reading of the same input: decode
// everything, then resolve segments. Both must agree, and the naive reading must never
// climb above the root. This holds only because every escape that would decode into
// structure (%2F, %25, ...) is refused rather than kept.
func checkOracle(t *testing.T, rawPath string, got Target) {
	t.Helper()
	full, err := url.PathUnescape(rawPath)
	if err != nil {
		t.Fatalf("accepted %q, which the standard library cannot unescape: %v", rawPath, err)
	}
	depth := 0
	for _, seg := range strings.Split(full, "/") {
		switch seg {
		case "", ".":
		case "..":
			if depth--; depth < 0 {
				t.Fatalf("accepted %q, which climbs above the root once decoded", rawPath)
			}
		default:
			depth++
		}
	}
	if a, b := path.Clean(full), path.Clean(got.Decoded()); a != b {
		t.Fatalf("stdlib reads %q as %q, canon as %q", rawPath, a, b)
	}
}

// TestTokenCombinations runs every arrangement of up to three tricky tokens through the
// same properties as the fuzzer, so that the classes are covered by construction and not
// only by the examples in the tables.
func TestTokenCombinations(t *testing.T) {
	tokens := []string{
		"a", ".", "..", "%2e", "%2E%2e", ".%2e", "", "%2f", "%2F", "\\", "%5c", ";", "%3b",
		"%25", "%252e", "%00", "%c0%ae", "%ef%bc%8e", "%e2%80%8b", "%20", "+", "#", "%23",
		"%3f", "~", "%7e", "%41", "a.", "::$x", "%c3%a9", "%cc%81", "{", "%7b",
	}
	var n, accepted int
	var walk func(prefix string, depth int)
	walk = func(prefix string, depth int) {
		if depth == 3 {
			return
		}
		for _, tok := range tokens {
			for _, sep := range []string{"/", "//"} {
				uri := prefix + sep + tok
				n++
				got, err := Request("GET", uri)
				if err == nil {
					accepted++
					checkCanonical(t, got)
					checkOracle(t, uri, got)
				} else if got != (Target{}) {
					t.Fatalf("Request(%q) refused with a non-zero Target", uri)
				}
				walk(uri, depth+1)
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	walk("", 0)
	t.Logf("%d of %d combinations accepted", accepted, n)
	if accepted == 0 || accepted == n {
		t.Fatalf("%d of %d combinations accepted; the token set must exercise both outcomes", accepted, n)
	}
}

// checkDecoded asserts what the upstream can never receive once decoded.
func checkDecoded(t *testing.T, dec string) {
	t.Helper()
	if !utf8.ValidString(dec) {
		t.Errorf("decoded path %q is not valid UTF-8", dec)
	}
	for i := 0; i < len(dec); i++ {
		if c := dec[i]; c < 0x20 || c == 0x7f || strings.IndexByte("\\%;?#", c) >= 0 {
			t.Errorf("decoded path %q holds %q", dec, c)
		}
	}
	for _, seg := range strings.Split(dec[1:], "/") {
		if seg == "" {
			continue
		}
		if strings.HasSuffix(seg, ".") || strings.HasPrefix(seg, " ") || strings.HasSuffix(seg, " ") {
			t.Errorf("decoded path %q has segment %q that Windows would trim", dec, seg)
		}
	}
}

func safeReason(r string) bool {
	if r == "" || len(r) > 64 {
		return false
	}
	for i := 0; i < len(r); i++ {
		if c := r[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}
