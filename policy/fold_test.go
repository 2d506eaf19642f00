package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/tollgate/tollgate/internal/racetest"
)

// escapesPolicy has denies and a conditional deny whose patterns name '@', '+' and ':', raw
// ladon denies whose resources are written with escapes, and an ownership check on a parameter
// that holds '@'.
const escapesPolicy = `version: 1
conditions:
  office:
    source: ["10.0.0.0/8"]
routes:
  - {name: reports, methods: [GET], paths: ["/reports/**"]}
  - {name: reports.shared, methods: [GET], paths: ["/reports/a@b/**"]}
  - {name: tags, methods: [GET], paths: ["/x/{tag}"]}
  - {name: tags.special, methods: [GET], paths: ["/x/foo+bar"]}
  - {name: slots, methods: [GET], paths: ["/t/{slot}"]}
  - {name: slots.noon, methods: [GET], paths: ["/t/12:30"]}
  - {name: mail, methods: [GET], paths: ["/mail/{box}"]}
roles:
  viewer:
    description: Reports, tags and slots, but not the special ones
    allow: [reports, tags, slots]
    deny: [reports.shared, tags.special, {slots.noon: office}]
  admin:
    description: Everything
    allow: [reports, reports.shared, tags, tags.special, slots, slots.noon]
  mailer:
    description: Their own mailboxes
    allow: [{mail: {owns: {param: box, list: mailboxes}}}]
raw_ladon:
  - id: no-viewer-commas
    subjects: [viewer]
    actions: [GET]
    resources: ["/x/a%2Cb", "/reports/q%3a<[0-9]+>"]
    effect: deny
`

var office, guest = mustAddr("10.1.2.3"), mustAddr("192.168.1.1")

// decideAll decides r with the index, with the ladon-based reference and through Explain, and
// fails unless all three agree.
func decideAll(t *testing.T, e *Engine, r Request) Decision {
	t.Helper()
	ctx := context.Background()
	d, err := e.Decide(ctx, r)
	if err != nil {
		t.Fatalf("Decide(%q): %v", r.Path, err)
	}
	ref, err := e.referenceDecide(ctx, r)
	if err != nil {
		t.Fatalf("referenceDecide(%q): %v", r.Path, err)
	}
	if diff := cmp.Diff(ref, d, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("%q: Decide differs from the ladon evaluation (-ladon +Decide):\n%s", r.Path, diff)
	}
	x, err := e.Explain(ctx, r)
	if err != nil {
		t.Fatalf("Explain(%q): %v", r.Path, err)
	}
	if !cmp.Equal(x.Decision, d, cmpopts.EquateEmpty()) || !cmp.Equal(x.Reference, d, cmpopts.EquateEmpty()) {
		t.Errorf("%q: Explain says %+v (reference %+v), Decide %+v", r.Path, x.Decision, x.Reference, d)
	}
	return d
}

// TestDenyAppliesToEverySpelling: a deny naming '@', '+', ':' or ',' (in a route pattern, or
// in a raw ladon resource written with the escape) applies whichever way the request spells
// the character, in either hex case; a role without the deny reaches every spelling.
func TestDenyAppliesToEverySpelling(t *testing.T) {
	e := mustParse(t, escapesPolicy)
	tests := []struct {
		policy    string
		spellings []string
	}{
		{"viewer:reports.shared:deny", []string{"/reports/a@b/q1", "/reports/a%40b/q1", "/reports/a%40b", "/reports/a%40b/"}},
		{"viewer:tags.special:deny", []string{"/x/foo+bar", "/x/foo%2Bbar", "/x/foo%2bbar"}},
		{"viewer:slots.noon:deny", []string{"/t/12:30", "/t/12%3A30", "/t/12%3a30"}},
		{"no-viewer-commas", []string{"/x/a,b", "/x/a%2Cb", "/x/a%2cb"}},
		{"no-viewer-commas", []string{"/reports/q:7", "/reports/q%3A7", "/reports/q%3a7"}},
	}
	for _, tc := range tests {
		for _, path := range tc.spellings {
			t.Run(path, func(t *testing.T) {
				d := decideAll(t, e, Request{Method: "GET", Path: path, Roles: []string{"viewer"}, ClientIP: office})
				if d.Allow || d.Reason != ReasonDeniedByPolicy || d.PolicyID != tc.policy {
					t.Errorf("viewer: %+v, want denied by %s", d, tc.policy)
				}
				// Positive control: the same request by a role without the deny.
				if d := decideAll(t, e, Request{Method: "GET", Path: path, Roles: []string{"admin"}, ClientIP: office}); !d.Allow {
					t.Errorf("admin: %+v, want allowed", d)
				}
				if got, want := e.Covers("GET", path), e.Covers("GET", tc.spellings[0]); !cmp.Equal(got, want) {
					t.Errorf("Covers = %v, want %v as for %q", got, want, tc.spellings[0])
				}
			})
		}
	}
}

