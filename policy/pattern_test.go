package policy

import (
	"fmt"
	"testing"
)

func TestCompilePattern(t *testing.T) {
	tests := []struct {
		pattern, template string
	}{
		{"/", "/"},
		{"/whoami", "/whoami"},
		{"/customers/{id}", "/customers/" + oneSegment},
		{"/invoices/{id}/edit", "/invoices/" + oneSegment + "/edit"},
		{"/files/**", "/files" + anySegments},
		{"/**", anySegments},
		{"/a/{x}/{y}/**", "/a/" + oneSegment + "/" + oneSegment + anySegments},
		{"/dir/", "/dir/"},
		{"/v1.2/a+b/(x)/$y", "/v1.2/a+b/(x)/$y"},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			got, err := compilePattern(tc.pattern)
			if err != nil || got != tc.template {
				t.Fatalf("compilePattern(%q) = %q, %v; want %q", tc.pattern, got, err, tc.template)
			}
		})
	}
}

// TestPatternMatching runs patterns through ladon's matcher via Decide, so it checks both the
// templates and how ladon reads them (regexp metacharacters in literals must be quoted).
func TestPatternMatching(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"/", []string{"/"}, []string{"/x", "/?"}},
		{"/customers/{id}", []string{"/customers/1", "/customers/a-b.c~d", "/customers/%20"},
			[]string{"/customers", "/customers/", "/customers/1/2", "/customersX/1", "/customers/1/"}},
		{"/files/**", []string{"/files", "/files/", "/files/a", "/files/a/b/c"}, []string{"/filesX", "/file", "/fil/es"}},
		{"/**", []string{"/", "/a", "/a/b/"}, nil},
		{"/dir/", []string{"/dir/"}, []string{"/dir", "/dir/x"}},
		// '.', '+', '(' and '$' are regexp metacharacters: they must match only themselves.
		{"/v1.2/{id}", []string{"/v1.2/x"}, []string{"/v1x2/x", "/v1/2/x"}},
		{"/a+b/{id}", []string{"/a+b/x"}, []string{"/aab/x", "/ab/x"}},
		{"/(x)/{id}", []string{"/(x)/1"}, []string{"/x/1"}},
		{"/$y/{id}", []string{"/$y/1"}, []string{"/y/1"}},
	}
	for _, tc := range tests {
		t.Run(tc.pattern, func(t *testing.T) {
			e := mustParse(t, fmt.Sprintf(`version: 1
routes:
  - name: r
    methods: [GET]
    paths: [%q]
roles:
  viewer:
    description: Test
    allow: [r]
`, tc.pattern))
			for _, p := range tc.match {
				if d := decide(t, e, "GET", p, "viewer"); !d.Allow {
					t.Errorf("%q does not match %q: %+v", tc.pattern, p, d)
				}
			}
			for _, p := range tc.noMatch {
				if d := decide(t, e, "GET", p, "viewer"); d.Allow {
					t.Errorf("%q matches %q", tc.pattern, p)
				}
			}
		})
	}
}
