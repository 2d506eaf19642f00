package policy

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/ory/ladon"
)

// TestNearMisses: requests that look like an allowed one but are not, each with the allowed
// request it resembles as a positive control.
func TestNearMisses(t *testing.T) {
	e := loadExample(t)
	tests := []struct {
		name          string
		method, path  string
		roles         []string
		control       string // the allowed path this one resembles
		controlMethod string
		wantReason    string
	}{
		{"extra segment after void", "POST", "/invoices/1/void/x", []string{"administrator"}, "/invoices/1/void", "POST", ReasonNoMatchingPolicy},
		{"literal with suffix", "GET", "/customersX", []string{"administrator"}, "/customers", "GET", ReasonNoMatchingPolicy},
		{"trailing slash", "GET", "/customers/", []string{"administrator"}, "/customers", "GET", ReasonNoMatchingPolicy},
		{"two segments for {id}", "GET", "/customers/1/2", []string{"administrator"}, "/customers/1", "GET", ReasonNoMatchingPolicy},
		{"prefix only", "GET", "/customer", []string{"administrator"}, "/customers", "GET", ReasonNoMatchingPolicy},
		{"case of path", "GET", "/Customers", []string{"administrator"}, "/customers", "GET", ReasonNoMatchingPolicy},
		{"lower-case method", "get", "/customers", []string{"administrator"}, "/customers", "GET", ReasonNoMatchingPolicy},
		{"mixed-case method", "Post", "/settings", []string{"administrator"}, "/settings", "POST", ReasonNoMatchingPolicy},
		{"HEAD is not GET", "HEAD", "/customers", []string{"administrator"}, "/customers", "GET", ReasonNoMatchingPolicy},
		{"unknown method", "PROPFIND", "/customers", []string{"administrator"}, "/customers", "GET", ReasonNoMatchingPolicy},
		{"unknown role", "GET", "/customers", []string{"intern"}, "/customers", "GET", ReasonNoMatchingPolicy},
		{"role name with other case", "GET", "/customers", []string{"Administrator"}, "/customers", "GET", ReasonNoMatchingPolicy},
		{"no roles", "GET", "/", nil, "/", "GET", ReasonNoRoles},
		{"empty role list", "GET", "/", []string{}, "/", "GET", ReasonNoRoles},
		{"query on a literal path", "GET", "/settings?x", []string{"administrator"}, "/settings", "GET", ReasonInvalidRequest},
		{"query on a parameter path", "GET", "/customers/1?admin=1", []string{"administrator"}, "/customers/1", "GET", ReasonInvalidRequest},
		{"fragment", "GET", "/customers/1#x", []string{"administrator"}, "/customers/1", "GET", ReasonInvalidRequest},
		{"empty {id}", "POST", "/invoices//edit", []string{"administrator"}, "/invoices/1/edit", "POST", ReasonInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			control := decide(t, e, tc.controlMethod, tc.control, "administrator")
			if !control.Allow {
				t.Fatalf("positive control %s %s as administrator denied: %+v", tc.controlMethod, tc.control, control)
			}
			d := decide(t, e, tc.method, tc.path, tc.roles...)
			if d.Allow || d.Reason != tc.wantReason || d.PolicyID != "" {
				t.Fatalf("got %+v, want deny with reason %q and no policy", d, tc.wantReason)
			}
			if d.Version != e.Version() {
				t.Errorf("Version = %q, want %q", d.Version, e.Version())
			}
		})
	}
}

// denyPolicy has a deny that overlaps another role's allow, a "**" route, and a role whose
// deny covers part of its own allowed area.
const denyPolicy = `version: 1
routes:
  - name: home
    methods: [GET]
    paths: ["/"]
  - name: reports.read
    methods: [GET]
    paths: ["/reports", "/reports/{name}"]
  - name: reports.payroll
    methods: [GET]
    paths: ["/reports/payroll"]
  - name: files
    methods: [GET, PUT]
    paths: ["/files/**"]
  - name: files.secret
    methods: [GET]
    paths: ["/files/secret/**"]
roles:
  viewer:
    description: Reports and files
    allow: [home, reports.read, files]
  contractor:
    description: Home only, never payroll or secrets
    allow: [home]
    deny: [reports.payroll, files.secret]
  auditor:
    description: Reports, payroll included
    allow: [reports.read, reports.payroll]
`

