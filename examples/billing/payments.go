package billing

import (
	"fmt"
	"net/http"
	"strconv"
)

func (a *App) handlePayments(w http.ResponseWriter, r *http.Request, _ []string) {
	a.render(w, r, http.StatusOK, "payments", "payments", "Payments", a.data.paymentRows())
}

func (a *App) handlePayment(w http.ResponseWriter, r *http.Request, params []string) {
	id, ok := parseID(params[0])
	if !ok {
		a.fail(w, r, http.StatusNotFound, "no such payment")
		return
	}
	p, ok := a.data.payment(id)
	if !ok {
		a.fail(w, r, http.StatusNotFound, "no such payment")
		return
	}
	a.render(w, r, http.StatusOK, "payment", "payments", fmt.Sprintf("Payment %d", id), p)
}

func (a *App) handleRefund(w http.ResponseWriter, r *http.Request, params []string) {
	id, ok := parseID(params[0])
	if !ok {
		a.fail(w, r, http.StatusNotFound, "no such payment")
		return
	}
	p, err := a.data.refundPayment(id, a.cfg.Now())
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	a.done(w, r, http.StatusOK, "/payments/"+strconv.Itoa(id), "payment", toPaymentJSON(p))
}

// paymentJSON is how POST answers describe a payment to API clients.
type paymentJSON struct {
	ID          int    `json:"id"`
	InvoiceID   int    `json:"invoice_id"`
	AmountCents int64  `json:"amount_cents"`
	Method      string `json:"method"`
	Status      string `json:"status"`
	Received    string `json:"received"`
	Refunded    string `json:"refunded,omitempty"`
}

func toPaymentJSON(p payment) paymentJSON {
	j := paymentJSON{ID: p.ID, InvoiceID: p.InvoiceID, AmountCents: p.Cents, Method: p.Method,
		Status: p.Status, Received: p.Received.Format(dateLayout)}
	if !p.Refunded.IsZero() {
		j.Refunded = p.Refunded.Format(dateLayout)
	}
	return j
}
