package policy

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// TestExampleMatrix checks examples/policy.yaml cell by cell against the access matrix of the
// billing organisation. Every role is tried on every request; only the listed roles may pass.
func TestExampleMatrix(t *testing.T) {
	e := loadExample(t)
	all := []string{"administrator", "billing_manager", "sales_rep", "accountant", "support"}
	if diff := cmp.Diff(slices.Sorted(slices.Values(all)), e.Roles()); diff != "" {
		t.Fatalf("roles (-want +got):\n%s", diff)
	}
	everyone := all
	tests := []struct {
		method, path string
		route        string
		allowed      []string
	}{
		{"GET", "/", "home", everyone},
		{"GET", "/whoami", "home", everyone},
		{"GET", "/customers", "customers.read", everyone},
		{"GET", "/customers/17", "customers.read", everyone},
		{"GET", "/invoices", "invoices.read", everyone},
		{"GET", "/invoices/INV-2024-001", "invoices.read", everyone},
		{"POST", "/invoices", "invoices.create", []string{"administrator", "billing_manager", "sales_rep"}},
		{"POST", "/invoices/7/edit", "invoices.edit", []string{"administrator", "billing_manager"}},
		{"POST", "/invoices/7/void", "invoices.void", []string{"administrator", "billing_manager"}},
		{"GET", "/payments", "payments.read", []string{"administrator", "billing_manager", "accountant", "support"}},
		{"GET", "/payments/p-9", "payments.read", []string{"administrator", "billing_manager", "accountant", "support"}},
		{"POST", "/payments/p-9/refund", "payments.refund", []string{"administrator", "billing_manager"}},
		{"GET", "/reports", "reports.read", []string{"administrator", "billing_manager", "accountant"}},
		{"GET", "/reports/receivables", "reports.read", []string{"administrator", "billing_manager", "accountant"}},
		{"GET", "/settings", "settings.read", []string{"administrator"}},
		{"POST", "/settings", "settings.write", []string{"administrator"}},
		// The same paths with a method the matrix does not grant: denied to everyone.
		{"POST", "/", "", nil},
		{"POST", "/whoami", "", nil},
		{"POST", "/customers", "", nil},
		{"POST", "/customers/17", "", nil},
		{"GET", "/invoices/7/edit", "", nil},
		{"GET", "/invoices/7/void", "", nil},
		{"POST", "/invoices/7", "", nil},
		{"POST", "/payments", "", nil},
		{"GET", "/payments/p-9/refund", "", nil},
		{"POST", "/reports", "", nil},
		{"PUT", "/settings", "", nil},
		{"DELETE", "/invoices/7", "", nil},
		{"PATCH", "/customers/17", "", nil},
		// Paths the app does not have: denied to everyone, administrator included.
		{"GET", "/admin", "", nil},
		{"GET", "/users", "", nil},
		{"GET", "/settings/advanced", "", nil},
		{"GET", "/exports", "", nil},
	}
	for _, tc := range tests {
		for _, role := range all {
			want := slices.Contains(tc.allowed, role)
			t.Run(tc.method+" "+tc.path+" as "+role, func(t *testing.T) {
				d := decide(t, e, tc.method, tc.path, role)
				if d.Allow != want {
					t.Fatalf("Allow = %v, want %v (decision %+v)", d.Allow, want, d)
				}
				if want {
					if wantID := role + ":" + tc.route + ":allow"; d.PolicyID != wantID || d.Reason != ReasonAllowed {
						t.Errorf("got reason %q policy %q, want %q %q", d.Reason, d.PolicyID, ReasonAllowed, wantID)
					}
					if d.NeededRoles != nil {
						t.Errorf("NeededRoles = %v on an allow, want none", d.NeededRoles)
					}
					return
				}
				if d.Reason != ReasonNoMatchingPolicy || d.PolicyID != "" {
					t.Errorf("got reason %q policy %q, want %q with no policy", d.Reason, d.PolicyID, ReasonNoMatchingPolicy)
				}
				// Exactly the allowed roles, sorted.
				if diff := cmp.Diff(slices.Sorted(slices.Values(tc.allowed)), d.NeededRoles, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("NeededRoles (-want +got):\n%s", diff)
				}
			})
		}
	}
}

func TestExampleRoleInfo(t *testing.T) {
	e := loadExample(t)
	desc, routes, ok := e.RoleInfo("sales_rep")
	if !ok {
		t.Fatal("RoleInfo(sales_rep) not found")
	}
	if !strings.Contains(desc, "Customers") || strings.Contains(desc, "\n") {
		t.Errorf("description = %q, want one line about customers", desc)
	}
	want := []string{"customers.read", "home", "invoices.create", "invoices.read"}
	if diff := cmp.Diff(want, routes); diff != "" {
		t.Errorf("routes (-want +got):\n%s", diff)
	}
	routes[0] = "changed"
	if _, again, _ := e.RoleInfo("sales_rep"); again[0] != "customers.read" {
		t.Errorf("RoleInfo returned the engine's own slice: a caller changed it to %v", again)
	}
	for _, role := range e.Roles() {
		if desc, _, _ := e.RoleInfo(role); desc == "" {
			t.Errorf("role %s has no description", role)
		}
	}
	if _, _, ok := e.RoleInfo("intern"); ok {
		t.Error("RoleInfo(intern) ok, want not found")
	}
}
