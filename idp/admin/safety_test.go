package admin

import (
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/idp/directory"
)

// TestSafetyRules: each rule refuses, and the same change by someone allowed, or on someone
// else, passes (the positive control). Refusals are audited as failures.
func TestSafetyRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open)
		other := e.addUser("other@example.com", directory.StatusActive, "administrator")
		e.signIn("other", other)
		clerk := e.addUser("clerk@example.com", directory.StatusActive, "billing_manager")
		a := "/users/" + e.admin.ID

		type step struct {
			name, as, method, path, body string
			status                       int
			detail                       string
		}
		for _, s := range []step{
			{"own roles refused", "admin", "PATCH", a, `{"roles":["administrator","support"]}`, 403, "You cannot change your own roles"},
			{"own roles removed refused", "admin", "PATCH", a, `{"roles":[]}`, 403, "You cannot change your own roles"},
			{"own name allowed", "admin", "PATCH", a, `{"name":"Ada Admin"}`, 200, ""},
			{"own roles unchanged allowed", "admin", "PATCH", a, `{"roles":["administrator"]}`, 200, ""},
			{"disable self refused", "admin", "POST", a + "/disable", ``, 403, "You cannot disable, enable or delete yourself"},
			{"delete self refused", "admin", "DELETE", a, ``, 403, "You cannot disable, enable or delete yourself"},
			{"erase self refused", "admin", "POST", a + "/erase", ``, 403, "You cannot erase yourself"},
			{"reset own MFA refused", "admin", "POST", a + "/mfa/reset", ``, 403, "You cannot reset your own second factor; ask another administrator"},
			{"SoD on update refused", "admin", "PATCH", "/users/" + clerk.ID, `{"roles":["billing_manager","accountant"]}`, 409,
				"The roles billing_manager and accountant may not be held together (separation of duties)"},
			{"SoD on create refused", "admin", "POST", "/users", `{"email":"x@example.com","name":"X","roles":["accountant","billing_manager"]}`, 409,
				"The roles billing_manager and accountant may not be held together (separation of duties)"},
			{"non-conflicting roles allowed", "admin", "PATCH", "/users/" + clerk.ID, `{"roles":["billing_manager","support"]}`, 200, ""},
			// Another administrator may change the first one's roles: the rule is about self.
			{"other admin changes admin's roles", "other", "PATCH", a, `{"roles":["administrator","support"]}`, 200, ""},
			{"other admin disables admin", "other", "POST", a + "/disable", ``, 200, ""},
			// Now "other" is the last active administrator; nobody else can act as admin.
		} {
			t.Run(s.name, func(t *testing.T) {
				r := e.do(t, req{as: s.as, method: s.method, path: s.path, body: s.body})
				want(t, r, s.status)
				if s.detail != "" {
					if p := r.problem(t); p.Detail != s.detail {
						t.Errorf("detail %q, want %q", p.Detail, s.detail)
					}
				}
			})
		}
		if n := len(e.audit.changes("user.roles")); n < 4 {
			t.Errorf("%d user.roles records; want refusals and changes recorded", n)
		}
		refused := 0
		for _, rec := range e.audit.changes("user.roles") {
			if rec.Event.Outcome == "failure" {
				refused++
				if rec.Event.Reason == "" {
					t.Errorf("refusal without a reason: %+v", rec.Event)
				}
			}
		}
		if refused != 3 {
			t.Errorf("%d refused user.roles records, want 3 (two self changes, one SoD)", refused)
		}
		if n := counterValue(t, e, "tollgate_admin_changes_total", map[string]string{"action": "user.roles", "outcome": "refused"}); n != 3 {
			t.Errorf("tollgate_admin_changes_total{action=user.roles,outcome=refused} = %v, want 3", n)
		}

		// The last administrator: a token of "other" (the only active admin left) acts
		// for them, and cannot disable, demote, delete or erase them either.
		tok := e.token(t, "other", ScopeUsersWrite, ScopePrivacy)
		o := "/users/" + other.ID
		for _, s := range []step{
			{"demote last admin", "", "PATCH", o, `{"roles":["support"]}`, 0, ""},
			{"disable last admin", "", "POST", o + "/disable", ``, 0, ""},
			{"delete last admin", "", "DELETE", o, ``, 0, ""},
			{"erase last admin", "", "POST", o + "/erase", ``, 0, ""},
		} {
			t.Run(s.name+" via own token", func(t *testing.T) {
				r := e.do(t, req{method: s.method, path: s.path, body: s.body, token: tok})
				if r.status != http.StatusForbidden {
					t.Fatalf("status %d, want 403 (a token acts for its creator); body %s", r.status, r.body)
				}
			})
		}
	})
}

// TestLastAdministrator: the handler says so in words the page and API show.
func TestLastAdministrator(t *testing.T) {
	e := newEnv(t, backends[0].open)
	// A second session caller who holds the admin role in their session but whom we make
	// the actor: only admin is an active administrator in the directory.
	helper := e.addUser("helper@example.com", directory.StatusActive, "administrator")
	e.signIn("helper", helper)
	want(t, e.do(t, req{as: "admin", method: "PATCH", path: "/users/" + helper.ID, body: `{"roles":["support"]}`}), http.StatusOK)
	// helper's session still claims the admin role (it was revoked in the store; the gate
	// would refuse it, but here the caller is handed in): the directory no longer agrees.
	c := e.caller("helper")
	c.Roles = []string{"administrator"}
	e.mu.Lock()
	e.callers["helper"] = c
	e.mu.Unlock()
	for _, tc := range []struct {
		method, path, body, detail string
	}{
		{"POST", "/users/" + e.admin.ID + "/disable", ``, "The last administrator cannot be disabled"},
		{"PATCH", "/users/" + e.admin.ID, `{"roles":["support"]}`, "The last administrator cannot be removed from the administrator role"},
		{"DELETE", "/users/" + e.admin.ID, ``, "The last administrator cannot be deleted"},
		{"POST", "/users/" + e.admin.ID + "/erase", ``, "The last administrator cannot be erased"},
	} {
		r := e.do(t, req{as: "helper", method: tc.method, path: tc.path, body: tc.body})
		want(t, r, http.StatusConflict)
		if p := r.problem(t); p.Detail != tc.detail {
			t.Errorf("%s %s: detail %q, want %q", tc.method, tc.path, p.Detail, tc.detail)
		}
	}
	if u := e.userByEmail("admin@example.com"); u.Status != directory.StatusActive || !has(u.Roles, "administrator") {
		t.Errorf("the last administrator changed: %+v", u)
	}
}
