package canon

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/internal/racetest"
)

func TestMethods(t *testing.T) {
	cases := []struct {
		method string
		reason string // empty: accepted, with the case kept
	}{
		{"GET", ""},
		{"POST", ""},
		{"PROPFIND", ""},
		{"M-SEARCH", ""},
		{"X_CUSTOM.v1", ""},
		{"get", ""}, // a different method from GET; the policy knows no rule for it
		{"Get", ""},
		{"!#$%&'*+-.^_`|~", ""},
		{strings.Repeat("A", 32), ""},
		{"", "empty method"},
		{strings.Repeat("A", 33), "method too long"},
		{"GET ", "invalid character in method"},
		{" GET", "invalid character in method"},
		{"G ET", "invalid character in method"},
		{"GET\x00", "invalid character in method"},
		{"GE\tT", "invalid character in method"},
		{"GET\r\n", "invalid character in method"},
		{"(GET)", "invalid character in method"},
		{"GET/1", "invalid character in method"},
		{"GET:", "invalid character in method"},
		{"GET;", "invalid character in method"},
		{"GET,POST", "invalid character in method"},
		{"GET@", "invalid character in method"},
		{"{GET}", "invalid character in method"},
		{"G\"ET", "invalid character in method"},
		{"G\xc3\x89T", "invalid character in method"},
		{"GET\x7f", "invalid character in method"},
	}
	for _, tc := range cases {
		t.Run(tc.method, func(t *testing.T) {
			got, err := Request(tc.method, "/invoices/42")
			if tc.reason != "" {
				wantRefusal(t, got, err, tc.reason)
				return
			}
			want := Target{Method: tc.method, Path: "/invoices/42"}
			if err != nil {
				t.Fatalf("Request(%q) refused: %v", tc.method, err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Request(%q) (-want +got):\n%s", tc.method, diff)
			}
		})
	}
}

func TestTargetForms(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "", reason: "empty request target"},
		{uri: "*", reason: "asterisk-form request target"},
		{uri: "*?x", reason: "asterisk-form request target"},
		{uri: "http://evil.example/admin", reason: "absolute-form request target"},
		{uri: "https://gate.example/admin", reason: "absolute-form request target"},
		{uri: "HTTP://gate.example/", reason: "absolute-form request target"},
		{uri: "hTtPs://gate.example", reason: "absolute-form request target"},
		{uri: "ws://gate.example/socket", reason: "absolute-form request target"},
		{uri: "a+b.c-d://gate.example/x", reason: "absolute-form request target"},
		{uri: "http://user@gate.example/admin", reason: "absolute-form request target"},
		{uri: "gate.example:443", reason: "authority-form request target"},
		{uri: "[::1]:443", reason: "authority-form request target"},
		{uri: "gate.example", reason: "request target does not start with /"},
		{uri: "admin", reason: "request target does not start with /"},
		{uri: "../admin", reason: "request target does not start with /"},
		{uri: "?x=/admin", reason: "request target does not start with /"},
		{uri: "\\admin", reason: "request target does not start with /"},
		{uri: " /admin", reason: "request target does not start with /"},
		{uri: "http:/admin", reason: "absolute-form request target"},
		{uri: "urn:x:admin", reason: "absolute-form request target"},
		{uri: "localhost:8080", reason: "authority-form request target"},

		{uri: "/", want: "/"},
		{uri: "/admin?x=http://evil.example/", want: "/admin"},
		{uri: "//gate.example/admin", want: "/gate.example/admin"},
	})
}

