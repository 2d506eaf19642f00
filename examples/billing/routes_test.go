package billing

import (
	"net/http"
	"strings"
	"testing"
)

func TestRouteStatus(t *testing.T) {
	for _, tc := range []struct {
		name       string
		req        req
		want       int
		location   string // for 303s
		allow      string // for 405s
		wantInBody string
	}{
		{name: "dashboard", req: req{method: "GET", target: "/"}, want: 200, wantInBody: "Outstanding"},
		{name: "dashboard HEAD", req: req{method: "HEAD", target: "/"}, want: 200},
		{name: "dashboard with query", req: req{method: "GET", target: "/?x=1"}, want: 200},
		{name: "whoami", req: req{method: "GET", target: "/whoami"}, want: 200},
		{name: "customers", req: req{method: "GET", target: "/customers"}, want: 200, wantInBody: "Globex Ltd"},
		{name: "customer", req: req{method: "GET", target: "/customers/2"}, want: 200, wantInBody: "billing@globex.example"},
		{name: "invoices", req: req{method: "GET", target: "/invoices"}, want: 200, wantInBody: `action="/invoices"`},
		{name: "invoice", req: req{method: "GET", target: "/invoices/1003"}, want: 200, wantInBody: "$3,750.50"},
		{name: "payments", req: req{method: "GET", target: "/payments"}, want: 200, wantInBody: "/payments/2004"},
		{name: "payment", req: req{method: "GET", target: "/payments/2001"}, want: 200, wantInBody: `action="/payments/2001/refund"`},
		{name: "reports", req: req{method: "GET", target: "/reports"}, want: 200, wantInBody: `href="/reports/aging"`},
		{name: "aging report", req: req{method: "GET", target: "/reports/aging"}, want: 200, wantInBody: "$19,730.50"},
		{name: "revenue report", req: req{method: "GET", target: "/reports/revenue"}, want: 200, wantInBody: "$16,700.00"},
		{name: "settings", req: req{method: "GET", target: "/settings"}, want: 200, wantInBody: "Northwind Billing"},

		{name: "create invoice", req: req{method: "POST", target: "/invoices", form: "customer_id=1&amount=10&description=x"}, want: 303, location: "/invoices/1007"},
		{name: "edit invoice", req: req{method: "POST", target: "/invoices/1005/edit", form: "amount=1.00&description=y"}, want: 303, location: "/invoices/1005"},
		{name: "void invoice", req: req{method: "POST", target: "/invoices/1005/void"}, want: 303, location: "/invoices/1005"},
		{name: "refund payment", req: req{method: "POST", target: "/payments/2001/refund"}, want: 303, location: "/payments/2001"},
		{name: "update settings", req: req{method: "POST", target: "/settings", form: "company=Contoso"}, want: 303, location: "/settings"},

		{name: "unknown path", req: req{method: "GET", target: "/admin"}, want: 404},
		{name: "unknown path POST", req: req{method: "POST", target: "/admin"}, want: 404},
		{name: "trailing slash", req: req{method: "GET", target: "/invoices/"}, want: 404},
		{name: "double slash", req: req{method: "GET", target: "//invoices"}, want: 404},
		{name: "upper case path", req: req{method: "GET", target: "/Invoices"}, want: 404},
		{name: "too deep", req: req{method: "GET", target: "/invoices/1001/void/x"}, want: 404},
		{name: "dot segment not cleaned", req: req{method: "GET", target: "/invoices/../settings"}, want: 404},
		{name: "encoded slash", req: req{method: "GET", target: "/invoices%2F1001"}, want: 404},
		{name: "unknown invoice", req: req{method: "GET", target: "/invoices/999"}, want: 404},
		{name: "unknown customer", req: req{method: "GET", target: "/customers/5"}, want: 404},
		{name: "unknown payment", req: req{method: "GET", target: "/payments/1"}, want: 404},
		{name: "unknown report", req: req{method: "GET", target: "/reports/payroll"}, want: 404},
		{name: "non-numeric id", req: req{method: "GET", target: "/invoices/abc"}, want: 404},
		{name: "plus-signed id", req: req{method: "GET", target: "/invoices/+1001"}, want: 404},
		{name: "zero-padded id", req: req{method: "GET", target: "/invoices/01001"}, want: 404},
		{name: "percent-encoded id", req: req{method: "GET", target: "/invoices/%31001"}, want: 404},
		{name: "void unknown invoice", req: req{method: "POST", target: "/invoices/999/void"}, want: 404},
		{name: "edit unknown invoice", req: req{method: "POST", target: "/invoices/999/edit", form: "amount=1"}, want: 404},
		{name: "refund unknown payment", req: req{method: "POST", target: "/payments/999/refund"}, want: 404},

		{name: "POST dashboard", req: req{method: "POST", target: "/"}, want: 405, allow: "GET, HEAD"},
		{name: "POST whoami", req: req{method: "POST", target: "/whoami"}, want: 405, allow: "GET, HEAD"},
		{name: "POST customers", req: req{method: "POST", target: "/customers"}, want: 405, allow: "GET, HEAD"},
		{name: "DELETE invoices", req: req{method: "DELETE", target: "/invoices"}, want: 405, allow: "GET, HEAD, POST"},
		{name: "PUT invoice", req: req{method: "PUT", target: "/invoices/1001"}, want: 405, allow: "GET, HEAD"},
		{name: "GET void", req: req{method: "GET", target: "/invoices/1001/void"}, want: 405, allow: "POST"},
		{name: "GET edit", req: req{method: "GET", target: "/invoices/1001/edit"}, want: 405, allow: "POST"},
		{name: "GET refund", req: req{method: "GET", target: "/payments/2001/refund"}, want: 405, allow: "POST"},
		{name: "POST payment", req: req{method: "POST", target: "/payments/2001"}, want: 405, allow: "GET, HEAD"},
		{name: "POST reports", req: req{method: "POST", target: "/reports/aging"}, want: 405, allow: "GET, HEAD"},
		{name: "PATCH settings", req: req{method: "PATCH", target: "/settings"}, want: 405, allow: "GET, HEAD, POST"},
		{name: "lower-case method", req: req{method: "post", target: "/invoices/1005/void"}, want: 405, allow: "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := tc.req.do(t, newTestApp())
			if w.Code != tc.want {
				t.Fatalf("%s %s = %d, want %d; body:\n%s", tc.req.method, tc.req.target, w.Code, tc.want, w.Body)
			}
			if got := w.Header().Get("Location"); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
			if got := w.Header().Get("Allow"); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
			if !strings.Contains(w.Body.String(), tc.wantInBody) {
				t.Errorf("body lacks %q:\n%s", tc.wantInBody, w.Body)
			}
		})
	}
}

// Error answers follow the Accept header: a page for browsers, JSON for API clients.
func TestErrorFormat(t *testing.T) {
	app := newTestApp()
	page := req{method: "GET", target: "/nope"}.do(t, app)
	if ct := page.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" || !strings.Contains(page.Body.String(), "page not found") {
		t.Errorf("HTML 404: Content-Type %q, body:\n%s", ct, page.Body)
	}
	api := req{method: "DELETE", target: "/invoices", header: jsonAccept}.do(t, app)
	var got struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	decodeJSON(t, api, &got)
	if api.Code != http.StatusMethodNotAllowed || got.OK || got.Error == "" {
		t.Errorf("JSON 405: status %d, body %+v", api.Code, got)
	}
}
