package billing

import (
	"fmt"
	"sort"
	"time"
)

// The view types below are what the templates and JSON answers see: copies taken under the
// store's lock, with money already formatted in the configured currency.

const dateLayout = "2006-01-02"

type dashboardView struct {
	Customers, OpenInvoices, PaidInvoices, VoidInvoices int
	Payments, RefundedPayments                          int
	Outstanding                                         string
}

type customerRow struct {
	ID           int
	Name, Email  string
	Since        string
	OpenInvoices int
	Balance      string
}

type customerDetail struct {
	customerRow
	Invoices []invoiceRow
}

type invoiceRow struct {
	ID, CustomerID                int
	Customer, Description, Status string
	Amount, Paid, Balance, Issued string
	Due                           string
	AmountInput                   string // the amount as the edit form expects it back
	Open                          bool
}

type invoiceDetail struct {
	invoiceRow
	Payments []paymentRow
}

type invoicesView struct {
	Rows      []invoiceRow
	Customers []customerRow
}

type paymentRow struct {
	ID, InvoiceID      int
	Customer, Method   string
	Status, Amount     string
	Received, Refunded string
	Settled            bool
}

type agingBucket struct {
	Label string
	Count int
	Total string
}

type agingReport struct {
	AsOf    string
	Buckets []agingBucket
	Total   string
}

type revenueMonth struct {
	Month                   string
	Received, Refunded, Net string
}

type revenueReport struct {
	Months                  []revenueMonth
	Received, Refunded, Net string
}

func (s *store) symbolLocked() string {
	if sym, ok := currencySymbol(s.settings.Currency); ok {
		return sym
	}
	return s.settings.Currency + " "
}

func (s *store) dashboard() dashboardView {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := dashboardView{Customers: len(s.customers), Payments: len(s.payments)}
	var outstanding int64
	for _, inv := range s.invoices {
		switch inv.Status {
		case invoiceOpen:
			v.OpenInvoices++
			outstanding += inv.Cents - s.paidLocked(inv.ID)
		case invoicePaid:
			v.PaidInvoices++
		case invoiceVoid:
			v.VoidInvoices++
		}
	}
	for _, p := range s.payments {
		if p.Status == paymentRefunded {
			v.RefundedPayments++
		}
	}
	v.Outstanding = formatMoney(s.symbolLocked(), outstanding)
	return v
}

func (s *store) customerRowLocked(c customer) customerRow {
	row := customerRow{ID: c.ID, Name: c.Name, Email: c.Email, Since: c.Since.Format(dateLayout)}
	var balance int64
	for _, inv := range s.invoices {
		if inv.CustomerID == c.ID && inv.Status == invoiceOpen {
			row.OpenInvoices++
			balance += inv.Cents - s.paidLocked(inv.ID)
		}
	}
	row.Balance = formatMoney(s.symbolLocked(), balance)
	return row
}

func (s *store) customerRows() []customerRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := make([]customerRow, 0, len(s.customers))
	for _, c := range s.customers {
		rows = append(rows, s.customerRowLocked(c))
	}
	return rows
}

func (s *store) customerDetail(id int) (customerDetail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.customerLocked(id)
	if !ok {
		return customerDetail{}, false
	}
	d := customerDetail{customerRow: s.customerRowLocked(s.customers[i])}
	for _, inv := range s.invoices {
		if inv.CustomerID == id {
			d.Invoices = append(d.Invoices, s.invoiceRowLocked(inv))
		}
	}
	return d, true
}

func (s *store) invoiceRowLocked(inv invoice) invoiceRow {
	sym := s.symbolLocked()
	paid := s.paidLocked(inv.ID)
	row := invoiceRow{
		ID: inv.ID, CustomerID: inv.CustomerID, Description: inv.Description, Status: inv.Status,
		Amount: formatMoney(sym, inv.Cents), Paid: formatMoney(sym, paid),
		Balance: formatMoney(sym, inv.Cents-paid), Issued: inv.Issued.Format(dateLayout),
		Due: inv.Due.Format(dateLayout), AmountInput: fmt.Sprintf("%d.%02d", inv.Cents/100, inv.Cents%100),
		Open: inv.Status == invoiceOpen,
	}
	if inv.Status == invoiceVoid {
		row.Balance = formatMoney(sym, 0)
	}
	if i, ok := s.customerLocked(inv.CustomerID); ok {
		row.Customer = s.customers[i].Name
	}
	return row
}

