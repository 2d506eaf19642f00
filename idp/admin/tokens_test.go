package admin

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/idp/directory"
)

// token creates an API token as the named session caller and returns its secret.
func (e *env) token(t *testing.T, as string, scopes ...string) string {
	t.Helper()
	r := e.do(t, req{as: as, method: "POST", path: "/tokens", body: `{"name":"ci","scopes":["` + strings.Join(scopes, `","`) + `"]}`})
	want(t, r, http.StatusCreated)
	var ct createdToken
	r.json(t, &ct)
	return ct.Token
}

// TestTokenScopes: each scope opens its endpoints and no others.
func TestTokenScopes(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open)
		target := e.addUser("t@example.com", directory.StatusActive, "support")
		id := target.ID
		endpoints := []struct {
			method, path, body, scope string
			ok                        int
		}{
			{"GET", "/users", "", ScopeUsersRead, 200},
			{"GET", "/users/" + id, "", ScopeUsersRead, 200},
			{"GET", "/roles", "", ScopeUsersRead, 200},
			{"GET", "/users/" + id + "/sessions", "", ScopeUsersRead, 200},
			{"PATCH", "/users/" + id, `{"name":"T"}`, ScopeUsersWrite, 200},
			{"POST", "/users", `{"email":"n@example.com","name":"N"}`, ScopeUsersWrite, 201},
			{"DELETE", "/users/" + id + "/sessions", "", ScopeSessionsWrite, 200},
			{"GET", "/review", "", ScopeReviewRead, 200},
			{"GET", "/review.csv", "", ScopeReviewRead, 200},
			{"GET", "/tokens", "", ScopeTokensWrite, 200},
			{"GET", "/users/" + id + "/export", "", ScopePrivacy, 200},
		}
		for _, scope := range AllScopes {
			tok := e.token(t, "admin", scope)
			for _, ep := range endpoints {
				r := e.do(t, req{method: ep.method, path: ep.path, body: ep.body, token: tok})
				switch {
				case ep.scope == scope && r.status != ep.ok:
					t.Errorf("scope %s: %s %s = %d, want %d: %s", scope, ep.method, ep.path, r.status, ep.ok, r.body)
				case ep.scope != scope && r.status != http.StatusForbidden:
					t.Errorf("scope %s: %s %s = %d, want 403", scope, ep.method, ep.path, r.status)
				case ep.scope != scope:
					if p := r.problem(t); p.Detail != "this API token lacks the scope "+ep.scope {
						t.Errorf("detail %q", p.Detail)
					}
				}
			}
		}
		// A token cannot mint a stronger one, but may mint one within its scopes.
		minter := e.token(t, "admin", ScopeTokensWrite, ScopeUsersRead)
		want(t, e.do(t, req{method: "POST", path: "/tokens", token: minter, body: `{"name":"x","scopes":["users:write"]}`}), http.StatusForbidden)
		want(t, e.do(t, req{method: "POST", path: "/tokens", token: minter, body: `{"name":"x","scopes":["users:read"]}`}), http.StatusCreated)
		// Changes with a token need no CSRF header (a browser never sends it by itself).
		w := e.token(t, "admin", ScopeUsersWrite)
		want(t, e.do(t, req{method: "POST", path: "/users/" + id + "/disable", token: w}), http.StatusOK)
		recs := e.audit.changes("user.disable")
		if len(recs) != 1 || !strings.HasPrefix(recs[0].User.ID, "tok_") || !strings.Contains(recs[0].User.Name, "admin@example.com") {
			t.Errorf("a token's change names the token and its creator: %+v", recs)
		}
	})
}

