package main

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/admin"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/policy"
)

type discardAudit struct{}

func (discardAudit) Write(audit.Record) error { return nil }

// adminAPI runs the admin handler over a fresh store and returns its URL, the store and a
// token with every scope, created by an active administrator.
func adminAPI(t *testing.T) (string, *directory.SQLStore, string) {
	t.Helper()
	st, err := directory.OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "dir.db"), directory.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	ss, err := session.NewEmbedded(filepath.Join(t.TempDir(), "s.db"), session.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ss.Close() })
	eng, err := policy.Load("../../examples/policy.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h, err := admin.New(admin.Config{PublicURL: "https://billing.example.com"}, admin.Deps{Users: st, Sessions: ss, Policy: eng, Audit: discardAudit{}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.Serve(w, r, nil) }))
	t.Cleanup(srv.Close)
	boss, err := st.CreateUser(t.Context(), directory.User{Email: "boss@example.com", Name: "Boss", Roles: []string{"administrator"}, Status: directory.StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := st.CreateAPIToken(t.Context(), directory.APIToken{Name: "cli", Scopes: admin.AllScopes, CreatedBy: boss.ID,
		ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return srv.URL, st, tok
}

func runUsers(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(t.Context(), append([]string{"users"}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsersCommands(t *testing.T) {
	url, st, tok := adminAPI(t)
	t.Setenv("TOLLGATE_URL", url)
	t.Setenv("TOLLGATE_TOKEN", tok)

	code, out, errs := runUsers(t, "add", "--email", "sam@example.com", "--name", "Sam Sales", "--roles", "sales_rep")
	if code != 0 || !strings.Contains(out, "https://billing.example.com/_tollgate/invite?token=inv_") {
		t.Fatalf("add: %d %q %q", code, out, errs)
	}
	if code, out, _ = runUsers(t, "set-roles", "sam@example.com", "--roles", "sales_rep,support"); code != 0 || !strings.Contains(out, "sales_rep,support") {
		t.Fatalf("set-roles: %d %q", code, out)
	}
	if code, out, _ = runUsers(t, "disable", "sam@example.com"); code != 0 || !strings.Contains(out, "disabled") {
		t.Fatalf("disable: %d %q", code, out)
	}
	if u, _ := st.GetUserByEmail(t.Context(), "sam@example.com"); u.Status != directory.StatusDisabled {
		t.Fatalf("store: %+v", u)
	}
	if code, out, _ = runUsers(t, "enable", "sam@example.com", "--json"); code != 0 || !strings.Contains(out, `"status":"active"`) {
		t.Fatalf("enable --json: %d %q", code, out)
	}
	if code, out, _ = runUsers(t, "revoke", "sam@example.com"); code != 0 || !strings.Contains(out, "ended 0 session(s)") {
		t.Fatalf("revoke: %d %q", code, out)
	}
	code, out, _ = runUsers(t, "list", "--role", "support")
	if code != 0 || !strings.HasPrefix(out, "EMAIL") || !strings.Contains(out, "sam@example.com") || strings.Contains(out, "boss@") {
		t.Fatalf("list: %d %q", code, out)
	}
	code, out, _ = runUsers(t, "list", "--json")
	var l struct{ Users []map[string]any }
	if code != 0 || json.Unmarshal([]byte(out), &l) != nil || len(l.Users) != 2 {
		t.Fatalf("list --json: %d %q", code, out)
	}
	code, out, _ = runUsers(t, "review", "--csv")
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if code != 0 || err != nil || len(rows) != 4 || rows[0][0] != "user_id" {
		t.Fatalf("review --csv: %d %q %v", code, out, err)
	}
	if code, out, errs = runUsers(t, "review"); code != 0 || !strings.Contains(out, "sales_rep") {
		t.Fatalf("review: %d %q %q", code, out, errs)
	}

	// Refusals print the API's words and exit 1; usage errors exit 2.
	code, _, errs = runUsers(t, "disable", "boss@example.com")
	if code != 1 || !strings.Contains(errs, "You cannot disable, enable or delete yourself") {
		t.Errorf("disable own creator: %d %q", code, errs)
	}
	if code, _, errs = runUsers(t, "disable", "ghost@example.com"); code != 1 || !strings.Contains(errs, "no user") {
		t.Errorf("unknown user: %d %q", code, errs)
	}
	if code, _, _ = runUsers(t, "disable"); code != 2 {
		t.Errorf("missing user: exit %d", code)
	}
	if code, _, errs = runUsers(t, "list", "--token", "tgt_wrong"); code != 1 || !strings.Contains(errs, "401") {
		t.Errorf("wrong token: %d %q", code, errs)
	}
	if code, _, errs = runUsers(t, "list", "--url", "http://billing.example.com"); code != 2 || !strings.Contains(errs, "clear text") {
		t.Errorf("plain http: %d %q", code, errs)
	}
}

func TestUsersBootstrapAdmin(t *testing.T) {
	dir := t.TempDir()
	policyPath, _ := filepath.Abs("../../examples/policy.yaml")
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte("s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := `gate:
  public_url: https://billing.example.com
  upstream:
    url: http://127.0.0.1:8081
oidc:
  issuer: https://login.example.com
  client_id: tollgate
  client_secret_file: ` + filepath.Join(dir, "secret") + `
session:
  path: sessions.db
policy:
  file: ` + policyPath + `
store:
  driver: sqlite
  path: directory.db
`
	cfgPath := filepath.Join(dir, "tollgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runUsers(t, "bootstrap-admin", "--config", cfgPath, "--email", "Ada@Example.com", "--name", "Ada Admin")
	if code != 0 || !strings.Contains(out, "ada@example.com") || !strings.Contains(out, "https://billing.example.com/_tollgate/admin/") {
		t.Fatalf("bootstrap: %d %q %q", code, out, errs)
	}
	// Refused once an administrator exists; --force for an emergency.
	if code, _, errs = runUsers(t, "bootstrap-admin", "--config", cfgPath, "--email", "eve@example.com"); code != 1 || !strings.Contains(errs, "exist already") {
		t.Fatalf("second bootstrap: %d %q", code, errs)
	}
	if code, _, errs = runUsers(t, "bootstrap-admin", "--config", cfgPath, "--email", "eve@example.com", "--force"); code != 0 {
		t.Fatalf("forced bootstrap: %d %q", code, errs)
	}
	st, err := directory.OpenSQLite(t.Context(), filepath.Join(dir, "directory.db"), directory.StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	for _, email := range []string{"ada@example.com", "eve@example.com"} {
		u, err := st.GetUserByEmail(t.Context(), email)
		if err != nil || u.Status != directory.StatusActive || len(u.Roles) != 1 || u.Roles[0] != "administrator" || u.InvitedBy != "bootstrap" {
			t.Errorf("%s: %+v %v", email, u, err)
		}
	}
}
