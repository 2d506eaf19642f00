package admin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/session"
)

// TestRevocation: every change that takes something away ends all of the person's sessions
// in the shared session store; changes that do not (a rename, enabling) leave them.
func TestRevocation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open)
		bystander := e.addUser("by@example.com", directory.StatusActive, "support")
		e.openSessions(bystander, 1)
		for i, tc := range []struct {
			name, method, suffix, body string
			status                     int
			revokes                    bool
		}{
			{"rename keeps sessions", "PATCH", "", `{"name":"New Name"}`, 200, false},
			{"role removal", "PATCH", "", `{"roles":[]}`, 200, true},
			{"role addition", "PATCH", "", `{"roles":["support","sales_rep"]}`, 200, true},
			{"disable", "POST", "/disable", ``, 200, true},
			{"MFA reset", "POST", "/mfa/reset", ``, 200, true},
			{"revoke all", "DELETE", "/sessions", ``, 200, true},
			{"delete", "DELETE", "", ``, 204, true},
			{"erase", "POST", "/erase", ``, 200, true},
		} {
			t.Run(tc.name, func(t *testing.T) {
				u := e.addUser(fmt.Sprintf("u%d@example.com", i), directory.StatusActive, "support")
				e.openSessions(u, 3)
				if n := e.liveSessions(u); n != 3 {
					t.Fatalf("%d sessions before", n)
				}
				want(t, e.do(t, req{as: "admin", method: tc.method, path: "/users/" + u.ID + tc.suffix, body: tc.body}), tc.status)
				n := e.liveSessions(u)
				if tc.revokes && n != 0 {
					t.Errorf("%d sessions left, want none", n)
				}
				if !tc.revokes && n != 3 {
					t.Errorf("%d sessions left, want all 3", n)
				}
			})
		}
		if e.liveSessions(bystander) != 1 {
			t.Error("another user's session was ended")
		}

		// One session: listed, then revoked by id; someone else's id does nothing.
		u := e.addUser("one@example.com", directory.StatusActive, "support")
		e.openSessions(u, 2)
		r := e.do(t, req{as: "admin", method: "GET", path: "/users/" + u.ID + "/sessions"})
		want(t, r, http.StatusOK)
		var ls struct{ Sessions []sessionView }
		r.json(t, &ls)
		if len(ls.Sessions) != 2 {
			t.Fatalf("listed %d sessions", len(ls.Sessions))
		}
		want(t, e.do(t, req{as: "admin", method: "DELETE", path: "/users/" + bystander.ID + "/sessions/" + ls.Sessions[0].ID}), http.StatusNotFound)
		want(t, e.do(t, req{as: "admin", method: "DELETE", path: "/users/" + u.ID + "/sessions/" + ls.Sessions[0].ID}), http.StatusNoContent)
		if e.liveSessions(u) != 1 {
			t.Errorf("%d sessions after revoking one", e.liveSessions(u))
		}
		want(t, e.do(t, req{as: "admin", method: "DELETE", path: "/users/" + u.ID + "/sessions/" + ls.Sessions[0].ID}), http.StatusNotFound)
		if len(e.audit.changes("session.revoke")) != 1 || len(e.audit.changes("sessions.revoke")) != 1 {
			t.Error("revocations not audited")
		}
	})
}

// brokenSessions is a session store that cannot be reached.
type brokenSessions struct{}

func (brokenSessions) DeleteUser(context.Context, string) (int, error) {
	return 0, errors.New("connection refused")
}
func (brokenSessions) ListUser(context.Context, string) ([]session.Info, error) {
	return nil, errors.New("connection refused")
}
func (brokenSessions) DeleteByID(context.Context, string, string) error {
	return errors.New("connection refused")
}

// TestRevocationFailureIsReported: when the session store does not answer, the disable is
// saved and audited, and the administrator is told that sessions may still be open.
func TestRevocationFailureIsReported(t *testing.T) {
	e := newEnv(t, backends[0].open)
	e.h.sessions = brokenSessions{}
	u := e.addUser("x@example.com", directory.StatusActive, "support")
	r := e.do(t, req{as: "admin", method: "POST", path: "/users/" + u.ID + "/disable"})
	want(t, r, http.StatusServiceUnavailable)
	if p := r.problem(t); p.Detail != errRevokeAfter.Error() {
		t.Errorf("detail %q", p.Detail)
	}
	if e.userByEmail("x@example.com").Status != directory.StatusDisabled || len(e.audit.changes("user.disable")) != 1 {
		t.Error("the disable itself must be saved and audited")
	}
}

// TestAuditFailureIsReported: a change the trail cannot take is reported as an error.
func TestAuditFailureIsReported(t *testing.T) {
	e := newEnv(t, backends[0].open)
	u := e.addUser("x@example.com", directory.StatusActive, "support")
	e.audit.broken = true
	r := e.do(t, req{as: "admin", method: "PATCH", path: "/users/" + u.ID, body: `{"name":"Y"}`})
	want(t, r, http.StatusInternalServerError)
	if p := r.problem(t); p.Title != "Audit trail unavailable" {
		t.Errorf("problem %+v", p)
	}
}
