package policy

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// problems splits a Parse error into its messages, checking that each is a *ValidationError.
func problems(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		t.Fatal("Parse succeeded, want errors")
	}
	var list []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		list = j.Unwrap()
	} else {
		list = []error{err}
	}
	out := make([]string, len(list))
	for i, e := range list {
		var ve *ValidationError
		if !errors.As(e, &ve) {
			t.Errorf("problem %q is a %T, want *ValidationError", e, e)
		}
		out[i] = e.Error()
	}
	return out
}

// good is a valid file that the bad cases below edit in one place each.
const good = `version: 1
routes:
  - name: home
    methods: [GET]
    paths: ["/"]
roles:
  viewer:
    description: Home page
    allow: [home]
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		file string // name given to Parse
		src  string
		want []string
	}{
		{
			name: "the example from the design",
			file: "examples/policy.yaml",
			src: `version: 1
routes:
  - name: home
    methods: [GET]
    paths: ["/", "/whoami"]
  - name: invoices.create
    methods: [POST]
    paths: ["/invoices"]
roles:
  sales_rep:
    description: Customers read, invoices create and read
    allow:
      - home
      - invoice.create
`,
			want: []string{`examples/policy.yaml:14: roles.sales_rep.allow: unknown route "invoice.create" (defined routes: home, invoices.create)`},
		},
		{
			name: "empty file",
			src:  "",
			want: []string{`bad.yaml:1: version: missing: the file is empty; start it with "version: 1"`},
		},
		{
			name: "comments only",
			src:  "# nothing yet\n",
			want: []string{`bad.yaml:1: version: missing: the file is empty; start it with "version: 1"`},
		},
		{
			name: "YAML syntax error",
			src:  "version: 1\nroutes: [\n",
			want: []string{`bad.yaml:2: invalid YAML: did not find expected node content`},
		},
		{
			name: "not a mapping",
			src:  "- version: 1\n",
			want: []string{`bad.yaml:1: must be the policy file with keys version, conditions, routes, roles, raw_ladon`},
		},
		{
			name: "version missing",
			src:  strings.Replace(good, "version: 1\n", "", 1),
			want: []string{`bad.yaml:1: version: missing: add "version: 1" at the top of the file`},
		},
		{
			name: "version unsupported",
			src:  strings.Replace(good, "version: 1", "version: 2", 1),
			want: []string{`bad.yaml:1: version: unsupported version "2": this Tollgate reads version 1; write "version: 1"`},
		},
		{
			name: "version as a string",
			src:  strings.Replace(good, "version: 1", `version: "1"`, 1),
			want: []string{`bad.yaml:1: version: unsupported version "1": this Tollgate reads version 1; write "version: 1"`},
		},
		{
			name: "unknown top-level key",
			src:  good + "rules: []\n",
			want: []string{`bad.yaml:10: rules: unknown key (allowed keys: version, conditions, routes, roles, raw_ladon)`},
		},
		{
			name: "repeated top-level key",
			src:  good + "version: 1\n",
			want: []string{`bad.yaml:10: version: repeated key (first at line 1): keep one`},
		},
		{
			name: "routes and roles missing",
			src:  "version: 1\n",
			want: []string{
				`bad.yaml:1: routes: missing: add a list of routes (name, methods, paths)`,
				`bad.yaml:1: roles: missing: add a mapping of roles (description, allow, deny)`,
			},
		},
		{
			name: "routes empty, roles empty",
			src:  "version: 1\nroutes: []\nroles: {}\n",
			want: []string{
				`bad.yaml:2: routes: empty: define at least one route (name, methods, paths)`,
				`bad.yaml:3: roles: empty: define at least one role`,
			},
		},
		{
			name: "routes not a list",
			src:  strings.Replace(good, "  - name: home\n    methods: [GET]\n    paths: [\"/\"]\n", "  home: {}\n", 1),
			want: []string{
				`bad.yaml:3: routes: must be a list of routes, each with name, methods and paths`,
				`bad.yaml:7: roles.viewer.allow: unknown route "home" (no routes are defined)`,
			},
		},
		{
			name: "unknown route key",
			src:  strings.Replace(good, "    paths: [\"/\"]\n", "    paths: [\"/\"]\n    path: /x\n", 1),
			want: []string{`bad.yaml:6: routes[0].path: unknown key (allowed keys: name, methods, paths)`},
		},
		{
			name: "route without name, methods, paths",
			src:  strings.Replace(good, "  - name: home\n    methods: [GET]\n    paths: [\"/\"]\n", "  - {}\n", 1),
			want: []string{
				`bad.yaml:3: routes[0].name: missing: give the route a name such as invoices.create`,
				`bad.yaml:3: routes[0].methods: missing: list at least one upper-case method, e.g. [GET]`,
				`bad.yaml:3: routes[0].paths: missing: list at least one path pattern, e.g. ["/invoices/{id}"]`,
				`bad.yaml:7: roles.viewer.allow: unknown route "home" (no routes are defined)`,
			},
		},
		{
			name: "empty methods and paths",
			src:  strings.Replace(strings.Replace(good, "[GET]", "[]", 1), `["/"]`, "", 1),
			want: []string{
				`bad.yaml:4: routes[0].methods: empty: list at least one upper-case method, e.g. [GET]`,
				`bad.yaml:5: routes[0].paths: empty: list at least one path pattern, e.g. ["/invoices/{id}"]`,
			},
		},
		{
			name: "methods not a list",
			src:  strings.Replace(good, "[GET]", "GET", 1),
			want: []string{`bad.yaml:4: routes[0].methods: must be a list of at least one upper-case method, e.g. [GET]`},
		},
		{
			name: "bad methods",
			src:  strings.Replace(good, "[GET]", "[get, GET, GET, G T, '*']", 1),
			want: []string{
				`bad.yaml:4: routes[0].methods: method "get" must be upper case: write "GET" (methods are compared case-sensitively)`,
				`bad.yaml:4: routes[0].methods: method "GET" is listed twice: remove one`,
				`bad.yaml:4: routes[0].methods: "G T" is not an HTTP method: use upper-case methods such as GET or POST`,
				`bad.yaml:4: routes[0].methods: "*" is not an HTTP method: use upper-case methods such as GET or POST`,
			},
		},
		{
			name: "duplicate and badly named routes",
			src: `version: 1
