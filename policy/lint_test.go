package policy

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOverlapsAndCovers(t *testing.T) {
	tests := []struct {
		a, b             string
		overlap, aCovers bool
	}{
		{"/invoices/{id}", "/invoices/new", true, true},
		{"/invoices/new", "/invoices/{id}", true, false},
		{"/invoices/{id}", "/invoices/{x}", true, true},
		{"/invoices/{id}", "/invoices", false, false},
		{"/invoices/{id}", "/invoices/", false, false},
		{"/a/{x}/c", "/a/b/{y}", true, false},
		{"/files/**", "/files", true, true},
		{"/files/**", "/files/secret/**", true, true},
		{"/files/secret/**", "/files/**", true, false},
		{"/files/**", "/filesX", false, false},
		{"/**", "/anything/{x}/**", true, true},
		{"/a/{x}", "/a/b/**", true, false},
		{"/", "/**", true, false},
		{"/a/", "/a/{x}", false, false},
	}
	for _, tc := range tests {
		a, b := patternSegments(tc.a), patternSegments(tc.b)
		if got := overlaps(a, b); got != tc.overlap {
			t.Errorf("overlaps(%s, %s) = %v", tc.a, tc.b, got)
		}
		if got := overlaps(b, a); got != tc.overlap {
			t.Errorf("overlaps(%s, %s) = %v (not symmetric)", tc.b, tc.a, got)
		}
		if got := covers(a, b); got != tc.aCovers {
			t.Errorf("covers(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestLintWarnings(t *testing.T) {
	e := mustParse(t, `version: 1
conditions:
  office: {source: "10.0.0.0/8"}
routes:
  - {name: home, methods: [GET], paths: ["/"]}
  - {name: invoices.read, methods: [GET], paths: ["/invoices/{id}"]}
  - {name: invoices.new, methods: [GET, POST], paths: ["/invoices/new"]}
  - {name: orphan, methods: [GET], paths: ["/orphan"]}
roles:
  clerk:
    description: Invoices
    allow: [home, invoices.read, invoices.new]
  idle:
    description: Nothing yet
raw_ladon:
  - {id: nobody, subjects: ["<ghost.*>"], actions: [GET], resources: [/], effect: allow}
`)
	want := []string{
		`test.yaml:3: conditions.office: condition set "office" is used by no allow or deny entry`,
		`test.yaml:7: routes[2].paths: GET "/invoices/new" is inside "/invoices/{id}" of route "invoices.read" (line 6): roles allowed "invoices.read" reach these paths too, and a deny on either applies`,
		`test.yaml:8: routes[3]: route "orphan" is in no role's allow or deny list: it is denied to everyone`,
		`test.yaml:13: roles.idle: role "idle" allows and denies nothing: a user holding only it reaches nothing`,
		`test.yaml:16: raw_ladon[0].subjects: template "<ghost.*>" matches none of the roles defined in this file`,
	}
	var got []string
	for _, w := range e.Warnings() {
		got = append(got, w.Error())
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if w := loadExample(t).Warnings(); len(w) != 0 {
		t.Errorf("the example policy has warnings: %v", w)
	}
}

func TestLintErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"partial overlap", `version: 1
routes:
  - {name: a, methods: [GET], paths: ["/a/{x}/c"]}
  - {name: b, methods: [GET, POST], paths: ["/a/b/{y}"]}
roles:
  r: {description: R, allow: [a, b]}
`, []string{`test.yaml:4: routes[1].paths: GET "/a/b/{y}" overlaps "/a/{x}/c" of route "a" (line 3) without either containing the other, so no route clearly owns the paths both match: make one pattern more specific or split it`}},
		{"allow hidden by the role's own deny", `version: 1
routes:
  - {name: files, methods: [GET], paths: ["/files/**"]}
  - {name: files.secret, methods: [GET], paths: ["/files/secret", "/files/secret/{x}"]}
roles:
  r:
    description: R
    allow: [files.secret]
    deny: [files]
`, []string{`test.yaml:8: roles.r.allow: route "files.secret" can never be used by r: the role's deny of "files" (line 9) covers every method and path of it; remove one of the two`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("test.yaml", []byte(tc.src))
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
	// Positive controls: a deny with a condition, or covering only part, hides nothing.
	for _, src := range []string{`version: 1
routes:
  - {name: files, methods: [GET], paths: ["/files/**"]}
  - {name: files.secret, methods: [GET], paths: ["/files/secret"]}
roles:
  r:
    description: R
    allow: [files.secret]
    deny: [files: {source: "10.0.0.0/8"}]
`, `version: 1
routes:
  - {name: files, methods: [GET], paths: ["/files/**"]}
  - {name: files.secret, methods: [GET, PUT], paths: ["/files/secret"]}
roles:
  r:
    description: R
    allow: [files.secret]
    deny: [files]
`} {
		mustParse(t, src)
	}
}
