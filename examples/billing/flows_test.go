package billing

import (
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type okInvoice struct {
	OK      bool        `json:"ok"`
	Invoice invoiceJSON `json:"invoice"`
	Error   string      `json:"error"`
}

type okPayment struct {
	OK      bool        `json:"ok"`
	Payment paymentJSON `json:"payment"`
	Error   string      `json:"error"`
}

func TestCreateInvoiceAppearsInList(t *testing.T) {
	app := newTestApp()
	w := req{method: "POST", target: "/invoices", form: "customer_id=3&amount=1%2C234.5&description=Rack+rental+%3Cb%3E"}.do(t, app)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/invoices/1007" {
		t.Fatalf("create: %d, Location %q", w.Code, w.Header().Get("Location"))
	}
	list := req{method: "GET", target: "/invoices"}.do(t, app).Body.String()
	for _, s := range []string{`href="/invoices/1007"`, "Rack rental &lt;b&gt;", "$1,234.50"} {
		if !strings.Contains(list, s) {
			t.Errorf("list lacks %q", s)
		}
	}
	customer := req{method: "GET", target: "/customers/3"}.do(t, app).Body.String()
	if !strings.Contains(customer, `href="/invoices/1007"`) {
		t.Errorf("customer page lacks the new invoice:\n%s", customer)
	}

	// API clients get 201 and the invoice, and the next one gets the next id.
	api := req{method: "POST", target: "/invoices", form: "customer_id=1&amount=%2410&description=API", header: jsonAccept}.do(t, app)
	var got okInvoice
	decodeJSON(t, api, &got)
	want := okInvoice{OK: true, Invoice: invoiceJSON{ID: 1008, CustomerID: 1, AmountCents: 1000,
		Description: "API", Status: "open", Issued: "2025-06-15", Due: "2025-07-15"}}
	if api.Code != http.StatusCreated || api.Header().Get("Location") != "/invoices/1008" {
		t.Errorf("API create: %d, Location %q", api.Code, api.Header().Get("Location"))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("API create (-want +got):\n%s", diff)
	}
}

func TestCreateInvoiceRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		name, form, contentType string
		want                    int
	}{
		{"unknown customer", "customer_id=9&amount=1&description=x", formType, 400},
		{"missing customer", "amount=1&description=x", formType, 400},
		{"non-canonical customer id", "customer_id=01&amount=1&description=x", formType, 400},
		{"zero amount", "customer_id=1&amount=0&description=x", formType, 400},
		{"negative amount", "customer_id=1&amount=-5&description=x", formType, 400},
		{"exponent amount", "customer_id=1&amount=1e3&description=x", formType, 400},
		{"three decimals", "customer_id=1&amount=1.005&description=x", formType, 400},
		{"too large", "customer_id=1&amount=10000000.01&description=x", formType, 400},
		{"empty description", "customer_id=1&amount=1&description=+", formType, 400},
		{"control character", "customer_id=1&amount=1&description=a%00b", formType, 400},
		{"description too long", "customer_id=1&amount=1&description=" + strings.Repeat("x", 201), formType, 400},
		{"json body", `{"customer_id":1}`, "application/json", 415},
		{"no content type", "customer_id=1&amount=1&description=x", "", 415},
		{"body too large", "customer_id=1&amount=1&description=" + strings.Repeat("x", maxFormBytes), formType, 413},
	} {
		t.Run(tc.name, func(t *testing.T) {
			app := newTestApp()
			r := httptestRequest("POST", "/invoices", tc.form, tc.contentType)
			w := serve(app, r)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d; body:\n%s", w.Code, tc.want, w.Body)
			}
			if list := (req{method: "GET", target: "/invoices"}).do(t, app).Body.String(); strings.Contains(list, "/invoices/1007") {
				t.Error("a refused invoice was created")
			}
		})
	}
	// Positive control: the same shape of request with valid fields is accepted.
	w := serve(newTestApp(), httptestRequest("POST", "/invoices", "customer_id=1&amount=1&description=x", formType))
	if w.Code != http.StatusSeeOther {
		t.Errorf("valid create: %d", w.Code)
	}
}

