package admin

import (
	"bytes"
	"encoding/csv"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate/tollgate/idp/directory"
)

// TestAccessReview: JSON and CSV name every user, their roles with the routes each allows,
// last login and MFA; a formula in a name stays text.
func TestAccessReview(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open)
		acc := e.addUser("acc@example.com", directory.StatusActive, "accountant", "support")
		if err := e.store.RecordLogin(t.Context(), acc.ID, e.clock.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.store.UpdateUser(t.Context(), acc.ID, func(u *directory.User) error {
			u.MFAEnrolled, u.Name = true, "=HYPERLINK(\"http://evil\")"
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		e.addUser("none@example.com", directory.StatusInvited)

		r := e.do(t, req{as: "admin", method: "GET", path: "/review"})
		want(t, r, http.StatusOK)
		var rv review
		r.json(t, &rv)
		if len(rv.Users) != 3 {
			t.Fatalf("%d users in the review", len(rv.Users))
		}
		got := rv.Users[0]
		wantEntry := reviewEntry{ID: acc.ID, Email: "acc@example.com", Name: "=HYPERLINK(\"http://evil\")", Status: "active",
			Roles: []reviewGrant{
				{Role: "accountant", Routes: []string{"home", "invoices.read", "payments.read"}, Defined: true},
				{Role: "support", Routes: []string{"home", "invoices.read"}, Defined: true},
			}, LastLogin: e.clock.Now().Add(-time.Hour), MFAEnrolled: true}
		if diff := cmp.Diff(wantEntry, got); diff != "" {
			t.Errorf("review entry (-want +got):\n%s", diff)
		}

		r = e.do(t, req{as: "admin", method: "GET", path: "/review.csv"})
		want(t, r, http.StatusOK)
		if ct := r.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" || !strings.Contains(r.header.Get("Content-Disposition"), "attachment") {
			t.Errorf("CSV headers %v", r.header)
		}
		rows, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		wantRows := [][]string{
			reviewHeader,
			{acc.ID, "acc@example.com", "'=HYPERLINK(\"http://evil\")", "active", "accountant", "home invoices.read payments.read", e.clock.Now().Add(-time.Hour).Format(time.RFC3339), "yes"},
			{acc.ID, "acc@example.com", "'=HYPERLINK(\"http://evil\")", "active", "support", "home invoices.read", e.clock.Now().Add(-time.Hour).Format(time.RFC3339), "yes"},
			{e.admin.ID, "admin@example.com", "Admin", "active", "administrator", "home invoices.create invoices.read payments.read settings.write", "", "no"},
			{rv.Users[2].ID, "none@example.com", "None", "invited", "", "", "", "no"},
		}
		if diff := cmp.Diff(wantRows, rows); diff != "" {
			t.Errorf("CSV (-want +got):\n%s", diff)
		}
		// The page download is the same file.
		p := e.do(t, req{as: "admin", method: "GET", path: Prefix + "review.csv"})
		want(t, p, http.StatusOK)
		if !bytes.Equal(p.body, r.body) {
			t.Error("the page's CSV differs from the API's")
		}

		r = e.do(t, req{as: "admin", method: "GET", path: "/roles"})
		want(t, r, http.StatusOK)
		var roles struct{ Roles []roleView }
		r.json(t, &roles)
		if len(roles.Roles) != 5 || roles.Roles[0].Name != "accountant" || roles.Roles[0].Description != "Reads the books" {
			t.Errorf("roles %+v", roles.Roles)
		}
	})
}