func (s *store) invoicesView() invoicesView {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := invoicesView{Rows: make([]invoiceRow, 0, len(s.invoices))}
	for _, inv := range s.invoices {
		v.Rows = append(v.Rows, s.invoiceRowLocked(inv))
	}
	for _, c := range s.customers {
		v.Customers = append(v.Customers, customerRow{ID: c.ID, Name: c.Name})
	}
	return v
}

func (s *store) invoiceDetail(id int) (invoiceDetail, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.invoiceLocked(id)
	if !ok {
		return invoiceDetail{}, false
	}
	d := invoiceDetail{invoiceRow: s.invoiceRowLocked(s.invoices[i])}
	for _, p := range s.payments {
		if p.InvoiceID == id {
			d.Payments = append(d.Payments, s.paymentRowLocked(p))
		}
	}
	return d, true
}

func (s *store) paymentRowLocked(p payment) paymentRow {
	row := paymentRow{
		ID: p.ID, InvoiceID: p.InvoiceID, Method: p.Method, Status: p.Status,
		Amount: formatMoney(s.symbolLocked(), p.Cents), Received: p.Received.Format(dateLayout),
		Settled: p.Status == paymentSettled,
	}
	if !p.Refunded.IsZero() {
		row.Refunded = p.Refunded.Format(dateLayout)
	}
	if i, ok := s.invoiceLocked(p.InvoiceID); ok {
		if j, ok := s.customerLocked(s.invoices[i].CustomerID); ok {
			row.Customer = s.customers[j].Name
		}
	}
	return row
}

func (s *store) paymentRows() []paymentRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	rows := make([]paymentRow, 0, len(s.payments))
	for _, p := range s.payments {
		rows = append(rows, s.paymentRowLocked(p))
	}
	return rows
}

func (s *store) payment(id int) (paymentRow, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.paymentLocked(id)
	if !ok {
		return paymentRow{}, false
	}
	return s.paymentRowLocked(s.payments[i]), true
}

// aging groups the open balances by how many days past their due date they are on asOf.
func (s *store) aging(asOf time.Time) agingReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	labels := []string{"Not yet due", "1–30 days", "31–60 days", "61–90 days", "Over 90 days"}
	counts := make([]int, len(labels))
	totals := make([]int64, len(labels))
	var total int64
	for _, inv := range s.invoices {
		balance := inv.Cents - s.paidLocked(inv.ID)
		if inv.Status != invoiceOpen || balance <= 0 {
			continue
		}
		late := int(asOf.Sub(inv.Due).Hours() / 24)
		b := 0
		switch {
		case late > 90:
			b = 4
		case late > 60:
			b = 3
		case late > 30:
			b = 2
		case late > 0:
			b = 1
		}
		counts[b]++
		totals[b] += balance
		total += balance
	}
	sym := s.symbolLocked()
	r := agingReport{AsOf: asOf.Format(dateLayout), Total: formatMoney(sym, total)}
	for i, l := range labels {
		r.Buckets = append(r.Buckets, agingBucket{Label: l, Count: counts[i], Total: formatMoney(sym, totals[i])})
	}
	return r
}

// revenue is cash received per month, with refunds counted in the month they were made.
func (s *store) revenue() revenueReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	type sums struct{ in, out int64 }
	months := map[string]*sums{}
	at := func(t time.Time) *sums {
		k := t.Format("2006-01")
		if months[k] == nil {
			months[k] = &sums{}
		}
		return months[k]
	}
	var in, out int64
	for _, p := range s.payments {
		at(p.Received).in += p.Cents
		in += p.Cents
		if p.Status == paymentRefunded {
			at(p.Refunded).out += p.Cents
			out += p.Cents
		}
	}
	keys := make([]string, 0, len(months))
	for k := range months {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	sym := s.symbolLocked()
	r := revenueReport{Received: formatMoney(sym, in), Refunded: formatMoney(sym, out), Net: formatMoney(sym, in-out)}
	for _, k := range keys {
		m := months[k]
		r.Months = append(r.Months, revenueMonth{Month: k, Received: formatMoney(sym, m.in),
			Refunded: formatMoney(sym, m.out), Net: formatMoney(sym, m.in-m.out)})
	}
	return r
}
