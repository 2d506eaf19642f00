package canon

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// pathCase is one request target and what must become of it: accepted as want, or
// refused with exactly reason (so that a case refused by the wrong rule fails too).
type pathCase struct {
	uri    string
	want   string // canonical path when accepted
	reason string // set when refused
}

func runPathCases(t *testing.T, cases []pathCase) {
	t.Helper()
	accepted, refusedN := 0, 0
	for _, tc := range cases {
		t.Run(shortName(tc.uri), func(t *testing.T) {
			got, err := Request("GET", tc.uri)
			if tc.reason != "" {
				wantRefusal(t, got, err, tc.reason)
				return
			}
			if err != nil {
				t.Fatalf("Request(GET, %q) refused: %v; want path %q", tc.uri, err, tc.want)
			}
			if got.Path != tc.want {
				t.Errorf("Request(GET, %q).Path = %q, want %q", tc.uri, got.Path, tc.want)
			}
			checkCanonical(t, got)
		})
		if tc.reason != "" {
			refusedN++
		} else {
			accepted++
		}
	}
	// Every class needs its attacks and a positive control next to them.
	if refusedN < 10 || accepted < 1 {
		t.Errorf("table has %d refusals and %d accepted cases; want at least 10 and 1", refusedN, accepted)
	}
}

func wantRefusal(t *testing.T, got Target, err error, reason string) {
	t.Helper()
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %+v, err %v; want refusal %q", got, err, reason)
	}
	if ce.Reason != reason {
		t.Errorf("refused with reason %q, want %q", ce.Reason, reason)
	}
	if got != (Target{}) {
		t.Errorf("refusal returned a non-zero Target %+v", got)
	}
}

// checkCanonical asserts the properties every accepted target has, whatever the input.
func checkCanonical(t *testing.T, got Target) {
	t.Helper()
	p := got.Path
	if p == "" || p[0] != '/' {
		t.Fatalf("path %q does not start with /", p)
	}
	if strings.Contains(p, "//") {
		t.Errorf("path %q holds an empty segment", p)
	}
	segs := strings.Split(p[1:], "/")
	for _, s := range segs {
		if s == "." || s == ".." {
			t.Errorf("path %q holds a dot segment", p)
		}
	}
	if len(segs) > maxSegments || len(p) > maxPathBytes {
		t.Errorf("path of %d bytes and %d segments exceeds the limits", len(p), len(segs))
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || !isUpperHex(p[i+1]) || !isUpperHex(p[i+2]) {
				t.Fatalf("path %q: escape at %d is not two upper-case hex digits", p, i)
			}
			v := unhex(p[i+1])<<4 | unhex(p[i+2])
			if isUnreserved(v) || strings.IndexByte("/\\%;?#", v) >= 0 || v < 0x20 || v == 0x7f {
				t.Errorf("path %q keeps escape %s, which must be decoded or refused", p, p[i:i+3])
			}
			i += 2
			continue
		}
		if !isUnreserved(c) && strings.IndexByte("/!$&'()*+,=:@", c) < 0 {
			t.Errorf("path %q holds raw byte %q", p, c)
		}
	}

	checkDecoded(t, got.Decoded())

	// Idempotent: the canonical path is its own canonical form.
	again, err := Request(got.Method, got.Path)
	if err != nil {
		t.Fatalf("Request(%q, %q) refused its own output: %v", got.Method, got.Path, err)
	}
	if diff := cmp.Diff(Target{Method: got.Method, Path: got.Path}, again); diff != "" {
		t.Errorf("not idempotent (-first +second):\n%s", diff)
	}
	if p2, err := Path(got.Path); err != nil || p2 != got.Path {
		t.Errorf("Path(%q) = %q, %v; want it unchanged", got.Path, p2, err)
	}

	// Forwarding: the proxy sets URL.Path = Decoded() and URL.RawPath = Path, and Go must
	// then write Path on the wire, byte for byte.
	dec := got.Decoded()
	out := url.URL{Scheme: "http", Host: "upstream", Path: dec, RawPath: p, RawQuery: got.RawQuery}
	if e := out.EscapedPath(); e != p {
		t.Errorf("EscapedPath() = %q, want the authorized %q", e, p)
	}
	wantURI := p
	if got.RawQuery != "" {
		wantURI += "?" + got.RawQuery
	}
	if ru := out.RequestURI(); ru != wantURI {
		t.Errorf("RequestURI() = %q, want %q", ru, wantURI)
	}
	// Without RawPath, Go either sends the same bytes or a spelling that only differs in
	// escaping sub-delimiters, never in structure.
	if e := (&url.URL{Path: dec}).EscapedPath(); unescape(e) != dec {
		t.Errorf("EscapedPath of Path alone %q does not decode to %q", e, dec)
	}
	// A Go upstream parsing what it receives sees the decoded path that was authorized.
	if u, err := url.ParseRequestURI(p); err != nil || u.Path != dec || u.EscapedPath() != p {
		t.Errorf("ParseRequestURI(%q) = %+v, %v; want Path %q", p, u, err, dec)
	}
	// The decoded path is already clean by the standard library's own rules.
	wantClean := strings.TrimSuffix(dec, "/")
	if wantClean == "" {
		wantClean = "/"
	}
	if c := path.Clean(dec); c != wantClean {
		t.Errorf("path.Clean(%q) = %q; canonical paths must already be clean", dec, c)
	}
}

// shortName keeps subtest names readable for the long inputs of the limit tests.
func shortName(uri string) string {
	if len(uri) > 48 {
		return fmt.Sprintf("%s...(%d_bytes)", uri[:32], len(uri))
	}
	return uri
}

func isUpperHex(c byte) bool {
	return '0' <= c && c <= '9' || 'A' <= c && c <= 'F'
}