// Fields in the query string are not form fields: only the body counts.
func TestCreateInvoiceIgnoresQuery(t *testing.T) {
	w := req{method: "POST", target: "/invoices?customer_id=1&amount=1&description=x", form: "x=1"}.do(t, newTestApp())
	if w.Code != http.StatusBadRequest {
		t.Errorf("status %d, want 400", w.Code)
	}
}

func TestVoidInvoice(t *testing.T) {
	app := newTestApp()
	before := req{method: "GET", target: "/invoices/1005"}.do(t, app).Body.String()
	if !strings.Contains(before, `class="status-open">open<`) || !strings.Contains(before, `action="/invoices/1005/void"`) {
		t.Fatalf("invoice 1005 should start open with a void button:\n%s", before)
	}
	var got okInvoice
	w := req{method: "POST", target: "/invoices/1005/void", header: jsonAccept}.do(t, app)
	decodeJSON(t, w, &got)
	if w.Code != http.StatusOK || !got.OK || got.Invoice.Status != "void" {
		t.Fatalf("void: %d %+v", w.Code, got)
	}
	after := req{method: "GET", target: "/invoices/1005"}.do(t, app).Body.String()
	if !strings.Contains(after, `class="status-void">void<`) || strings.Contains(after, "/void\"") {
		t.Errorf("after void the page should show void and no void button:\n%s", after)
	}
	for _, tc := range []struct {
		name, target string
		want         int
	}{
		{"again", "/invoices/1005/void", http.StatusConflict},
		{"paid invoice", "/invoices/1001/void", http.StatusConflict},
		{"edit a void invoice", "/invoices/1005/edit", http.StatusConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := req{method: "POST", target: tc.target, form: "description=z", header: jsonAccept}.do(t, app)
			var got okInvoice
			decodeJSON(t, w, &got)
			if w.Code != tc.want || got.OK || got.Error == "" {
				t.Errorf("status %d body %+v, want %d with an error", w.Code, got, tc.want)
			}
		})
	}
}

func TestEditInvoice(t *testing.T) {
	app := newTestApp()
	for _, tc := range []struct {
		name, form string
		want       int
		wantCents  int64
		wantDesc   string
	}{
		{"both fields", "amount=2%2C000&description=Milestone+1+(revised)", 200, 200000, "Milestone 1 (revised)"},
		{"amount only", "amount=2500.1", 200, 250010, "Milestone 1 (revised)"},
		{"description only", "description=Renamed", 200, 250010, "Renamed"},
		{"nothing", "other=1", 400, 250010, "Renamed"},
		{"empty amount", "amount=", 400, 250010, "Renamed"},
		{"empty description", "description=", 400, 250010, "Renamed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := req{method: "POST", target: "/invoices/1005/edit", form: tc.form, header: jsonAccept}.do(t, app)
			if w.Code != tc.want {
				t.Fatalf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
			page := req{method: "GET", target: "/invoices/1005"}.do(t, app).Body.String()
			wantInput := `value="` + formatMoney("", tc.wantCents)
			wantInput = strings.ReplaceAll(wantInput, ",", "")
			if !strings.Contains(page, wantInput) || !strings.Contains(page, tc.wantDesc) {
				t.Errorf("page lacks %q or %q", wantInput, tc.wantDesc)
			}
		})
	}
	// Invoice 1003 has $1,000.00 paid against it; its amount cannot drop below that.
	w := req{method: "POST", target: "/invoices/1003/edit", form: "amount=999.99"}.do(t, app)
	if w.Code != http.StatusBadRequest {
		t.Errorf("amount below paid: %d, want 400", w.Code)
	}
}

