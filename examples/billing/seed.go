package billing

import "time"

// newStore returns the demo data set. Dates are relative to now so that the aging report has
// something in every bucket whenever the demo is started.
func newStore(now time.Time) *store {
	day := func(n int) time.Time { return now.AddDate(0, 0, n).Truncate(24 * time.Hour) }
	inv := func(id, cust int, cents int64, desc, status string, issued int) invoice {
		return invoice{ID: id, CustomerID: cust, Cents: cents, Description: desc, Status: status,
			Issued: day(issued), Due: day(issued + 30)}
	}
	return &store{
		customers: []customer{
			{ID: 1, Name: "Acme Corporation", Email: "ap@acme.example", Since: day(-900)},
			{ID: 2, Name: "Globex Ltd", Email: "billing@globex.example", Since: day(-400)},
			{ID: 3, Name: "Initech", Email: "accounts@initech.example", Since: day(-200)},
			{ID: 4, Name: "Umbrella Health", Email: "finance@umbrella.example", Since: day(-20)},
		},
		invoices: []invoice{
			inv(1001, 1, 1_250_000, "Annual support contract", invoicePaid, -80),
			inv(1002, 2, 320_000, "Onboarding workshop", invoicePaid, -50),
			inv(1003, 1, 475_050, "Consulting hours, last quarter", invoiceOpen, -100),
			inv(1004, 3, 98_000, "Hosting, last month", invoiceOpen, -45),
			inv(1005, 4, 1_500_000, "Implementation milestone 1", invoiceOpen, -10),
			inv(1006, 2, 320_000, "Duplicate of invoice 1002", invoiceVoid, -49),
		},
		payments: []payment{
			{ID: 2001, InvoiceID: 1001, Cents: 1_250_000, Method: "wire", Status: paymentSettled, Received: day(-70)},
			{ID: 2002, InvoiceID: 1002, Cents: 320_000, Method: "card", Status: paymentSettled, Received: day(-40)},
			{ID: 2003, InvoiceID: 1003, Cents: 100_000, Method: "check", Status: paymentSettled, Received: day(-60)},
			{ID: 2004, InvoiceID: 1004, Cents: 98_000, Method: "card", Status: paymentRefunded, Received: day(-30), Refunded: day(-28)},
		},
		settings:    settings{Company: "Northwind Billing", Currency: "USD", TermsDays: 30},
		nextInvoice: 1007,
	}
}
