package proxy_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// No token, code, cookie or secret ends up in a log line, an audit record, or what the
// application receives — across a login, requests, a refresh, a failed login and a logout.
func TestSecretsStayOutOfLogsAuditAndUpstream(t *testing.T) {
	clk := &clock{}
	e := newEnv(t, envOpts{now: clk.now})
	c, cb := e.startLogin(t, "manager", "/invoices")
	code := cb.Query().Get("code")
	if r := get(t, c, cb.String()); r.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", r.StatusCode)
	}
	token := e.sessionCookie(t, c)
	s, err := e.store.Get(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	r := get(t, c, e.gateURL+"/invoices?tab=open")
	got := e.app.got(r)
	if r.StatusCode != http.StatusOK || got == nil {
		t.Fatalf("positive control: %d", r.StatusCode)
	}
	// A refresh, a replayed callback (a failed login), a denied request and a logout.
	clk.advance(10 * time.Minute)
	get(t, c, e.gateURL+"/invoices")
	get(t, c, cb.String())
	get(t, c, e.gateURL+"/settings")
	s2, _ := e.store.Get(context.Background(), token)
	e.postForm(t, c, "/_tollgate/logout", url.Values{"csrf": {s.CSRF}})

	e.audit.mu.Lock()
	trail := e.audit.b.String()
	e.audit.mu.Unlock()
	e.logs.mu.Lock()
	logs := e.logs.b.String()
	e.logs.mu.Unlock()
	var upstream strings.Builder
	upstream.WriteString(got.RequestURI)
	for k, vs := range got.Header {
		if k == "X-Tollgate-Csrf" { // meant for the app's sign-out form
			continue
		}
		upstream.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	secrets := map[string]string{
		"session token": token, "authorization code": code, "ID token": s.IDToken,
		"refresh token": s.RefreshToken, "refreshed refresh token": s2.RefreshToken, "CSRF token": s.CSRF,
	}
	for name, secret := range secrets {
		if len(secret) < 8 {
			if name == "refreshed refresh token" {
				continue // the session ended with the logout before it could be read
			}
			t.Fatalf("%s is not set (%q): the test would prove nothing", name, secret)
		}
		for where, text := range map[string]string{"the log": logs, "the audit trail": trail, "the upstream request": upstream.String()} {
			if name == "CSRF token" && where == "the upstream request" {
				continue
			}
			if strings.Contains(text, secret) {
				t.Errorf("%s found in %s", name, where)
			}
		}
	}
	if !strings.Contains(trail, `"action":"logout"`) {
		t.Error("the trail lacks the logout: the scenario did not run")
	}
}
