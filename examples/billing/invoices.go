package billing

import (
	"fmt"
	"net/http"
	"strconv"
)

const maxDescription = 200

// invoiceJSON is how POST answers describe an invoice to API clients.
type invoiceJSON struct {
	ID          int    `json:"id"`
	CustomerID  int    `json:"customer_id"`
	AmountCents int64  `json:"amount_cents"`
	Description string `json:"description"`
	Status      string `json:"status"`
	Issued      string `json:"issued"`
	Due         string `json:"due"`
}

func toInvoiceJSON(inv invoice) invoiceJSON {
	return invoiceJSON{ID: inv.ID, CustomerID: inv.CustomerID, AmountCents: inv.Cents,
		Description: inv.Description, Status: inv.Status,
		Issued: inv.Issued.Format(dateLayout), Due: inv.Due.Format(dateLayout)}
}

func invoicePath(id int) string { return "/invoices/" + strconv.Itoa(id) }

func (a *App) handleInvoices(w http.ResponseWriter, r *http.Request, _ []string) {
	a.render(w, r, http.StatusOK, "invoices", "invoices", "Invoices", a.data.invoicesView())
}

func (a *App) handleInvoice(w http.ResponseWriter, r *http.Request, params []string) {
	id, ok := parseID(params[0])
	if !ok {
		a.fail(w, r, http.StatusNotFound, "no such invoice")
		return
	}
	d, ok := a.data.invoiceDetail(id)
	if !ok {
		a.fail(w, r, http.StatusNotFound, "no such invoice")
		return
	}
	a.render(w, r, http.StatusOK, "invoice", "invoices", fmt.Sprintf("Invoice %d", id), d)
}

func (a *App) handleCreateInvoice(w http.ResponseWriter, r *http.Request, _ []string) {
	form, err := readForm(w, r)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	customerID, ok := parseID(form.Get("customer_id"))
	if !ok {
		a.fail(w, r, http.StatusBadRequest, "choose a customer")
		return
	}
	cents, err := parseAmount(form.Get("amount"))
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	desc, err := cleanText("description", form.Get("description"), maxDescription)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	inv, err := a.data.createInvoice(customerID, cents, desc, a.cfg.Now())
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	a.done(w, r, http.StatusCreated, invoicePath(inv.ID), "invoice", toInvoiceJSON(inv))
}

// handleEditInvoice changes the fields the form sent; a field left out keeps its value, but a
// field sent empty is an error rather than a silent no-op.
func (a *App) handleEditInvoice(w http.ResponseWriter, r *http.Request, params []string) {
	id, ok := parseID(params[0])
	if !ok {
		a.fail(w, r, http.StatusNotFound, "no such invoice")
		return
	}
	form, err := readForm(w, r)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	var cents *int64
	var desc *string
	if form.Has("amount") {
		c, err := parseAmount(form.Get("amount"))
		if err != nil {
			a.failErr(w, r, err)
			return
		}
		cents = &c
	}
	if form.Has("description") {
		d, err := cleanText("description", form.Get("description"), maxDescription)
		if err != nil {
			a.failErr(w, r, err)
			return
		}
		desc = &d
	}
	if cents == nil && desc == nil {
		a.fail(w, r, http.StatusBadRequest, "send an amount, a description, or both")
		return
	}
	inv, err := a.data.editInvoice(id, cents, desc)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	a.done(w, r, http.StatusOK, invoicePath(id), "invoice", toInvoiceJSON(inv))
}

func (a *App) handleVoidInvoice(w http.ResponseWriter, r *http.Request, params []string) {
	id, ok := parseID(params[0])
	if !ok {
		a.fail(w, r, http.StatusNotFound, "no such invoice")
		return
	}
	inv, err := a.data.voidInvoice(id)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	a.done(w, r, http.StatusOK, invoicePath(id), "invoice", toInvoiceJSON(inv))
}