func TestRefundPayment(t *testing.T) {
	app := newTestApp()
	var got okPayment
	w := req{method: "POST", target: "/payments/2001/refund", header: jsonAccept}.do(t, app)
	decodeJSON(t, w, &got)
	want := okPayment{OK: true, Payment: paymentJSON{ID: 2001, InvoiceID: 1001, AmountCents: 1_250_000,
		Method: "wire", Status: "refunded", Received: "2025-04-06", Refunded: "2025-06-15"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("refund (-want +got):\n%s", diff)
	}
	page := req{method: "GET", target: "/payments/2001"}.do(t, app).Body.String()
	if !strings.Contains(page, `class="status-refunded">refunded on 2025-06-15<`) || strings.Contains(page, "/refund\"") {
		t.Errorf("payment page should show refunded and no refund button:\n%s", page)
	}
	// The refunded payment had paid invoice 1001 in full, so the invoice is open again and can
	// now be voided.
	inv := req{method: "GET", target: "/invoices/1001"}.do(t, app).Body.String()
	if !strings.Contains(inv, `class="status-open">open<`) {
		t.Errorf("invoice 1001 should be open after the refund:\n%s", inv)
	}
	if w := (req{method: "POST", target: "/invoices/1001/void"}).do(t, app); w.Code != http.StatusSeeOther {
		t.Errorf("void after refund: %d", w.Code)
	}
	if w := (req{method: "POST", target: "/payments/2001/refund"}).do(t, app); w.Code != http.StatusConflict {
		t.Errorf("second refund: %d, want 409", w.Code)
	}
	if w := (req{method: "POST", target: "/payments/2004/refund"}).do(t, app); w.Code != http.StatusConflict {
		t.Errorf("refund of the seeded refunded payment: %d, want 409", w.Code)
	}
}

func TestSettings(t *testing.T) {
	app := newTestApp()
	for _, tc := range []struct {
		name, form string
		want       int
	}{
		{"all fields", "company=Contoso+%26+Co&currency=EUR&terms_days=14", 200},
		{"unknown currency", "currency=XXX", 400},
		{"terms out of range", "terms_days=400", 400},
		{"terms not a number", "terms_days=ten", 400},
		{"empty company", "company=", 400},
		{"no known field", "colour=blue", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := req{method: "POST", target: "/settings", form: tc.form, header: jsonAccept}.do(t, app)
			if w.Code != tc.want {
				t.Errorf("status %d, want %d: %s", w.Code, tc.want, w.Body)
			}
		})
	}
	page := req{method: "GET", target: "/settings"}.do(t, app).Body.String()
	for _, s := range []string{`value="Contoso &amp; Co"`, "<option selected>EUR</option>", `value="14"`} {
		if !strings.Contains(page, s) {
			t.Errorf("settings page lacks %q", s)
		}
	}
	// The currency and the payment terms take effect: amounts in euros, new invoices due in 14 days.
	if body := (req{method: "GET", target: "/invoices/1003"}).do(t, app).Body.String(); !strings.Contains(body, "€3,750.50") {
		t.Errorf("invoice page not in euros:\n%s", body)
	}
	var got okInvoice
	decodeJSON(t, req{method: "POST", target: "/invoices", form: "customer_id=1&amount=1&description=x", header: jsonAccept}.do(t, app), &got)
	if got.Invoice.Due != "2025-06-29" {
		t.Errorf("due %q, want 2025-06-29", got.Invoice.Due)
	}
}

func TestReports(t *testing.T) {
	app := newTestApp()
	aging := req{method: "GET", target: "/reports/aging"}.do(t, app).Body.String()
	for _, s := range []string{
		"<td>Not yet due</td><td class=\"num\">1</td><td class=\"num\">$15,000.00</td>",
		"<td>1–30 days</td><td class=\"num\">1</td><td class=\"num\">$980.00</td>",
		"<td>61–90 days</td><td class=\"num\">1</td><td class=\"num\">$3,750.50</td>",
		"<td>Over 90 days</td><td class=\"num\">0</td><td class=\"num\">$0.00</td>",
	} {
		if !strings.Contains(aging, s) {
			t.Errorf("aging lacks %q:\n%s", s, aging)
		}
	}
	revenue := req{method: "GET", target: "/reports/revenue"}.do(t, app).Body.String()
	if !strings.Contains(revenue, `<th class="num">$17,680.00</th><th class="num">$980.00</th><th class="num">$16,700.00</th>`) {
		t.Errorf("revenue totals wrong:\n%s", revenue)
	}
}