// TestTokenLifecycle: created once (the secret is in no later answer), stored hashed,
// expiring, revocable, and dead with its creator's authority.
func TestTokenLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open func(*testing.T, directory.StoreOptions) *directory.SQLStore) {
		e := newEnv(t, open)
		r := e.do(t, req{as: "admin", method: "POST", path: "/tokens",
			body: `{"name":"nightly","scopes":["users:read"],"expires_at":"` + e.clock.Now().Add(48*time.Hour).Format(time.RFC3339) + `"}`})
		want(t, r, http.StatusCreated)
		var ct createdToken
		r.json(t, &ct)
		if !strings.HasPrefix(ct.Token, "tgt_") || ct.APIToken.CreatedBy != e.admin.ID {
			t.Fatalf("created %+v", ct)
		}
		want(t, e.do(t, req{method: "GET", path: "/users", token: ct.Token}), http.StatusOK)
		list := e.do(t, req{as: "admin", method: "GET", path: "/tokens"})
		want(t, list, http.StatusOK)
		if strings.Contains(string(list.body), ct.Token) || strings.Contains(string(list.body), ct.Token[4:]) {
			t.Errorf("the token list shows the secret")
		}
		for _, rec := range e.audit.changes("token.create") {
			if strings.Contains(strings.ToLower(strings.Join([]string{rec.Change.Target}, "")), ct.Token) {
				t.Errorf("audit holds the secret")
			}
		}

		// Expired.
		e.clock.Advance(49 * time.Hour)
		r = e.do(t, req{method: "GET", path: "/users", token: ct.Token})
		want(t, r, http.StatusUnauthorized)
		if r.header.Get("WWW-Authenticate") == "" {
			t.Error("401 without WWW-Authenticate")
		}

		// Revoked. (The admin's second factor is two days old now: prove it again.)
		e.signIn("admin", e.admin)
		tok2 := e.token(t, "admin", ScopeUsersRead)
		want(t, e.do(t, req{method: "GET", path: "/users", token: tok2}), http.StatusOK)
		var toks struct{ Tokens []directory.APIToken }
		e.do(t, req{as: "admin", method: "GET", path: "/tokens"}).json(t, &toks)
		last := toks.Tokens[len(toks.Tokens)-1]
		want(t, e.do(t, req{as: "admin", method: "DELETE", path: "/tokens/" + last.ID}), http.StatusNoContent)
		want(t, e.do(t, req{method: "GET", path: "/users", token: tok2}), http.StatusUnauthorized)
		want(t, e.do(t, req{as: "admin", method: "DELETE", path: "/tokens/tok_nope"}), http.StatusNotFound)

		// Bad requests.
		for _, body := range []string{`{"name":"","scopes":["users:read"]}`, `{"name":"x","scopes":[]}`, `{"name":"x","scopes":["root"]}`,
			`{"name":"x","scopes":["users:read"],"expires_at":"2000-01-01T00:00:00Z"}`,
			`{"name":"x","scopes":["users:read"],"expires_at":"` + e.clock.Now().Add(400*24*time.Hour).Format(time.RFC3339) + `"}`} {
			want(t, e.do(t, req{as: "admin", method: "POST", path: "/tokens", body: body}), http.StatusBadRequest)
		}

		// Unknown, malformed and wrong-scheme credentials.
		for _, auth := range []string{"Bearer tgt_nope", "Bearer ", "Basic YTpi", "tgt_x"} {
			want(t, e.do(t, req{method: "GET", path: "/users", header: map[string]string{"Authorization": auth}}), http.StatusUnauthorized)
		}

		// The creator leaves: their token stops.
		other := e.addUser("other@example.com", directory.StatusActive, "administrator")
		e.signIn("other", other)
		tok3 := e.token(t, "other", ScopeUsersRead)
		want(t, e.do(t, req{method: "GET", path: "/users", token: tok3}), http.StatusOK)
		want(t, e.do(t, req{as: "admin", method: "POST", path: "/users/" + other.ID + "/disable"}), http.StatusOK)
		want(t, e.do(t, req{method: "GET", path: "/users", token: tok3}), http.StatusUnauthorized)
		// Tokens are accepted by the API only, never by the pages.
		tok4 := e.token(t, "admin", ScopeUsersRead)
		pg := e.do(t, req{method: "GET", path: Prefix, token: tok4})
		want(t, pg, http.StatusForbidden)
	})
}
