package billing

import (
	"html/template"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Config names the headers the gate uses to pass identity. Zero values take the defaults, which
// match Tollgate's own defaults.
type Config struct {
	UserHeader  string // default X-Tollgate-User
	EmailHeader string // default X-Tollgate-Email
	NameHeader  string // default X-Tollgate-Name
	RolesHeader string // default X-Tollgate-Roles; comma-separated role names
	// CSRFHeader carries the gate session's CSRF token, which the page's sign-out form posts
	// back to the gate. Default X-Tollgate-Csrf.
	CSRFHeader string
	// LogoutPath is where the sign-out form posts. Default /_tollgate/logout.
	LogoutPath string
	// Now is the clock for seed dates, new invoices, refunds and the aging report. Default time.Now.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	set := func(v *string, def string) {
		if *v == "" {
			*v = def
		}
	}
	set(&c.UserHeader, "X-Tollgate-User")
	set(&c.EmailHeader, "X-Tollgate-Email")
	set(&c.NameHeader, "X-Tollgate-Name")
	set(&c.RolesHeader, "X-Tollgate-Roles")
	set(&c.CSRFHeader, "X-Tollgate-Csrf")
	set(&c.LogoutPath, "/_tollgate/logout")
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// App is the billing application, an http.Handler. It is safe for concurrent use.
type App struct {
	cfg    Config
	data   *store
	pages  map[string]*template.Template
	routes []route
}

// handler serves one route; params holds the path segments matched by "{}" in its pattern.
type handler func(w http.ResponseWriter, r *http.Request, params []string)

type route struct {
	method string
	segs   []string // "{}" matches any one non-empty segment
	h      handler
}

// New returns an App holding a fresh copy of the demo data.
func New(cfg Config) *App {
	cfg = cfg.withDefaults()
	a := &App{cfg: cfg, data: newStore(cfg.Now()), pages: parsePages()}
	for _, r := range []struct {
		method, path string
		h            handler
	}{
		{http.MethodGet, "/", a.handleDashboard},
		{http.MethodGet, "/whoami", a.handleWhoami},
		{http.MethodGet, "/customers", a.handleCustomers},
		{http.MethodGet, "/customers/{}", a.handleCustomer},
		{http.MethodGet, "/invoices", a.handleInvoices},
		{http.MethodPost, "/invoices", a.handleCreateInvoice},
		{http.MethodGet, "/invoices/{}", a.handleInvoice},
		{http.MethodPost, "/invoices/{}/edit", a.handleEditInvoice},
		{http.MethodPost, "/invoices/{}/void", a.handleVoidInvoice},
		{http.MethodGet, "/payments", a.handlePayments},
		{http.MethodGet, "/payments/{}", a.handlePayment},
		{http.MethodPost, "/payments/{}/refund", a.handleRefund},
		{http.MethodGet, "/reports", a.handleReports},
		{http.MethodGet, "/reports/{}", a.handleReport},
		{http.MethodGet, "/settings", a.handleSettings},
		{http.MethodPost, "/settings", a.handleUpdateSettings},
	} {
		a.routes = append(a.routes, route{method: r.method, segs: strings.Split(r.path[1:], "/"), h: r.h})
	}
	return a
}

// ServeHTTP routes on the escaped path, segment by segment, so that each resource has exactly
// one spelling: no cleaning, no redirects, no decoding of %2F into a separator. Methods are
// matched case-sensitively; HEAD is served wherever GET is.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	path := r.URL.EscapedPath()
	if !strings.HasPrefix(path, "/") {
		a.fail(w, r, http.StatusNotFound, "page not found")
		return
	}
	segs := strings.Split(path[1:], "/")
	var allow []string
	for _, rt := range a.routes {
		params, ok := rt.match(segs)
		if !ok {
			continue
		}
		if r.Method == rt.method || (r.Method == http.MethodHead && rt.method == http.MethodGet) {
			rt.h(w, r, params)
			return
		}
		allow = append(allow, rt.method)
		if rt.method == http.MethodGet {
			allow = append(allow, http.MethodHead)
		}
	}
	if len(allow) > 0 {
		w.Header().Set("Allow", strings.Join(allow, ", "))
		a.fail(w, r, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	a.fail(w, r, http.StatusNotFound, "page not found")
}

func (rt route) match(segs []string) ([]string, bool) {
	if len(segs) != len(rt.segs) {
		return nil, false
	}
	var params []string
	for i, s := range rt.segs {
		switch {
		case s == "{}" && segs[i] != "":
			params = append(params, segs[i])
		case s != segs[i]:
			return nil, false
		}
	}
	return params, true
}

// parseID accepts only the canonical decimal spelling of an id, so "+1001", "01001" and
// "%31001" are unknown pages rather than aliases of /invoices/1001.
func parseID(s string) (int, bool) {
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}