func TestDenyOverridesAllowAcrossRoles(t *testing.T) {
	e := mustParse(t, denyPolicy)
	tests := []struct {
		name         string
		method, path string
		roles        []string
		want         Decision
	}{
		{"viewer alone reads payroll", "GET", "/reports/payroll", []string{"viewer"},
			Decision{Allow: true, Reason: ReasonAllowed, PolicyID: "viewer:reports.read:allow", Route: "reports.read"}},
		{"a contractor role denies what viewer allows", "GET", "/reports/payroll", []string{"viewer", "contractor"},
			Decision{Reason: ReasonDeniedByPolicy, PolicyID: "contractor:reports.payroll:deny", Route: "reports.payroll", NeededRoles: []string{"auditor", "viewer"}}},
		{"order of roles does not matter", "GET", "/reports/payroll", []string{"contractor", "viewer"},
			Decision{Reason: ReasonDeniedByPolicy, PolicyID: "contractor:reports.payroll:deny", Route: "reports.payroll", NeededRoles: []string{"auditor", "viewer"}}},
		{"two allowing roles name the smallest policy id", "GET", "/reports/payroll", []string{"viewer", "auditor"},
			Decision{Allow: true, Reason: ReasonAllowed, PolicyID: "auditor:reports.payroll:allow", Route: "reports.payroll"}},
		{"deny does not spill to other reports", "GET", "/reports/q1", []string{"viewer", "contractor"},
			Decision{Allow: true, Reason: ReasonAllowed, PolicyID: "viewer:reports.read:allow", Route: "reports.read"}},
		{"multi-role: any allow is enough", "GET", "/", []string{"intern", "contractor"},
			Decision{Allow: true, Reason: ReasonAllowed, PolicyID: "contractor:home:allow", Route: "home"}},
		{"deny alone is still a deny", "GET", "/reports/payroll", []string{"contractor"},
			Decision{Reason: ReasonDeniedByPolicy, PolicyID: "contractor:reports.payroll:deny", Route: "reports.payroll", NeededRoles: []string{"auditor", "viewer"}}},
		{"** matches zero segments", "GET", "/files", []string{"viewer"},
			Decision{Allow: true, Reason: ReasonAllowed, PolicyID: "viewer:files:allow", Route: "files"}},
		{"** matches many segments", "PUT", "/files/a/b/c.txt", []string{"viewer"},
			Decision{Allow: true, Reason: ReasonAllowed, PolicyID: "viewer:files:allow", Route: "files"}},
		{"** is segment-bounded", "GET", "/filesX", []string{"viewer"},
			Decision{Reason: ReasonNoMatchingPolicy}},
		{"deny ** at zero segments", "GET", "/files/secret", []string{"viewer", "contractor"},
			Decision{Reason: ReasonDeniedByPolicy, PolicyID: "contractor:files.secret:deny", Route: "files.secret", NeededRoles: []string{"viewer"}}},
		{"deny ** deep", "GET", "/files/secret/a/b", []string{"viewer", "contractor"},
			Decision{Reason: ReasonDeniedByPolicy, PolicyID: "contractor:files.secret:deny", Route: "files.secret", NeededRoles: []string{"viewer"}}},
		{"deny covers its methods only", "PUT", "/files/secret/a", []string{"viewer", "contractor"},
			Decision{Allow: true, Reason: ReasonAllowed, PolicyID: "viewer:files:allow", Route: "files"}},
		{"neighbour of the denied prefix", "GET", "/files/secrets", []string{"viewer", "contractor"},
			Decision{Allow: true, Reason: ReasonAllowed, PolicyID: "viewer:files:allow", Route: "files"}},
		{"no roles still lists who may", "GET", "/reports", nil,
			Decision{Reason: ReasonNoRoles, NeededRoles: []string{"auditor", "viewer"}}},
		{"nobody may", "DELETE", "/reports", []string{"viewer"},
			Decision{Reason: ReasonNoMatchingPolicy}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := decide(t, e, tc.method, tc.path, tc.roles...)
			tc.want.Version = e.Version()
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
			// Same verdict as ladon's own evaluation.
			wantVerdict := verdictDefaultDeny
			switch {
			case got.Allow:
				wantVerdict = verdictAllow
			case got.Reason == ReasonDeniedByPolicy:
				wantVerdict = verdictForcefulDeny
			}
			if v := reference(t, e, tc.method, tc.path, tc.roles); v != wantVerdict {
				t.Errorf("ladon verdict %v, Decide's %v", v, wantVerdict)
			}
		})
	}
}