func TestQuery(t *testing.T) {
	cases := []struct {
		uri, wantQuery, reason string
	}{
		{uri: "/a?x=\x00", reason: queryControl},
		{uri: "/a?x=\t", reason: queryControl},
		{uri: "/a?x=\r\nSet-Cookie:y", reason: queryControl},
		{uri: "/a?x=\x7f", reason: queryControl},
		{uri: "/a?x=%", reason: queryEscape},
		{uri: "/a?x=%2", reason: queryEscape},
		{uri: "/a?x=%zz", reason: queryEscape},
		{uri: "/a?%g0", reason: queryEscape},
		{uri: "/a?x=%u002e", reason: queryEscape},
		{uri: "/a?x=1#frag", reason: queryFragment},
		{uri: "/a?#", reason: queryFragment},
		{uri: "/a?x y", reason: querySpace},
		{uri: "/a?x=\xc3\xa9", reason: queryNonASCII},
		{uri: "/a?" + strings.Repeat("q", maxQueryBytes+1), reason: queryTooLong},

		// Forwarded exactly as received: no decoding, no re-encoding, no reordering.
		{uri: "/a?x=1&y=%2F..%2F", wantQuery: "x=1&y=%2F..%2F"},
		{uri: "/a?x=%25&x=%2e", wantQuery: "x=%25&x=%2e"},
		{uri: "/a?;x=1;y", wantQuery: ";x=1;y"},
		{uri: "/a??x", wantQuery: "?x"},
		{uri: "/a?x=/../admin", wantQuery: "x=/../admin"},
		{uri: "/a?b=1&a=2&b=0", wantQuery: "b=1&a=2&b=0"},
		{uri: "/a?x={}|\\^", wantQuery: "x={}|\\^"},
		{uri: "/a?", wantQuery: ""},
		{uri: "/a?" + strings.Repeat("q", maxQueryBytes), wantQuery: strings.Repeat("q", maxQueryBytes)},
	}
	for _, tc := range cases {
		t.Run(shortName(tc.uri), func(t *testing.T) {
			got, err := Request("GET", tc.uri)
			if tc.reason != "" {
				wantRefusal(t, got, err, tc.reason)
				return
			}
			want := Target{Method: "GET", Path: "/a", RawQuery: tc.wantQuery}
			if err != nil {
				t.Fatalf("refused: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			checkCanonical(t, got)
		})
	}
}

// TestQueryCannotChangePath pairs each path with queries that try to look like paths: the
// canonical path must be the same with and without them.
func TestQueryCannotChangePath(t *testing.T) {
	paths := []string{"/invoices/42", "/a/../b", "/%61dmin/", "//x", "/caf%c3%a9"}
	queries := []string{"", "/../admin", "%2F..%2Fadmin", "x=1/../../admin", "?/admin", "..;/admin", "x=%2e%2e"}
	for _, p := range paths {
		want, err := Path(p)
		if err != nil {
			t.Fatalf("Path(%q): %v", p, err)
		}
		for _, q := range queries {
			got, err := Request("GET", p+"?"+q)
			if err != nil {
				t.Errorf("Request(%q): %v", p+"?"+q, err)
				continue
			}
			if got.Path != want || got.RawQuery != q {
				t.Errorf("Request(%q) = %q ? %q; want %q ? %q", p+"?"+q, got.Path, got.RawQuery, want, q)
			}
		}
	}
}

func TestLimits(t *testing.T) {
	segs := func(n int) string { return strings.Repeat("/s", n) }
	runPathCases(t, []pathCase{
		{uri: "/" + strings.Repeat("a", maxPathBytes-1), want: "/" + strings.Repeat("a", maxPathBytes-1)},
		{uri: "/" + strings.Repeat("a", maxPathBytes), reason: pathTooLong},
		{uri: "/" + strings.Repeat("a", 1<<20), reason: pathTooLong},
		{uri: "/" + strings.Repeat("a", maxPathBytes) + "?q", reason: pathTooLong},
		{uri: strings.Repeat("/", maxPathBytes+1), reason: pathTooLong},
		// Canonical escapes make the output longer than the input: the limit holds for both.
		{uri: "/" + strings.Repeat("{", (maxPathBytes-1)/3), want: "/" + strings.Repeat("%7B", (maxPathBytes-1)/3)},
		{uri: "/" + strings.Repeat("{", (maxPathBytes-1)/3+1), reason: pathTooLong},
		{uri: segs(maxSegments), want: segs(maxSegments)},
		{uri: segs(maxSegments + 1), reason: tooManySegs},
		{uri: segs(maxSegments) + "/..", reason: tooManySegs}, // counted before dot removal
		{uri: strings.Repeat("/a/..", maxSegments/2+1), reason: tooManySegs},
		{uri: strings.Repeat("/.", maxSegments+1), reason: tooManySegs},
		{uri: "/" + strings.Repeat("//a", maxSegments+1), reason: tooManySegs},
		{uri: "/a?" + strings.Repeat("q", maxQueryBytes+1), reason: queryTooLong},
		{uri: strings.Repeat("/", 100) + "a", want: "/a"},
	})
}

func TestPathFunction(t *testing.T) {
	cases := []struct {
		in, want, reason string
	}{
		{in: "/invoices/a%20b", want: "/invoices/a%20b"},
		{in: "/customers/%7Ealice/", want: "/customers/~alice/"},
		{in: "//a/./b/../c", want: "/a/c"},
		{in: "", reason: "empty path"},
		{in: "a/b", reason: "path does not start with /"},
		{in: "http://x/a", reason: "path does not start with /"},
		{in: "/a?b", reason: "query marker in path"},
		{in: "/a%2Fb", reason: encSlash},
		{in: "/..", reason: climbs},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := Path(tc.in)
			if tc.reason != "" {
				var ce *Error
				if !errors.As(err, &ce) || ce.Reason != tc.reason || got != "" {
					t.Fatalf("Path(%q) = %q, %v; want refusal %q", tc.in, got, err, tc.reason)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Path(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestDecoded(t *testing.T) {
	cases := []struct{ path, want string }{
		{"/invoices/a%20b", "/invoices/a b"},
		{"/customers/~alice", "/customers/~alice"},
		{"/a%2A%3A%40%7B", "/a*:@{"},
		{"/caf%C3%A9", "/café"},
		{"/", "/"},
		{"", ""},
	}
	for _, tc := range cases {
		if got := (Target{Path: tc.path}).Decoded(); got != tc.want {
			t.Errorf("Decoded(%q) = %q, want %q", tc.path, got, tc.want)
		}
	}
}

func TestErrorIsSafeToShow(t *testing.T) {
	secret := "/s3cr3t-token%00"
	_, err := Request("GET", secret)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("want *Error, got %T %v", err, err)
	}
	if strings.Contains(err.Error(), "s3cr3t") || strings.Contains(ce.Reason, "s3cr3t") {
		t.Errorf("error %q echoes the request", err)
	}
	if !strings.Contains(err.Error(), ce.Reason) {
		t.Errorf("Error() = %q does not carry the reason %q", err, ce.Reason)
	}
}

// TestAlreadyCanonicalDoesNotAllocate backs the benchmark's figure with an assertion: the
// common case must stay allocation-free.
func TestAlreadyCanonicalDoesNotAllocate(t *testing.T) {
	racetest.SkipAllocationCheck(t)
	n := testing.AllocsPerRun(100, func() {
		if _, err := Request("GET", "/invoices/2024/INV-00042/lines?page=2&sort=amount"); err != nil {
			t.Fatal(err)
		}
	})
	if n != 0 {
		t.Errorf("Request on a canonical target allocates %v times, want 0", n)
	}
}
