package proxy_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
)

var demoRoles = map[string]string{
	"admin": "administrator", "manager": "billing_manager", "sales": "sales_rep",
	"accountant": "accountant", "support": "support",
}

// matrix is the role matrix of the example policy, cell by cell: who may send each request.
var matrix = []struct {
	method, path string
	allowed      []string // demo usernames
}{
	{"GET", "/", []string{"admin", "manager", "sales", "accountant", "support"}},
	{"GET", "/whoami", []string{"admin", "manager", "sales", "accountant", "support"}},
	{"GET", "/customers", []string{"admin", "manager", "sales", "accountant", "support"}},
	{"GET", "/customers/1", []string{"admin", "manager", "sales", "accountant", "support"}},
	{"GET", "/invoices", []string{"admin", "manager", "sales", "accountant", "support"}},
	{"GET", "/invoices/1001", []string{"admin", "manager", "sales", "accountant", "support"}},
	{"POST", "/invoices", []string{"admin", "manager", "sales"}},
	{"POST", "/invoices/1003/edit", []string{"admin", "manager"}},
	{"POST", "/invoices/1003/void", []string{"admin", "manager"}},
	{"GET", "/payments", []string{"admin", "manager", "accountant", "support"}},
	{"GET", "/payments/2001", []string{"admin", "manager", "accountant", "support"}},
	{"POST", "/payments/2001/refund", []string{"admin", "manager"}},
	{"GET", "/reports", []string{"admin", "manager", "accountant"}},
	{"GET", "/reports/aging", []string{"admin", "manager", "accountant"}},
	{"GET", "/settings", []string{"admin"}},
	{"POST", "/settings", []string{"admin"}},
	// Anything else is denied to everyone, the administrator included.
	{"GET", "/admin", nil},
	{"DELETE", "/invoices/1001", nil},
	{"PUT", "/settings", nil},
	{"GET", "/payments/2001/refund", nil},
	{"GET", "/export", nil},
}

func TestRoleMatrixEndToEnd(t *testing.T) {
	for _, backend := range []string{"embedded", "redis"} {
		t.Run(backend, func(t *testing.T) {
			e := newEnv(t, envOpts{backend: backend})
			for _, user := range []string{"admin", "manager", "sales", "accountant", "support"} {
				t.Run(user, func(t *testing.T) {
					c, resp := e.login(t, user, "/whoami")
					if resp.StatusCode != http.StatusOK {
						t.Fatalf("after login GET /whoami: %d %s", resp.StatusCode, readBody(t, resp))
					}
					var who struct {
						User, Email, Name string
						Roles             []string
					}
					mustJSON(t, readBody(t, resp), &who)
					if who.Email != user+"@example.com" || !slices.Equal(who.Roles, []string{demoRoles[user]}) || who.User == "" || who.Name == "" {
						t.Fatalf("app received identity %+v, want %s@example.com with role %s", who, user, demoRoles[user])
					}
					for _, cell := range matrix {
						want := slices.Contains(cell.allowed, user)
						hdr := http.Header{"Accept": {"application/json"}}
						var body *strings.Reader
						if cell.method == "POST" {
							hdr.Set("Content-Type", "application/x-www-form-urlencoded")
							hdr.Set("X-Tollgate-Csrf", "ignored-by-the-app")
							body = strings.NewReader(url.Values{"customer_id": {"1"}, "amount": {"10.00"}, "description": {"test"}, "company_name": {"Acme"}, "currency": {"USD"}, "payment_terms": {"30"}}.Encode())
						} else {
							body = strings.NewReader("")
						}
						before := e.app.count()
						r := do(t, c, cell.method, e.gateURL+cell.path, hdr, body)
						arrived := e.app.got(r)
						if want {
							if r.StatusCode == http.StatusForbidden || arrived == nil {
								t.Errorf("%s %s as %s: status %d, reached app %v; want allowed", cell.method, cell.path, user, r.StatusCode, arrived != nil)
								continue
							}
							if arrived.URL.EscapedPath() != cell.path || arrived.Method != cell.method {
								t.Errorf("%s %s as %s: app received %s %s", cell.method, cell.path, user, arrived.Method, arrived.URL.EscapedPath())
							}
							if got := arrived.Header.Get("X-Tollgate-Email"); got != user+"@example.com" {
								t.Errorf("%s %s as %s: app received email %q", cell.method, cell.path, user, got)
							}
						} else {
							if r.StatusCode != http.StatusForbidden || arrived != nil || e.app.count() != before {
								t.Errorf("%s %s as %s: status %d, reached app %v; want 403 and nothing forwarded", cell.method, cell.path, user, r.StatusCode, arrived != nil)
							}
						}
					}
				})
			}
		})
	}
}