routes:
  - name: home
    methods: [GET]
    paths: ["/"]
  - name: home
    methods: [POST]
    paths: ["/"]
  - name: Invoices:Create
    methods: [POST]
    paths: ["/invoices"]
roles:
  viewer:
    description: Home page
    allow: [home, "Invoices:Create"]
`,
			want: []string{
				`bad.yaml:6: routes[1].name: duplicate route name "home" (first defined at line 3): route names must be unique`,
				`bad.yaml:9: routes[2].name: route name "Invoices:Create" must be lower-case words separated by ".", e.g. invoices.create`,
			},
		},
		{
			name: "a method and path in two routes",
			src: `version: 1
routes:
  - name: home
    methods: [GET, HEAD]
    paths: ["/", "/items/{id}"]
  - name: items
    methods: [GET]
    paths: ["/items/{item}"]
roles:
  viewer:
    description: Home page
    allow: [home]
`,
			want: []string{`bad.yaml:8: routes[1].paths: GET "/items/{item}" is already in route "home" (line 5): a method and path belong to one route, so remove one`},
		},
		{
			name: "same pattern twice in a route",
			src:  strings.Replace(good, `["/"]`, `["/a/{x}", "/a/{y}"]`, 1),
			want: []string{`bad.yaml:5: routes[0].paths: path pattern "/a/{y}" matches the same paths as an earlier one in this route: remove it`},
		},
		{
			name: "bad path patterns",
			src: strings.Replace(good, `paths: ["/"]`, `paths:
      - "x"
      - "/a//b"
      - "/a/**/b"
      - "/a/{id"
      - "/a/{id}/{id}"
      - "/a/b{id}"
      - "/settings?x"
      - "/a/*"
      - "/a/%2F"
      - "/a/b;c"
      - "/a/<b>"
      - "/a/../b"
      - "/a b"`, 1),
			want: []string{
				`bad.yaml:6: routes[0].paths: bad path pattern "x": must start with "/" (write "/x")`,
				`bad.yaml:7: routes[0].paths: bad path pattern "/a//b": has an empty segment ("//"): remove the extra "/"`,
				`bad.yaml:8: routes[0].paths: bad path pattern "/a/**/b": "**" may only be the last segment, e.g. "/files/**"`,
				`bad.yaml:9: routes[0].paths: bad path pattern "/a/{id": segment "{id": a parameter is a whole segment named with letters, digits or "_", e.g. "{id}"`,
				`bad.yaml:10: routes[0].paths: bad path pattern "/a/{id}/{id}": parameter {id} appears twice: give each parameter its own name`,
				`bad.yaml:11: routes[0].paths: bad path pattern "/a/b{id}": segment "b{id}": a parameter is a whole segment named with letters, digits or "_", e.g. "{id}"`,
				`bad.yaml:12: routes[0].paths: bad path pattern "/settings?x": segment "settings?x": '?' is not allowed: patterns match the path only, never a query or fragment`,
				`bad.yaml:13: routes[0].paths: bad path pattern "/a/*": segment "*": "*" is only allowed as a whole last segment "**"; use "{name}" for one segment`,
				`bad.yaml:14: routes[0].paths: bad path pattern "/a/%2F": segment "%2F": percent-encoding is not allowed in patterns; write the character itself or use "{name}"`,
				`bad.yaml:15: routes[0].paths: bad path pattern "/a/b;c": segment "b;c": character ';' is not allowed; use letters, digits and - . _ ~ ! $ & ' ( ) + , = : @`,
				`bad.yaml:16: routes[0].paths: bad path pattern "/a/<b>": segment "<b>": character '<' is not allowed; use letters, digits and - . _ ~ ! $ & ' ( ) + , = : @`,
				`bad.yaml:17: routes[0].paths: bad path pattern "/a/../b": segment "..": paths are canonical when they reach the policy, so they never hold "." or ".." segments; remove it`,
				`bad.yaml:18: routes[0].paths: bad path pattern "/a b": segment "a b": character ' ' is not allowed; use letters, digits and - . _ ~ ! $ & ' ( ) + , = : @`,
			},
		},
		{
			name: "duplicate role",
			src:  good + "  viewer:\n    description: Again\n",
			want: []string{`bad.yaml:10: roles.viewer: duplicate role (first defined at line 7): merge the two definitions`},
		},
		{
			name: "bad role name, no description, unknown key",
			src:  strings.Replace(good, "  viewer:\n    description: Home page\n", "  Sales<Rep>:\n    descripton: Home page\n", 1),
			want: []string{
				`bad.yaml:7: roles.Sales<Rep>.description: missing: say in one line what this role is for`,
				`bad.yaml:7: roles.Sales<Rep>: role name "Sales<Rep>" must be a lower-case word (letters, digits, "_" or "-"), e.g. billing_manager`,
				`bad.yaml:8: roles.Sales<Rep>.descripton: unknown key (allowed keys: description, allow, deny)`,
			},
		},
		{
			name: "role not a mapping",
			src:  strings.Replace(good, "  viewer:\n    description: Home page\n    allow: [home]\n", "  viewer: [home]\n", 1),
			want: []string{`bad.yaml:7: roles.viewer: must be a role with keys description, allow, deny`},
		},
		{
			name: "route references",
			src:  strings.Replace(good, "    allow: [home]\n", "    allow: [home, home, nope]\n    deny: [home, '']\n", 1),
			want: []string{
				`bad.yaml:9: roles.viewer.allow: route "home" is listed twice: remove one`,
				`bad.yaml:9: roles.viewer.allow: unknown route "nope" (defined routes: home)`,
				`bad.yaml:10: roles.viewer.deny: empty entry: remove it`,
				`bad.yaml:10: roles.viewer.deny: route "home" is both allowed and denied: remove it from one of the lists (deny would win)`,
			},
		},
		{
			name: "alias",
			src:  strings.Replace(good, "    allow: [home]\n", "    allow: &a [home]\n  other:\n    description: Same\n    allow: *a\n", 1),
			want: []string{`bad.yaml:12: roles.other.allow: YAML aliases (*a) are not supported: write the value out`},
		},
		{
			name: "second document",
			src:  good + "---\nversion: 1\n",
			want: []string{`bad.yaml:10: a second YAML document starts here; a policy file holds one document, so remove the "---" separator`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			file := tc.file
			if file == "" {
				file = "bad.yaml"
			}
			e, err := Parse(file, []byte(tc.src))
			if e != nil {
				t.Errorf("Parse returned an engine alongside errors")
			}
			if diff := cmp.Diff(tc.want, problems(t, err)); diff != "" {
				t.Errorf("problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseGood(t *testing.T) {
	e := mustParse(t, good)
	if d := decide(t, e, "GET", "/", "viewer"); !d.Allow || d.PolicyID != "viewer:home:allow" {
		t.Errorf("GET / as viewer: %+v", d)
	}
	// The version follows the bytes: the same file gives the same version, any edit another.
	if again := mustParse(t, good); again.Version() != e.Version() {
		t.Errorf("same file, versions %q and %q", e.Version(), again.Version())
	}
	edited := mustParse(t, good+"# a comment\n")
	if edited.Version() == e.Version() {
		t.Errorf("edited file kept version %q", e.Version())
	}
	if len(e.Version()) != 16 || strings.Trim(e.Version(), "0123456789abcdef") != "" {
		t.Errorf("version %q is not 16 hex digits", e.Version())
	}
}

func TestLoad(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "missing.yaml")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
	path := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(good, "[home]", "[hom]", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path)
	want := []string{path + `:9: roles.viewer.allow: unknown route "hom" (defined routes: home)`}
	if diff := cmp.Diff(want, problems(t, err)); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}