// TestInvalidRequests: paths that are not canonical are refused before matching. Each case
// that ladon itself would allow shows that the check is what stops it.
func TestInvalidRequests(t *testing.T) {
	e := loadExample(t)
	long := "/customers/" + strings.Repeat("a", maxPathLen)
	tests := []struct {
		name            string
		method, path    string
		ladonWouldAllow bool
	}{
		{"query", "GET", "/customers/1?x=1", true},
		{"fragment", "GET", "/customers/1#top", true},
		{"path parameter", "GET", "/customers/1;jsessionid=x", true},
		{"encoded slash", "GET", "/customers/1%2F..%2Fsettings", true},
		{"encoded slash lower case", "GET", "/customers/1%2f2", true},
		{"encoded backslash", "GET", "/customers/1%5C2", true},
		{"encoded percent", "GET", "/customers/%252F", true},
		{"raw backslash", "GET", "/customers/a\\b", true},
		{"newline", "GET", "/customers/1\n", true},
		{"NUL", "GET", "/customers/1\x00", true},
		{"tab", "GET", "/customers/\t1", true},
		{"space", "GET", "/customers/a b", true},
		{"DEL", "GET", "/customers/a\x7f", true},
		{"non-ASCII", "GET", "/customers/é", true},
		{"dot segment", "GET", "/customers/.", true},
		{"dot-dot segment", "GET", "/customers/..", true},
		{"encoded dot-dot", "GET", "/customers/%2e%2e", true},
		{"encoded unreserved", "GET", "/customers/%41", true},
		{"encoded NUL", "GET", "/customers/a%00", true},
		{"encoded question mark", "GET", "/customers/1%3Fx", true},
		{"encoded fragment marker", "GET", "/customers/1%23x", true},
		{"encoded semicolon", "GET", "/customers/1%3Bx", true},
		{"encoded newline", "GET", "/customers/a%0A", true},
		{"overlong UTF-8 slash", "GET", "/customers/%C0%AF", true},
		{"truncated UTF-8", "GET", "/customers/%C3", true},
		{"bad escape", "GET", "/customers/%zz", true},
		{"short escape", "GET", "/customers/%4", true},
		{"angle brackets", "GET", "/customers/<1>", true},
		{"too long", "GET", long, true},
		{"relative", "GET", "customers", false},
		{"empty", "GET", "", false},
		{"double slash", "GET", "//customers", false},
		{"empty method", "", "/customers", false},
		{"method with space", "GE T", "/customers", false},
		{"method with newline", "GET\n", "/customers", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := reference(t, e, tc.method, tc.path, []string{"administrator"}) == verdictAllow; got != tc.ladonWouldAllow {
				t.Fatalf("ladon allows = %v, the case assumes %v", got, tc.ladonWouldAllow)
			}
			d := decide(t, e, tc.method, tc.path, "administrator")
			want := Decision{Reason: ReasonInvalidRequest, Version: e.Version()}
			if diff := cmp.Diff(want, d); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}

	// Positive controls: canonical paths with the characters canonical form keeps.
	for _, path := range []string{"/customers/a-b_c.d~e", "/customers/a%20b", "/customers/%C3%A9", "/customers/x!$&'()*+,=:@", "/customers/%22%3C%7B"} {
		if d := decide(t, e, "GET", path, "administrator"); !d.Allow {
			t.Errorf("GET %q denied: %+v", path, d)
		}
	}
}

// failingFinder stands in for a policy store that fails, which the memory manager never does.
type failingFinder struct{ err error }

func (f failingFinder) FindRequestCandidates(context.Context, *ladon.Request) (ladon.Policies, error) {
	return nil, f.err
}

// failingMatcher matches like ladon's, except that any resource check on needle fails.
type failingMatcher struct {
	policyMatcher
	needle string
}

func (m failingMatcher) Matches(p ladon.Policy, haystack []string, needle string) (bool, error) {
	if needle == m.needle {
		return false, errors.New("regexp2: match timeout")
	}
	return m.policyMatcher.Matches(p, haystack, needle)
}

// TestCancelledContextNeverAllows: Decide's one way to fail denies, with an error that wraps
// the cause.
func TestCancelledContextNeverAllows(t *testing.T) {
	e := loadExample(t)
	req := Request{Method: "GET", Path: "/customers/1", Roles: []string{"support", "administrator"}}
	if d, err := e.Decide(context.Background(), req); err != nil || !d.Allow {
		t.Fatalf("positive control: %+v, %v", d, err)
	}
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	d, err := e.Decide(cancelled, req)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error %v does not wrap context.Canceled", err)
	}
	if d.Allow || d.Reason != ReasonError || d.PolicyID != "" {
		t.Errorf("decision on error = %+v, want a deny with reason %q", d, ReasonError)
	}
}

