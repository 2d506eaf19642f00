package billing

import (
	"net/http"
	"strconv"
)

func (a *App) handleDashboard(w http.ResponseWriter, r *http.Request, _ []string) {
	a.render(w, r, http.StatusOK, "dashboard", "dashboard", "Dashboard", a.data.dashboard())
}

func (a *App) handleCustomers(w http.ResponseWriter, r *http.Request, _ []string) {
	a.render(w, r, http.StatusOK, "customers", "customers", "Customers", a.data.customerRows())
}

func (a *App) handleCustomer(w http.ResponseWriter, r *http.Request, params []string) {
	id, ok := parseID(params[0])
	if !ok {
		a.fail(w, r, http.StatusNotFound, "no such customer")
		return
	}
	d, ok := a.data.customerDetail(id)
	if !ok {
		a.fail(w, r, http.StatusNotFound, "no such customer")
		return
	}
	a.render(w, r, http.StatusOK, "customer", "customers", d.Name, d)
}

// reportNames are the reports /reports/{name} serves, in the order the index lists them.
var reportNames = []struct{ Name, Title string }{
	{"aging", "Accounts receivable aging"},
	{"revenue", "Revenue by month"},
}

func (a *App) handleReports(w http.ResponseWriter, r *http.Request, _ []string) {
	a.render(w, r, http.StatusOK, "reports", "reports", "Reports", reportNames)
}

func (a *App) handleReport(w http.ResponseWriter, r *http.Request, params []string) {
	switch params[0] {
	case "aging":
		a.render(w, r, http.StatusOK, "aging", "reports", reportNames[0].Title, a.data.aging(a.cfg.Now()))
	case "revenue":
		a.render(w, r, http.StatusOK, "revenue", "reports", reportNames[1].Title, a.data.revenue())
	default:
		a.fail(w, r, http.StatusNotFound, "no such report")
	}
}

// settingsView feeds the settings form.
type settingsView struct {
	settings
	Currencies []string
}

// settingsJSON is how POST /settings describes the result to API clients.
type settingsJSON struct {
	Company   string `json:"company"`
	Currency  string `json:"currency"`
	TermsDays int    `json:"terms_days"`
}

func (a *App) handleSettings(w http.ResponseWriter, r *http.Request, _ []string) {
	v := settingsView{settings: a.data.currentSettings()}
	for _, c := range currencies {
		v.Currencies = append(v.Currencies, c.Code)
	}
	a.render(w, r, http.StatusOK, "settings", "settings", "Settings", v)
}

// handleUpdateSettings changes the fields the form sent; a field left out keeps its value.
func (a *App) handleUpdateSettings(w http.ResponseWriter, r *http.Request, _ []string) {
	form, err := readForm(w, r)
	if err != nil {
		a.failErr(w, r, err)
		return
	}
	if !form.Has("company") && !form.Has("currency") && !form.Has("terms_days") {
		a.fail(w, r, http.StatusBadRequest, "send company, currency or terms_days")
		return
	}
	var changes []func(*settings)
	if form.Has("company") {
		company, err := cleanText("company name", form.Get("company"), 100)
		if err != nil {
			a.failErr(w, r, err)
			return
		}
		changes = append(changes, func(s *settings) { s.Company = company })
	}
	if form.Has("currency") {
		currency := form.Get("currency")
		if _, ok := currencySymbol(currency); !ok {
			a.fail(w, r, http.StatusBadRequest, "currency must be USD, EUR or GBP")
			return
		}
		changes = append(changes, func(s *settings) { s.Currency = currency })
	}
	if form.Has("terms_days") {
		days, err := strconv.Atoi(form.Get("terms_days"))
		if err != nil || days < 0 || days > 365 {
			a.fail(w, r, http.StatusBadRequest, "payment terms must be between 0 and 365 days")
			return
		}
		changes = append(changes, func(s *settings) { s.TermsDays = days })
	}
	s := a.data.updateSettings(func(s *settings) {
		for _, c := range changes {
			c(s)
		}
	})
	a.done(w, r, http.StatusOK, "/settings", "settings",
		settingsJSON{Company: s.Company, Currency: s.Currency, TermsDays: s.TermsDays})
}
