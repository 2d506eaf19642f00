package admin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/idp/directory"
)

// TestUserLifecycle walks every user endpoint once, on both stores: add (invite), read,
// list with filters and paging, rename, change roles, disable, enable, reset MFA, invite
// again, delete — and checks the store and the audit trail after each change.
func TestUserLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open)

		r := e.do(t, req{as: "admin", method: "POST", path: "/users", body: `{"email":"Sam@Example.com","name":"Sam Sales","roles":["sales_rep"]}`})
		want(t, r, http.StatusCreated)
		var created createdUser
		r.json(t, &created)
		if created.User.Email != "sam@example.com" || created.User.Status != "invited" || !cmp.Equal(created.User.Roles, []string{"sales_rep"}) {
			t.Fatalf("created %+v", created.User)
		}
		if created.User.InvitedBy != e.admin.ID {
			t.Errorf("invited_by %q, want the admin %q", created.User.InvitedBy, e.admin.ID)
		}
		if !strings.HasPrefix(created.Invitation.Link, "https://billing.example.com/_tollgate/invite?token=inv_") || created.Invitation.Emailed {
			t.Errorf("invitation %+v", created.Invitation)
		}
		if got := r.header.Get("Location"); got != APIPrefix+"/users/"+created.User.ID {
			t.Errorf("Location %q", got)
		}
		id := created.User.ID

		r = e.do(t, req{as: "admin", method: "GET", path: "/users/" + id})
		want(t, r, http.StatusOK)
		var got userView
		r.json(t, &got)
		if diff := cmp.Diff(created.User, got); diff != "" {
			t.Errorf("GET differs from POST (-post +get):\n%s", diff)
		}

		// Filters and paging.
		e.addUser("acc@example.com", directory.StatusActive, "accountant")
		e.addUser("old@example.com", directory.StatusDisabled, "support")
		for _, tc := range []struct {
			query string
			want  []string
		}{
			{"", []string{"acc@example.com", "admin@example.com", "old@example.com", "sam@example.com"}},
			{"role=accountant", []string{"acc@example.com"}},
			{"status=invited", []string{"sam@example.com"}},
			{"status=disabled&role=support", []string{"old@example.com"}},
			{"q=SALES", []string{"sam@example.com"}},
			{"inactive_since=" + url.QueryEscape(e.clock.Now().Add(time.Minute).Format(time.RFC3339)), []string{"acc@example.com", "admin@example.com", "old@example.com", "sam@example.com"}},
			{"inactive_since=" + url.QueryEscape(e.clock.Now().Add(-time.Minute).Format(time.RFC3339)), nil},
		} {
			t.Run("list "+tc.query, func(t *testing.T) {
				r := e.do(t, req{as: "admin", method: "GET", path: "/users?" + tc.query})
				want(t, r, http.StatusOK)
				var l userList
				r.json(t, &l)
				var emails []string
				for _, u := range l.Users {
					emails = append(emails, u.Email)
				}
				if diff := cmp.Diff(tc.want, emails); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
		var all []string
		cursor := ""
		for page := 0; page < 5; page++ {
			r := e.do(t, req{as: "admin", method: "GET", path: "/users?limit=3&cursor=" + url.QueryEscape(cursor)})
			want(t, r, http.StatusOK)
			var l userList
			r.json(t, &l)
			for _, u := range l.Users {
				all = append(all, u.Email)
			}
			if cursor = l.NextCursor; cursor == "" {
				break
			}
		}
		if len(all) != 4 {
			t.Errorf("paged listing %v, want 4 users once each", all)
		}
		for _, bad := range []string{"limit=0", "limit=x", "status=gone", "inactive_since=yesterday", "cursor=!!"} {
			want(t, e.do(t, req{as: "admin", method: "GET", path: "/users?" + bad}), http.StatusBadRequest)
		}

		r = e.do(t, req{as: "admin", method: "PATCH", path: "/users/" + id, body: `{"name":"Samantha Sales","roles":["support","sales_rep"]}`})
		want(t, r, http.StatusOK)
		r.json(t, &got)
		if got.Name != "Samantha Sales" || !cmp.Equal(got.Roles, []string{"sales_rep", "support"}) {
			t.Errorf("after PATCH %+v", got)
		}
		rec := e.audit.changes("user.roles")
		if len(rec) != 1 {
			t.Fatalf("%d user.roles records, want 1", len(rec))
		}
		if b, a := rec[0].Change.Before.(userView), rec[0].Change.After.(userView); !cmp.Equal(b.Roles, []string{"sales_rep"}) ||
			!cmp.Equal(a.Roles, []string{"sales_rep", "support"}) || rec[0].Change.Target != id {
			t.Errorf("audit before %+v after %+v", b, a)
		}
		if rec[0].Event.Category != "iam" || rec[0].Event.Action != "admin_change" || rec[0].User.Email != "admin@example.com" ||
			rec[0].Session.ID != "sess-admin" || rec[0].HTTP.Request.ID != "req-admin" {
			t.Errorf("audit record %+v", rec[0])
		}

		// An invited user cannot be enabled; disabling cancels them.
		want(t, e.do(t, req{as: "admin", method: "POST", path: "/users/" + id + "/enable"}), http.StatusConflict)
		r = e.do(t, req{as: "admin", method: "POST", path: "/users/" + id + "/disable"})
		want(t, r, http.StatusOK)
		r.json(t, &got)
		if got.Status != "disabled" {
			t.Errorf("status %q after disable", got.Status)
		}
		r = e.do(t, req{as: "admin", method: "POST", path: "/users/" + id + "/enable", body: `{}`})
		want(t, r, http.StatusOK)
		r.json(t, &got)
		if got.Status != "active" {
			t.Errorf("status %q after enable", got.Status)
		}
		// A new invitation is only for invited users.
		want(t, e.do(t, req{as: "admin", method: "POST", path: "/users/" + id + "/invitation"}), http.StatusConflict)

		// MFA reset removes every secret and recovery code.
		if err := e.store.PutSecret(t.Context(), id, "totp", []byte("sealed")); err != nil {
			t.Fatal(err)
		}
		if err := e.store.PutRecoveryCodes(t.Context(), id, []string{"h1", "h2"}); err != nil {
			t.Fatal(err)
		}
		want(t, e.do(t, req{as: "admin", method: "POST", path: "/users/" + id + "/mfa/reset"}), http.StatusOK)
		x, err := e.store.ExportUser(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(x.Secrets) != 0 || x.RecoveryCodes != 0 || x.User.MFAEnrolled {
			t.Errorf("after MFA reset: %+v", x)
		}

		want(t, e.do(t, req{as: "admin", method: "DELETE", path: "/users/" + id}), http.StatusNoContent)
		want(t, e.do(t, req{as: "admin", method: "GET", path: "/users/" + id}), http.StatusNotFound)
		want(t, e.do(t, req{as: "admin", method: "DELETE", path: "/users/" + id}), http.StatusNotFound)
		for _, action := range []string{"user.create", "user.invite", "user.update", "user.disable", "user.enable", "user.mfa_reset", "user.delete"} {
			if action == "user.update" {
				continue // the PATCH above changed roles too, so it is recorded as user.roles
			}
			if n := len(e.audit.changes(action)); n != 1 {
				t.Errorf("%d audit records of %s, want 1", n, action)
			}
		}
	})
}

// TestCreateUserRefusals: what a new user may not be.
func TestCreateUserRefusals(t *testing.T) {
	e := newEnv(t, backends[0].open)
	for _, tc := range []struct {
		name, body string
		status     int
	}{
		{"no email", `{"email":"","name":"X"}`, http.StatusBadRequest},
		{"not an email", `{"email":"nobody","name":"X"}`, http.StatusBadRequest},
		{"unknown role", `{"email":"a@example.com","name":"A","roles":["root"]}`, http.StatusBadRequest},
		{"taken email", `{"email":"ADMIN@example.com","name":"A"}`, http.StatusConflict},
		{"control character in name", `{"email":"b@example.com","name":"B\u0007"}`, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, req{as: "admin", method: "POST", path: "/users", body: tc.body})
			want(t, r, tc.status)
			r.problem(t)
		})
	}
	// Positive control: the same shape, valid, is accepted.
	want(t, e.do(t, req{as: "admin", method: "POST", path: "/users", body: `{"email":"a@example.com","name":"A","roles":["support"]}`}), http.StatusCreated)
}