// TestBrokenReferenceNeverAllows: the ladon evaluation that Explain and the differential test
// rely on turns each fault into an error and a denying Decision, on requests that are allowed
// when nothing is broken.
func TestBrokenReferenceNeverAllows(t *testing.T) {
	storeDown := errors.New("store down")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		break_  func(e *Engine)
		wantErr error
	}{
		{"candidates fail", context.Background(), func(e *Engine) { e.candidates = failingFinder{storeDown} }, storeDown},
		{"matcher fails", context.Background(), func(e *Engine) { e.matcher = failingMatcher{e.matcher, "/customers/1"} }, nil},
		{"context cancelled", cancelled, func(*Engine) {}, context.Canceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := loadExample(t)
			req := Request{Method: "GET", Path: "/customers/1", Roles: []string{"support", "administrator"}}
			if d, err := e.referenceDecide(context.Background(), req); err != nil || !d.Allow {
				t.Fatalf("positive control: %+v, %v", d, err)
			}
			tc.break_(e)
			d, err := e.referenceDecide(tc.ctx, req)
			if err == nil {
				t.Fatal("referenceDecide returned no error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v does not wrap %v", err, tc.wantErr)
			}
			if d.Allow || d.Reason != ReasonError || d.PolicyID != "" {
				t.Errorf("decision on error = %+v, want a deny with reason %q", d, ReasonError)
			}
			// The index does not use what broke.
			if d, err := e.Decide(context.Background(), req); err != nil || !d.Allow {
				t.Errorf("Decide after the reference broke: %+v, %v", d, err)
			}
		})
	}
}

// TestBrokenReferenceNeededRoles: a fault while listing the needed roles on a deny is an error too.
func TestBrokenReferenceNeededRoles(t *testing.T) {
	e := loadExample(t)
	e.matcher = failingMatcher{e.matcher, "/settings"}
	d, err := e.referenceDecide(context.Background(), Request{Method: "POST", Path: "/settings"})
	if err == nil || d.Allow || d.Reason != ReasonError || d.NeededRoles != nil {
		t.Fatalf("got %+v, %v; want an error and a bare deny", d, err)
	}
}