// TestEscapesOnlyMatchTheirOwnCharacter: an escape matches the character it encodes and no
// other; escapes of characters outside foldChars are never read as raw characters; a
// conditional deny holds or not on the condition alone, in every spelling; and what is
// refused as non-canonical stays refused.
func TestEscapesOnlyMatchTheirOwnCharacter(t *testing.T) {
	e := mustParse(t, escapesPolicy)
	tests := []struct {
		name       string
		path       string
		ip         string
		wantReason string
	}{
		{"other character escaped", "/reports/a%40c/q1", "10.1.2.3", ReasonAllowed},
		{"other fold character escaped", "/reports/a%2Bb/q1", "10.1.2.3", ReasonAllowed},
		{"escape spelled out", "/reports/a%2540b/q1", "10.1.2.3", ReasonInvalidRequest},
		{"two characters for one", "/x/foo%2B%2Bbar", "10.1.2.3", ReasonAllowed},
		{"quote is not plus", "/x/foo%22bar", "10.1.2.3", ReasonAllowed},
		{"space is not plus", "/x/foo%20bar", "10.1.2.3", ReasonAllowed},
		{"encoded slash", "/x/foo%2Fbar", "10.1.2.3", ReasonInvalidRequest},
		{"encoded slash lower case", "/x/foo%2fbar", "10.1.2.3", ReasonInvalidRequest},
		{"encoded semicolon", "/t/12%3B30", "10.1.2.3", ReasonInvalidRequest},
		{"double-encoded plus", "/x/foo%252Bbar", "10.1.2.3", ReasonInvalidRequest},
		{"conditional deny off the network", "/t/12:30", "192.168.1.1", ReasonAllowed},
		{"conditional deny off the network, escaped", "/t/12%3A30", "192.168.1.1", ReasonAllowed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := decideAll(t, e, Request{Method: "GET", Path: tc.path, Roles: []string{"viewer"}, ClientIP: mustAddr(tc.ip)})
			if d.Reason != tc.wantReason {
				t.Errorf("%q: %+v, want reason %s", tc.path, d, tc.wantReason)
			}
		})
	}
}

// TestOwnsSeesTheMatchForm: the value an ownership check compares is the segment in match
// form, so an owner reaches every spelling and nobody else reaches any.
func TestOwnsSeesTheMatchForm(t *testing.T) {
	e := mustParse(t, escapesPolicy)
	tests := []struct {
		path  string
		owns  []string
		allow bool
	}{
		{"/mail/ann@corp", []string{"ann@corp"}, true},
		{"/mail/ann%40corp", []string{"ann@corp"}, true},
		{"/mail/ann%40corp", []string{"bob@corp"}, false},
		{"/mail/ann@corp", []string{"ann%40corp"}, false}, // lists hold the match form
		{"/mail/ann%40corp", []string{"ann%40corp"}, false},
		{"/mail/%c3%a9", []string{"%C3%A9"}, true}, // other escapes in upper-case hex
		{"/mail/a%20b", []string{"a%20b"}, true},
		{"/mail/a%20b", []string{"a b"}, false},
	}
	for _, tc := range tests {
		d := decideAll(t, e, Request{Method: "GET", Path: tc.path, Roles: []string{"mailer"},
			Owns: map[string][]string{"mailboxes": tc.owns}})
		if d.Allow != tc.allow {
			t.Errorf("%q owning %q: %+v, want allow=%v", tc.path, tc.owns, d, tc.allow)
		}
	}
}

// TestEveryFoldCharacterInEverySpelling: for each character of foldChars, a raw ladon deny
// that names it (written raw, or escaped) denies each spelling of the request, and the same
// path with another of these characters is not denied.
func TestEveryFoldCharacterInEverySpelling(t *testing.T) {
	const upper, lower = "0123456789ABCDEF", "0123456789abcdef"
	escape := func(c byte, digits string) string { return "%" + string(digits[c>>4]) + string(digits[c&0xf]) }
	for i, c := range []byte(foldChars) {
		for _, written := range []string{"/d/a" + string(c) + "b", "/d/a" + escape(c, upper) + "b"} {
			e := mustParse(t, `version: 1
routes:
  - {name: d, methods: [GET], paths: ["/d/{x}"]}
roles:
  viewer:
    description: d
    allow: [d]
raw_ladon:
  - id: no-x
    subjects: [viewer]
    actions: [GET]
    resources: ["`+written+`"]
    effect: deny
`)
			for _, path := range []string{"/d/a" + string(c) + "b", "/d/a" + escape(c, upper) + "b", "/d/a" + escape(c, lower) + "b"} {
				if d := decideAll(t, e, Request{Method: "GET", Path: path, Roles: []string{"viewer"}}); d.Allow || d.PolicyID != "no-x" {
					t.Errorf("resource %q, GET %q: %+v, want denied by no-x", written, path, d)
				}
			}
			// Positive control: another of the characters makes another path.
			other := foldChars[(i+1)%len(foldChars)]
			for _, path := range []string{"/d/a" + string(other) + "b", "/d/a" + escape(other, upper) + "b", "/d/ab"} {
				if d := decideAll(t, e, Request{Method: "GET", Path: path, Roles: []string{"viewer"}}); !d.Allow {
					t.Errorf("resource %q, GET %q: %+v, want allowed", written, path, d)
				}
			}
		}
	}
}

