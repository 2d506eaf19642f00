package billing

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// Errors the store reports; handlers turn them into status codes. Their texts are written for
// the person using the app, since they hold nothing but ids and business rules.
var (
	errNotFound = errors.New("not found")
	errConflict = errors.New("conflict")
	errInvalid  = errors.New("invalid input")
)

const (
	invoiceOpen = "open"
	invoicePaid = "paid"
	invoiceVoid = "void"

	paymentSettled  = "settled"
	paymentRefunded = "refunded"
)

type customer struct {
	ID    int
	Name  string
	Email string
	Since time.Time
}

type invoice struct {
	ID          int
	CustomerID  int
	Cents       int64
	Description string
	Status      string
	Issued      time.Time
	Due         time.Time
}

type payment struct {
	ID        int
	InvoiceID int
	Cents     int64
	Method    string
	Status    string
	Received  time.Time
	Refunded  time.Time
}

type settings struct {
	Company  string
	Currency string
	// TermsDays is how long after issue a new invoice falls due.
	TermsDays int
}

// store holds all the app's data behind one mutex. Every method takes the lock for its whole
// duration, so views built from several tables are consistent with each other.
type store struct {
	mu          sync.Mutex
	customers   []customer // ordered by ID
	invoices    []invoice  // ordered by ID
	payments    []payment  // ordered by ID
	settings    settings
	nextInvoice int
}

func (s *store) customerLocked(id int) (int, bool) {
	for i := range s.customers {
		if s.customers[i].ID == id {
			return i, true
		}
	}
	return 0, false
}

func (s *store) invoiceLocked(id int) (int, bool) {
	for i := range s.invoices {
		if s.invoices[i].ID == id {
			return i, true
		}
	}
	return 0, false
}

func (s *store) paymentLocked(id int) (int, bool) {
	for i := range s.payments {
		if s.payments[i].ID == id {
			return i, true
		}
	}
	return 0, false
}

// paidLocked is what has been received and not refunded against an invoice.
func (s *store) paidLocked(invoiceID int) int64 {
	var sum int64
	for _, p := range s.payments {
		if p.InvoiceID == invoiceID && p.Status == paymentSettled {
			sum += p.Cents
		}
	}
	return sum
}

func (s *store) createInvoice(customerID int, cents int64, description string, now time.Time) (invoice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.customerLocked(customerID); !ok {
		return invoice{}, fmt.Errorf("%w: customer %d does not exist", errInvalid, customerID)
	}
	inv := invoice{
		ID:          s.nextInvoice,
		CustomerID:  customerID,
		Cents:       cents,
		Description: description,
		Status:      invoiceOpen,
		Issued:      now,
		Due:         now.AddDate(0, 0, s.settings.TermsDays),
	}
	s.nextInvoice++
	s.invoices = append(s.invoices, inv)
	return inv, nil
}

// editInvoice changes the amount and/or description of an open invoice; a nil argument keeps
// the current value.
func (s *store) editInvoice(id int, cents *int64, description *string) (invoice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.invoiceLocked(id)
	if !ok {
		return invoice{}, fmt.Errorf("invoice %d: %w", id, errNotFound)
	}
	inv := &s.invoices[i]
	if inv.Status != invoiceOpen {
		return invoice{}, fmt.Errorf("%w: invoice %d is %s and can no longer be edited", errConflict, id, inv.Status)
	}
	if cents != nil {
		if paid := s.paidLocked(id); *cents < paid {
			return invoice{}, fmt.Errorf("%w: the amount cannot be less than what has already been paid", errInvalid)
		}
		inv.Cents = *cents
	}
	if description != nil {
		inv.Description = *description
	}
	return *inv, nil
}

// voidInvoice cancels an open invoice. A paid invoice must have its payment refunded first, so
// that money received is never silently written off.
func (s *store) voidInvoice(id int) (invoice, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.invoiceLocked(id)
	if !ok {
		return invoice{}, fmt.Errorf("invoice %d: %w", id, errNotFound)
	}
	inv := &s.invoices[i]
	switch inv.Status {
	case invoiceVoid:
		return invoice{}, fmt.Errorf("%w: invoice %d is already void", errConflict, id)
	case invoicePaid:
		return invoice{}, fmt.Errorf("%w: invoice %d is paid; refund its payment before voiding it", errConflict, id)
	}
	inv.Status = invoiceVoid
	return *inv, nil
}

// refundPayment marks a settled payment refunded and reopens its invoice if that payment had
// paid it.
func (s *store) refundPayment(id int, now time.Time) (payment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, ok := s.paymentLocked(id)
	if !ok {
		return payment{}, fmt.Errorf("payment %d: %w", id, errNotFound)
	}
	p := &s.payments[i]
	if p.Status == paymentRefunded {
		return payment{}, fmt.Errorf("%w: payment %d is already refunded", errConflict, id)
	}
	p.Status = paymentRefunded
	p.Refunded = now
	if j, ok := s.invoiceLocked(p.InvoiceID); ok && s.invoices[j].Status == invoicePaid {
		s.invoices[j].Status = invoiceOpen
	}
	return *p, nil
}

func (s *store) currentSettings() settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.settings
}

// updateSettings applies change under the lock, so two concurrent edits of different fields
// both take effect.
func (s *store) updateSettings(change func(*settings)) settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	change(&s.settings)
	return s.settings
}
