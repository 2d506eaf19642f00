package policy

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestExplain(t *testing.T) {
	e, err := Load("testdata/conditions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	r := Request{Method: "POST", Path: "/settings", Roles: []string{"admin", "intern"},
		ClientIP: mustAddr("192.168.1.9"), Now: testNow, MFAAt: testNow.Add(-20 * time.Minute)}
	x, err := e.Explain(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	want := Explanation{
		Decision: Decision{Reason: ReasonDeniedByPolicy, PolicyID: "no-settings-from-guest-wifi", Route: "ladon:no-settings-from-guest-wifi", Version: e.Version()},
		Matches: []Match{
			{PolicyID: "admin:settings:allow", Route: "settings", Effect: "allow", Role: "admin", Conditions: []ConditionResult{
				{"source", "10.0.0.0/8 or 2001:db8::/32", false}, {"mfa_within", "15m0s", false}}},
			{PolicyID: "no-settings-from-guest-wifi", Route: "ladon:no-settings-from-guest-wifi", Effect: "deny", Role: "admin",
				Conditions: []ConditionResult{{"source", "192.168.0.0/16", true}}, Applies: true},
			{PolicyID: "no-settings-from-guest-wifi", Route: "ladon:no-settings-from-guest-wifi", Effect: "deny", Role: "intern",
				Conditions: []ConditionResult{{"source", "192.168.0.0/16", true}}, Applies: true},
		},
	}
	want.Reference = want.Decision
	if diff := cmp.Diff(want, x, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("explanation (-want +got):\n%s", diff)
	}
}

func TestCovers(t *testing.T) {
	e, err := Load("testdata/conditions.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		method, path string
		want         []string
	}{
		{"GET", "/reports/payroll", []string{"ladon:audit-reports-and-csv", "ladon:no-contractor-payroll", "reports.payroll", "reports.read"}},
		{"POST", "/settings", []string{"ladon:no-settings-from-guest-wifi", "settings"}},
		{"PATCH", "/customers/export.csv", []string{"ladon:customers-export"}},
		{"DELETE", "/reports", nil},
		{"GET", "/nowhere", nil},
		{"GET", "/reports?x=1", nil},
	}
	for _, tc := range tests {
		if diff := cmp.Diff(tc.want, e.Covers(tc.method, tc.path), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Covers(%s %s) (-want +got):\n%s", tc.method, tc.path, diff)
		}
	}
}
