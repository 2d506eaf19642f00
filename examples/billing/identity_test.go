package billing

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWhoami(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    Config
		header http.Header
		want   whoami
	}{
		{
			name: "no headers",
			want: whoami{Roles: []string{}},
		},
		{
			name: "all headers",
			header: http.Header{
				"X-Tollgate-User":  {"u-123"},
				"X-Tollgate-Email": {"ada@example.com"},
				"X-Tollgate-Name":  {"Ada Lovelace"},
				"X-Tollgate-Roles": {"billing_manager, support"},
			},
			want: whoami{User: "u-123", Email: "ada@example.com", Name: "Ada Lovelace",
				Roles: []string{"billing_manager", "support"}},
		},
		{
			name:   "empty roles header",
			header: http.Header{"X-Tollgate-User": {"u-1"}, "X-Tollgate-Roles": {""}},
			want:   whoami{User: "u-1", Roles: []string{}},
		},
		{
			name:   "blank role items dropped",
			header: http.Header{"X-Tollgate-Roles": {" ,accountant,, "}},
			want:   whoami{Roles: []string{"accountant"}},
		},
		{
			name: "repeated headers are reported, not reduced to one",
			header: http.Header{
				"X-Tollgate-User":  {"victim", "attacker"},
				"X-Tollgate-Roles": {"support", "administrator"},
			},
			want: whoami{User: "victim,attacker", Roles: []string{"support", "administrator"}},
		},
		{
			name: "configured header names",
			cfg: Config{UserHeader: "Remote-User", EmailHeader: "Remote-Email",
				NameHeader: "Remote-Name", RolesHeader: "Remote-Groups"},
			header: http.Header{
				"Remote-User":      {"bob"},
				"Remote-Email":     {"bob@example.com"},
				"Remote-Name":      {"Bob"},
				"Remote-Groups":    {"sales_rep"},
				"X-Tollgate-User":  {"ignored"},
				"X-Tollgate-Roles": {"administrator"},
			},
			want: whoami{User: "bob", Email: "bob@example.com", Name: "Bob", Roles: []string{"sales_rep"}},
		},
		{
			// Go's server keeps X_Tollgate_User under its own key; the app does not read it.
			name:   "underscore variant is a different header",
			header: http.Header{"X_tollgate_user": {"spoof"}},
			want:   whoami{Roles: []string{}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = testNow
			w := req{method: "GET", target: "/whoami", header: tc.header}.do(t, New(tc.cfg))
			if w.Code != http.StatusOK {
				t.Fatalf("status %d", w.Code)
			}
			var got whoami
			decodeJSON(t, w, &got)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("whoami (-want +got):\n%s", diff)
			}
		})
	}
}

// Without any roles the JSON must still carry an empty list, never null, so clients can
// iterate it without a nil check.
func TestWhoamiEmptyRolesIsList(t *testing.T) {
	w := req{method: "GET", target: "/whoami"}.do(t, newTestApp())
	if !strings.Contains(w.Body.String(), `"roles":[]`) {
		t.Errorf("body %s lacks \"roles\":[]", w.Body)
	}
}

func TestSignedInBanner(t *testing.T) {
	signedIn := http.Header{
		"X-Tollgate-User":  {"u-9"},
		"X-Tollgate-Email": {"grace@example.com"},
		"X-Tollgate-Name":  {"Grace Hopper"},
		"X-Tollgate-Roles": {"accountant,support"},
		"X-Tollgate-Csrf":  {"tok-abc123"},
	}
	hostile := `"><script>alert(1)</script>`
	for _, tc := range []struct {
		name    string
		cfg     Config
		header  http.Header
		want    []string
		notWant []string
	}{
		{
			name:   "signed in",
			header: signedIn,
			want: []string{
				"Signed in as Grace Hopper (grace@example.com) — accountant, support",
				`<form method="post" action="/_tollgate/logout"><input type="hidden" name="csrf" value="tok-abc123"><button>Sign out</button></form>`,
			},
		},
		{
			name:   "configured logout path and csrf header",
			cfg:    Config{LogoutPath: "/auth/signout", CSRFHeader: "X-Gate-Token"},
			header: http.Header{"X-Tollgate-User": {"u-9"}, "X-Gate-Token": {"t2"}},
			want: []string{
				"Signed in as u-9 — no roles",
				`action="/auth/signout"><input type="hidden" name="csrf" value="t2">`,
			},
		},
		{
			name:    "no user header, no banner",
			header:  http.Header{"X-Tollgate-Csrf": {"tok-abc123"}, "X-Tollgate-Name": {"Grace"}},
			notWant: []string{"Signed in", "Sign out", "/_tollgate/logout"},
		},
		{
			name: "hostile header values are escaped",
			header: http.Header{
				"X-Tollgate-User":  {"u-1"},
				"X-Tollgate-Name":  {hostile},
				"X-Tollgate-Email": {hostile},
				"X-Tollgate-Roles": {hostile},
				"X-Tollgate-Csrf":  {hostile},
			},
			want: []string{
				`name="csrf" value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`,
				"Signed in as &#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
			},
			notWant: []string{"<script>"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Now = testNow
			for _, target := range []string{"/invoices/1003", "/", "/nope"} {
				body := req{method: "GET", target: target, header: tc.header}.do(t, New(tc.cfg)).Body.String()
				for _, s := range tc.want {
					if !strings.Contains(body, s) {
						t.Errorf("%s: body lacks %q:\n%s", target, s, body)
					}
				}
				for _, s := range tc.notWant {
					if strings.Contains(body, s) {
						t.Errorf("%s: body contains %q:\n%s", target, s, body)
					}
				}
			}
		})
	}
}

// The app's own forms carry the gate's CSRF token as well, escaped like everything else, so a
// gate that checks it on upstream POSTs needs nothing from the app.
func TestFormsCarryCSRF(t *testing.T) {
	for _, tc := range []struct {
		target, action string
	}{
		{"/invoices", "/invoices"},
		{"/invoices/1003", "/invoices/1003/edit"},
		{"/invoices/1003", "/invoices/1003/void"},
		{"/payments/2001", "/payments/2001/refund"},
		{"/settings", "/settings"},
	} {
		t.Run(tc.action, func(t *testing.T) {
			h := http.Header{"X-Tollgate-User": {"u"}, "X-Tollgate-Csrf": {`a"b<c`}}
			body := req{method: "GET", target: tc.target, header: h}.do(t, newTestApp()).Body.String()
			want := `<form class="box" method="post" action="` + tc.action + `">
<input type="hidden" name="csrf" value="a&#34;b&lt;c">`
			if !strings.Contains(body, want) {
				t.Errorf("%s lacks\n%s\nbody:\n%s", tc.target, want, body)
			}
		})
	}
}