// TestEscapedPatternsRefused: a pattern cannot name a character by its escape, and an
// expression that spells an escape no path in match form holds is refused; each message says
// what to write instead.
func TestEscapedPatternsRefused(t *testing.T) {
	tests := []struct {
		name, from, to string
		want           []string
	}{
		{"route with %40", `["/"]`, `["/reports/a%40b/**", "/x/foo%2bbar", "/x/%2A"]`, []string{
			`bad.yaml:5: routes[0].paths: bad path pattern "/reports/a%40b/**": segment "a%40b": write "@" instead of "%40": it matches requests with either spelling`,
			`bad.yaml:5: routes[0].paths: bad path pattern "/x/foo%2bbar": segment "foo%2bbar": write "+" instead of "%2b": it matches requests with either spelling`,
			`bad.yaml:5: routes[0].paths: bad path pattern "/x/%2A": segment "%2A": "%2A" is "*", which a literal segment cannot hold (it is kept for a final "**"); use "{name}" for the segment, or a raw ladon policy`,
		}},
		{"raw expression with %40", "allow: [home]\n", "allow: [home]\nraw_ladon:\n  - {id: r, subjects: [viewer], actions: [GET], effect: deny, resources: [\"/a/<b%40c|d>\", \"/a/<x%2b>\", \"/a/<%c3%A9>\"]}\n", []string{
			`bad.yaml:11: raw_ladon[0].resources: template "/a/<b%40c|d>": the expression <b%40c|d> holds "%40", which never matches: paths are matched with escapes of ! $ & ' ( ) * + , = : @ decoded and other escapes in upper-case hex, so write "@" instead`,
			`bad.yaml:11: raw_ladon[0].resources: template "/a/<x%2b>": the expression <x%2b> holds "%2b", which never matches: paths are matched with escapes of ! $ & ' ( ) * + , = : @ decoded and other escapes in upper-case hex, so write "\\+" instead`,
			`bad.yaml:11: raw_ladon[0].resources: template "/a/<%c3%A9>": the expression <%c3%A9> holds "%c3", which never matches: paths are matched with escapes of ! $ & ' ( ) * + , = : @ decoded and other escapes in upper-case hex, so write "%C3" instead`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("bad.yaml", []byte(strings.Replace(good, tc.from, tc.to, 1)))
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
	// Positive control: the same file with the characters written raw loads.
	mustParse(t, strings.Replace(good, `["/"]`, `["/reports/a@b/**", "/x/foo+bar"]`, 1))
	mustParse(t, strings.Replace(good, "allow: [home]\n", "allow: [home]\nraw_ladon:\n  - {id: r, subjects: [viewer], actions: [GET], effect: deny, resources: [\"/a/<b@c|d>\", \"/a/<x\\\\+>\", \"/a/<%C3%A9>\"]}\n", 1))
}

func TestMatchForm(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a/b", "/a/b"},
		{"/a@b", "/a@b"},
		{"/a%40b", "/a@b"},
		{"/%21%24%26%27%28%29%2A%2B%2C%3D%3A%40", "/!$&'()*+,=:@"},
		{"/%2a%2b%2c%3d%3a", "/*+,=:"},
		{"/a%22b", "/a%22b"},
		{"/a%c3%a9", "/a%C3%A9"},
		{"/a%C3%a9%40", "/a%C3%A9@"},
		{"/a%2F%2f", "/a%2F%2F"},
		{"/a%25%2540", "/a%25%2540"},
		{"/a%zz%4", "/a%zz%4"},
		{"/a%40%", "/a@%"},
		{"%", "%"},
		{"", ""},
	}
	for _, tc := range tests {
		got := matchForm(tc.in)
		if got != tc.want {
			t.Errorf("matchForm(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if again := matchForm(got); again != got {
			t.Errorf("matchForm(%q) = %q, not idempotent", got, again)
		}
	}
}

// TestMatchFormAllocations: a path whose match form is itself costs nothing; one with escapes
// to fold costs its new string.
func TestMatchFormAllocations(t *testing.T) {
	racetest.SkipAllocationCheck(t)
	for _, s := range []string{"/customers/42/orders", "/a%C3%A9/%22", "/a@b"} {
		if n := testing.AllocsPerRun(100, func() { _ = matchForm(s) }); n != 0 {
			t.Errorf("matchForm(%q): %v allocations, want none: nothing changes", s, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = matchForm("/reports/a%40b/q%2B1") }); n != 1 {
		t.Errorf("matchForm with escapes to fold: %v allocations, want 1", n)
	}
}

func TestFoldTemplate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/a%40<[^/]+>/x%2b", "/a@<[^/]+>/x+"},
		{"/a/<%40>", "/a/<%40>"}, // expressions are refused by expressionEscape, not rewritten
		{"/a/<b<c>>%3A", "/a/<b<c>>:"},
		{"/a%40<", "/a%40<"}, // unbalanced: left for compileTemplate to refuse
	}
	for _, tc := range tests {
		if got := foldTemplate(tc.in); got != tc.want {
			t.Errorf("foldTemplate(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
