package proxy_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp/admin"
	"github.com/tollgate/tollgate/idp/directory"
)

// apiToken creates an admin API token in the directory on behalf of the seeded administrator.
func (e *env) apiToken(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	adm, err := e.directory.GetUserByEmail(ctx, "admin@example.com")
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := e.directory.CreateAPIToken(ctx, directory.APIToken{Name: "test", Scopes: admin.AllScopes,
		ExpiresAt: time.Now().Add(time.Hour), CreatedBy: adm.ID})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func (e *env) userID(t *testing.T, email string) string {
	t.Helper()
	u, err := e.directory.GetUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u.ID
}

// Disabling a user, changing their roles or revoking their sessions on one replica takes effect
// on their very next request on every replica.
func TestRevocationReachesEveryReplicaAtOnce(t *testing.T) {
	e := newEnv(t, envOpts{backend: "redis", directory: "postgres"})
	gateB := e.replica(t)
	token := e.apiToken(t)
	call := func(base, method, path, body string) *http.Response {
		hdr := http.Header{"Authorization": {"Bearer " + token}, "Accept": {"application/json"}}
		if body != "" {
			hdr.Set("Content-Type", "application/json")
		}
		return do(t, e.client(t), method, base+admin.APIPrefix+path, hdr, strings.NewReader(body))
	}
	for _, tc := range []struct {
		name, user, method, path, body string
	}{
		{"disable", "sales", "POST", "/users/{id}/disable", ""},
		{"remove a role", "manager", "PATCH", "/users/{id}", `{"roles":[]}`},
		{"revoke sessions", "support", "DELETE", "/users/{id}/sessions", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := e.login(t, tc.user, "/")
			// Positive control: the session works on both replicas.
			for _, base := range []string{e.gateURL, gateB} {
				if r := get(t, c, base+"/invoices"); r.StatusCode != http.StatusOK {
					t.Fatalf("before: GET /invoices on %s: %d", base, r.StatusCode)
				}
			}
			path := strings.ReplaceAll(tc.path, "{id}", e.userID(t, tc.user+"@example.com"))
			if r := call(gateB, tc.method, path, tc.body); r.StatusCode >= 300 {
				t.Fatalf("admin %s on replica B: %d %s", tc.name, r.StatusCode, readBody(t, r))
			}
			before := e.app.count()
			for _, base := range []string{e.gateURL, gateB} {
				if r := get(t, c, base+"/invoices"); r.StatusCode != http.StatusFound {
					t.Errorf("after %s: GET /invoices on %s: %d, want the login redirect", tc.name, base, r.StatusCode)
				}
			}
			if e.app.count() != before {
				t.Error("the app was reached after the revocation")
			}
		})
	}
	// A disabled person cannot sign in again; a person whose roles were removed can, with none.
	if _, r := e.login(t, "sales", "/"); r.StatusCode != http.StatusForbidden || !strings.Contains(readBody(t, r), "disabled") {
		t.Errorf("disabled user signing in: %d", r.StatusCode)
	}
	if _, r := e.login(t, "manager", "/invoices"); r.StatusCode != http.StatusForbidden || !strings.Contains(readBody(t, r), "No access yet") {
		t.Errorf("user without roles signing in: %d", r.StatusCode)
	}
}
