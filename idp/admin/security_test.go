package admin

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp/directory"
)

// TestStrictJSON: each malformed body is refused with a 400 (413 for size) that says why,
// and leaves the user unchanged; the well-formed control passes.
func TestStrictJSON(t *testing.T) {
	e := newEnv(t, backends[0].open)
	u := e.addUser("s@example.com", directory.StatusActive, "support")
	path := "/users/" + u.ID
	deep := strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat(`}`, 40)
	for _, tc := range []struct {
		name, body string
		status     int
		detail     string
	}{
		{"unknown field", `{"name":"X","admin":true}`, 400, `unknown field "admin"`},
		{"field in another case", `{"Name":"X"}`, 400, `unknown field "Name"`},
		{"duplicate key", `{"name":"X","name":"Y"}`, 400, `the key "name" appears twice`},
		{"duplicate key nested", `{"roles":["support"],"name":"X","roles":["administrator"]}`, 400, `appears twice`},
		{"invalid UTF-8", "{\"name\":\"\xff\xfe\"}", 400, "not valid UTF-8"},
		{"too large", `{"name":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "larger than 64 KiB"},
		{"deeply nested", `{"name":"X","roles":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`, 400, "nested deeper"},
		{"deeply nested object", `{"name":` + deep + `}`, 400, "nested deeper"},
		{"trailing data", `{"name":"X"} {"name":"Y"}`, 400, "more than one JSON value"},
		{"not an object", `["name"]`, 400, "must be a JSON object"},
		{"wrong type", `{"name":42}`, 400, `field "name"`},
		{"truncated", `{"name":"X"`, 400, "not valid JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, req{as: "admin", method: "PATCH", path: path, body: tc.body})
			want(t, r, tc.status)
			if p := r.problem(t); !strings.Contains(p.Detail, tc.detail) {
				t.Errorf("detail %q, want it to say %q", p.Detail, tc.detail)
			}
		})
	}
	if got := e.userByEmail("s@example.com"); got.Name != u.Name {
		t.Fatalf("a refused body changed the user: %q", got.Name)
	}
	want(t, e.do(t, req{as: "admin", method: "PATCH", path: path, body: `{"name":"Sue"}`}), http.StatusOK)
	// An action endpoint takes nothing or {}, and nothing else.
	want(t, e.do(t, req{as: "admin", method: "POST", path: path + "/disable", body: `{"force":true}`}), http.StatusBadRequest)
}

// TestCSRF: a browser session's change needs application/json and the session's CSRF token;
// a read needs neither. Token callers need neither.
func TestCSRF(t *testing.T) {
	e := newEnv(t, backends[0].open)
	u := e.addUser("c@example.com", directory.StatusActive, "support")
	path := "/users/" + u.ID
	body := `{"name":"Changed"}`
	for _, tc := range []struct {
		name        string
		contentType *string
		csrf        *string
		body        string
		status      int
	}{
		{"missing token", nil, strp(""), body, 403},
		{"wrong token", nil, strp("csrf-other"), body, 403},
		{"token of another session", nil, strp("csrf-admin2"), body, 403},
		{"form content type", strp("application/x-www-form-urlencoded"), nil, "name=Changed", 415},
		{"text/plain (a simple cross-site request)", strp("text/plain"), nil, body, 415},
		{"no content type", strp(""), nil, body, 415},
		{"json with another charset", strp("application/json; charset=latin1"), nil, body, 415},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(t, req{as: "admin", method: "PATCH", path: path, body: tc.body, contentType: tc.contentType, csrf: tc.csrf})
			want(t, r, tc.status)
			r.problem(t)
		})
	}
	if got := e.userByEmail("c@example.com"); got.Name != u.Name {
		t.Fatal("a request without CSRF proof changed the user")
	}
	// Body-less changes too.
	want(t, e.do(t, req{as: "admin", method: "POST", path: path + "/disable", csrf: strp("")}), http.StatusForbidden)
	want(t, e.do(t, req{as: "admin", method: "DELETE", path: path, contentType: strp("")}), http.StatusUnsupportedMediaType)
	// Positive controls.
	want(t, e.do(t, req{as: "admin", method: "PATCH", path: path, body: body}), http.StatusOK)
	want(t, e.do(t, req{as: "admin", method: "GET", path: path, csrf: strp("")}), http.StatusOK)
	want(t, e.do(t, req{as: "admin", method: "PATCH", path: path, body: body, contentType: strp("application/json; charset=utf-8")}), http.StatusOK)
}

// TestPageCSRF: page forms need the form content type and the csrf field.
func TestPageCSRF(t *testing.T) {
	e := newEnv(t, backends[0].open)
	u := e.addUser("p@example.com", directory.StatusActive, "support")
	post := func(form url.Values, contentType string, hdr map[string]string) resp {
		h := map[string]string{}
		for k, v := range hdr {
			h[k] = v
		}
		return e.do(t, req{as: "admin", method: "POST", path: Prefix + "users/" + u.ID + "/disable", body: form.Encode(),
			contentType: &contentType, csrf: strp(""), header: h})
	}
	form := "application/x-www-form-urlencoded"
	want(t, post(url.Values{}, form, nil), http.StatusForbidden)
	want(t, post(url.Values{"csrf": {"wrong"}}, form, nil), http.StatusForbidden)
	want(t, post(url.Values{"csrf": {"csrf-admin"}}, "text/plain", nil), http.StatusUnsupportedMediaType)
	want(t, post(url.Values{"csrf": {"csrf-admin"}}, form, map[string]string{"Sec-Fetch-Site": "cross-site"}), http.StatusForbidden)
	if e.userByEmail("p@example.com").Status != directory.StatusActive {
		t.Fatal("a refused form changed the user")
	}
	r := post(url.Values{"csrf": {"csrf-admin"}}, form, nil)
	// The test client follows the 303 to the user's page.
	want(t, r, http.StatusOK)
	if e.userByEmail("p@example.com").Status != directory.StatusDisabled {
		t.Fatal("the form with the right token did not disable the user")
	}
	if !strings.Contains(string(r.body), notices["disable"]) {
		t.Errorf("the page after the redirect does not confirm: %s", r.body)
	}
}

// TestCallers: who may call at all.
func TestCallers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open)
		clerk := e.addUser("clerk@example.com", directory.StatusActive, "billing_manager")
		e.signIn("clerk", clerk)
		gone := e.addUser("gone@example.com", directory.StatusDisabled, "administrator")
		e.signIn("gone", gone)
		e.signIn("stranger", directory.User{Email: "x@example.com", Roles: []string{"administrator"}}) // not in the directory
		stale := e.signIn("stale", e.admin)
		stale.MFAAt = e.clock.Now().Add(-61 * time.Minute)
		nomfa := e.signIn("nomfa", e.admin)
		nomfa.MFAAt = time.Time{}
		fresh := e.signIn("fresh", e.admin)
		fresh.MFAAt = e.clock.Now().Add(-59 * time.Minute)

		for _, tc := range []struct {
			as     string
			status int
			detail string
		}{
			{"", 401, ""},
			{"clerk", 403, "the administrator role is required"},
			{"gone", 403, "your account is disabled"},
			{"stranger", 403, "administration needs an account in the user directory"},
			{"stale", 403, StepUpDetail},
			{"nomfa", 403, StepUpDetail},
			{"fresh", 200, ""},
		} {
			t.Run("api as "+tc.as, func(t *testing.T) {
				r := e.do(t, req{as: tc.as, method: "GET", path: "/users"})
				want(t, r, tc.status)
				if tc.status >= 400 {
					if p := r.problem(t); tc.detail != "" && p.Detail != tc.detail {
						t.Errorf("detail %q, want %q", p.Detail, tc.detail)
					}
				}
			})
			t.Run("page as "+tc.as, func(t *testing.T) {
				r := e.do(t, req{as: tc.as, method: "GET", path: Prefix})
				wantStatus := tc.status
				if wantStatus == 401 {
					wantStatus = 403 // pages answer a page, not a token prompt
				}
				want(t, r, wantStatus)
				if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
					t.Errorf("page Content-Type %q", ct)
				}
				if csp := r.header.Get("Content-Security-Policy"); csp != pageCSP {
					t.Errorf("CSP %q", csp)
				}
			})
		}
		want(t, e.do(t, req{as: "admin", method: "GET", path: "/nope"}), http.StatusNotFound)
		want(t, e.do(t, req{as: "admin", method: "PUT", path: "/users"}), http.StatusMethodNotAllowed)
		want(t, e.do(t, req{as: "admin", method: "GET", path: Prefix + "nope"}), http.StatusNotFound)
	})
}
