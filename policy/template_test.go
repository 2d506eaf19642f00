package policy

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/ory/ladon/compiler"
)

// TestTemplatesMatchLikeLadon: for templates in the accepted subset, the Go expression matches
// exactly the strings ladon's regexp2 expression matches.
func TestTemplatesMatchLikeLadon(t *testing.T) {
	templates := []string{
		"/reports<(/.*)?>", "/files/<[a-z]+>/<\\d+>\\.csv", "<(auditor|contract.*)>", "<GET|HEAD>", "<[A-Z]+>",
		"/customers/<[^/]+>", "/a<.*>b", "<.*>", "<>", "/x/<\\w{2,3}>", "<\\s*admin\\S*>", "<^a.*$>",
		"<(?:ab)+>", "<a*?>", "<[^a-c]{1,}>", "<[\\]\\[]+>", "<\\D\\W>", "/v1.2/<a|b>", "/<(a<b>c)>",
	}
	inputs := []string{
		"", "/", "/reports", "/reports/", "/reports/a/b", "/reportsX", "/files/abc/12.csv", "/files/abc/12xcsv",
		"/files/ABC/1.csv", "auditor", "auditor\n", "contractor", "contract", "xcontract", "GET", "HEAD", "GETX",
		"get", "/customers/1", "/customers/1/2", "/customers/", "/a-b", "/ab", "/x/ab", "/x/abcd", "/x/é", " admin",
		"admin\t", "\nadmin", "ababab", "aaa", "def", "[]", "1!", "/v1.2/a", "/v1x2/a", "/a<b>c", "é", "\xff",
	}
	matched := 0
	for _, tpl := range templates {
		re, err := compileTemplate(tpl)
		if err != nil {
			t.Fatalf("compileTemplate(%q): %v", tpl, err)
		}
		ladonRe, err := compiler.CompileRegex(tpl, '<', '>')
		if err != nil {
			t.Fatalf("ladon compile %q: %v", tpl, err)
		}
		for _, in := range inputs {
			want, err := ladonRe.MatchString(in)
			if err != nil {
				t.Fatal(err)
			}
			if got := re.MatchString(in); got != want {
				t.Errorf("template %q on %q: Go %v, ladon %v", tpl, in, got, want)
			}
			if want {
				matched++
			}
		}
	}
	if matched < 30 {
		t.Errorf("only %d matches: the inputs test too little", matched)
	}
}

func TestTemplatesRefused(t *testing.T) {
	tests := []struct{ tpl, want string }{
		{"<(?i)admin>", "only plain groups"},
		{"<(?=a)a>", "only plain groups"},
		{"<(?P<n>a)>", "only plain groups"},
		{"<\\bword>", `escape "\b"`},
		{"<\\p{L}>", `escape "\p"`},
		{"<\\1>", `escape "\1"`},
		{"<\\x41>", `escape "\x"`},
		{"<[a-z-[d]]>", `"[" inside a character class`},
		{"<[[:alpha:]]>", `"[" inside a character class`},
		{"<[]a]>", `"[]"`},
		{"<[:a]>", `"[:"`},
		{"<a{,3}>", `"{"`},
		{"<a}>", `"}"`},
		{"<[a-z>", "unterminated"},
		{"<a\\>", "lone"},
		{"/a<b", "unbalanced"},
		{"/a>b<c", "unbalanced"},
		{"<a**>", "ladon cannot compile it"},
		{"<a{1001}>", "not a valid expression"},
	}
	for _, tc := range tests {
		_, err := compileTemplate(tc.tpl)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("compileTemplate(%q) = %v, want an error with %q", tc.tpl, err, tc.want)
		}
	}
}

func TestSegmentForm(t *testing.T) {
	tests := []struct {
		tpl  string
		want []string
	}{
		{"/customers/" + oneSegment, []string{"customers", oneSegment}},
		{"/a/" + oneSegment + "/b" + anySegments, []string{"a", oneSegment, "b", anySegments}},
		{anySegments, []string{anySegments}},
		{"/" + oneSegment + "/", []string{oneSegment, ""}},
		{"/files/<.*>", nil},
		{"/a" + oneSegment, nil},
		{"/" + anySegments, nil},
		{"x/" + oneSegment, nil},
	}
	for _, tc := range tests {
		got, _ := segmentForm(tc.tpl)
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("segmentForm(%q) (-want +got):\n%s", tc.tpl, diff)
		}
	}
	for tpl, want := range map[string][]string{
		"/exports<.*>": nil, "/reports/<.*>": {"reports"}, "/a/b/c<x>": {"a", "b"}, "<.*>": nil, "x/y<.*>": nil,
	} {
		if got := regexAnchor(tpl); !cmp.Equal(got, want) {
			t.Errorf("regexAnchor(%q) = %q, want %q", tpl, got, want)
		}
	}
}
