package admin

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed templates/*.html assets/admin.css
var pageFiles embed.FS

var adminCSS = func() []byte {
	b, err := pageFiles.ReadFile("assets/admin.css")
	if err != nil {
		panic(err) // embedded at build time: cannot be missing
	}
	return b
}()

// pageCSP allows nothing but our own stylesheet and forms that post to us.
const pageCSP = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

var pageNames = []string{"list", "new", "created", "user", "tokens", "error"}

func parseTemplates() (map[string]*template.Template, error) {
	fns := template.FuncMap{"when": when, "join": joinRoles,
		"statuses": func() []string { return []string{"active", "invited", "disabled"} }}
	out := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New("layout.html").Funcs(fns).ParseFS(pageFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("admin: page %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func joinRoles(roles []string) string {
	if len(roles) == 0 {
		return "none"
	}
	s := roles[0]
	for _, r := range roles[1:] {
		s += ", " + r
	}
	return s
}

// pageData is what every page template receives; each page uses its part.
type pageData struct {
	Title   string
	CSRF    string
	Me      string
	Error   string
	Notice  string
	Status  int
	SignIn  bool
	Request string

	Users    []userView
	Filter   listFilter
	Next     string
	Roles    []roleChoice
	User     userView
	Sessions []sessionView
	Form     newUser
	Invite   invitation
	Tokens   []tokenRow
	Secret   string
	Scopes   []string
}

type roleChoice struct {
	Name, Description string
	Checked           bool
}

type listFilter struct {
	Q, Role, Status, Inactive string
}

func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
}

func (h *Handler) render(w http.ResponseWriter, status int, name string, d pageData) {
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := h.tmpl[name].Execute(w, d); err != nil {
		h.log.Error("admin: render page", "page", name, "error", err.Error())
	}
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(adminCSS)
}

// pageFunc is a page endpoint; an error is shown on the error page.
type pageFunc func(w http.ResponseWriter, r *http.Request, p *principal) error

type pageRoute struct {
	h  *Handler
	fn pageFunc
}

func (rt pageRoute) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, _ := r.Context().Value(principalKey{}).(*principal)
	if p == nil {
		http.Error(w, "no caller", http.StatusInternalServerError)
		return
	}
	if err := rt.fn(w, r, p); err != nil {
		rt.h.pageError(w, r, p, err)
	}
}

func (h *Handler) pageError(w http.ResponseWriter, r *http.Request, p *principal, err error) {
	e := classify(err)
	if e.status >= 500 {
		h.log.ErrorContext(r.Context(), "admin: page failed", "error", err.Error(), "path", r.URL.Path, "request_id", p.requestID)
	}
	d := pageData{Title: e.title, Error: e.detail, Status: e.status, Request: p.requestID, CSRF: p.csrf}
	d.SignIn = e.status == http.StatusUnauthorized || e.detail == StepUpDetail
	h.render(w, e.status, "error", d)
}

func (h *Handler) pageRoutes() {
	page := func(pattern string, fn pageFunc) {
		method, path, _ := strings.Cut(pattern, " ")
		h.pages.Handle(method+" "+Prefix+path, pageRoute{h: h, fn: fn})
	}
	page("GET {$}", h.pageList)
	page("GET users/new", h.pageNew)
	page("POST users", h.pageCreate)
	page("GET users/{id}", h.pageUser)
	page("POST users/{id}/roles", h.pageRoles)
	page("POST users/{id}/disable", h.pageAction(actDisable))
	page("POST users/{id}/enable", h.pageAction(actEnable))
	page("POST users/{id}/mfa-reset", h.pageAction(actMFAReset))
	page("POST users/{id}/sessions/revoke", h.pageAction(actRevokeAll))
	page("POST users/{id}/sessions/{sid}/revoke", h.pageAction(actRevokeOne))
	page("POST users/{id}/invite", h.pageReinvite)
	page("POST users/{id}/delete", h.pageDelete)
	page("GET review.csv", h.pageReviewCSV)
	page("GET tokens", h.pageTokens)
	page("POST tokens", h.pageCreateToken)
	page("POST tokens/{id}/revoke", h.pageRevokeToken)
}

func (h *Handler) servePage(w http.ResponseWriter, r *http.Request, caller *Caller) {
	securityHeaders(w.Header())
	p, err := h.authenticate(r.Context(), w, r, caller, false)
	if err == nil && !safeMethod(r.Method) {
		err = checkForm(w, r, p)
	}
	if err != nil {
		if p.kind == "" {
			// Nobody signed in: a page, not a token prompt.
			err = &authFailure{http.StatusForbidden, "Sign in as an administrator to manage users."}
			h.render(w, http.StatusForbidden, "error", pageData{Title: "Sign-in required", Error: err.Error(),
				Status: http.StatusForbidden, SignIn: true, Request: p.requestID})
			return
		}
		h.pageError(w, r, p, err)
		return
	}
	if _, pattern := h.pages.Handler(r); pattern == "" {
		h.pageError(w, r, p, &apiError{status: http.StatusNotFound, title: "Not found", detail: "There is no such page."})
		return
	}
	h.pages.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
}

// checkForm is the CSRF rule of the pages: a form post whose csrf field equals the session's
// CSRF token, not sent from another site.
func checkForm(w http.ResponseWriter, r *http.Request, p *principal) error {
	forbidden := func(detail string) error {
		return &apiError{status: http.StatusForbidden, title: "Refused", detail: detail}
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		return forbidden("This form was sent from another site.")
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		return &apiError{status: http.StatusUnsupportedMediaType, title: "Unsupported media type",
			detail: "Forms must be sent as application/x-www-form-urlencoded."}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if err := r.ParseForm(); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &apiError{status: http.StatusRequestEntityTooLarge, title: "Request too large", detail: "The form is too large."}
		}
		return badRequest("The form could not be read.")
	}
	if !sameSecret(r.PostForm.Get("csrf"), p.csrf) {
		return forbidden("The form has expired or did not come from this page (CSRF check failed). Reload the page and try again.")
	}
	return nil
}

// back redirects (303) to a user's page with a fixed notice.
func back(w http.ResponseWriter, r *http.Request, id, notice string) {
	http.Redirect(w, r, Prefix+"users/"+url.PathEscape(id)+"?done="+notice, http.StatusSeeOther)
}
