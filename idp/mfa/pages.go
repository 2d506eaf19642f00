package mfa

import (
	"crypto/subtle"
	_ "embed"
	"encoding/json"
	"html/template"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

//go:embed pages/mfa.html
var pageHTML string

//go:embed assets/mfa.css
var mfaCSS []byte

//go:embed assets/webauthn.js
var webauthnJS []byte

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// view is everything the one page template can show; Page picks the section.
type view struct {
	Page      string // enroll, codes, verify, account, message
	Title     string
	Message   string
	Error     string
	Notice    string
	RD        string
	CSRF      string
	RequestID string
	Link      string
	LinkText  string
	Script    bool // the page uses webauthn.js

	// enroll
	Secret string
	QRPath string
	// codes
	Codes []string
	// verify
	HasTOTP, HasPasskey bool
	Locked              bool
	Until               string
	AttemptsLeft        int
	// account
	Email, Name string
	GateFactor  bool
	WebAuthn    bool
	TOTPAt      string
	Passkeys    []passkeyView
	CodesLeft   int
	Sessions    []sessionView
}

type passkeyView struct {
	ID, Name, Added, LastUsed string
}

type sessionView struct {
	Created, Expires string
	Current          bool
}

// securityHeaders go on every page: scripts only from the gate's own files, nothing inline,
// nothing framing it, nothing caching it. The referrer policy is same-origin, not no-referrer:
// under no-referrer browsers send "Origin: null" with the pages' own form posts, which the
// origin check must refuse.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// page renders v for s with the given status.
func (h *Handler) page(w http.ResponseWriter, _ *http.Request, s Subject, status int, v view) {
	v.CSRF, v.RequestID = s.CSRF, s.RequestID
	if v.RD == "" {
		v.RD = "/"
	}
	securityHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pageTmpl.Execute(w, v); err != nil {
		h.deps.Log.Debug("mfa page not written", "request_id", s.RequestID, "err", err) // the client left
	}
}

// fail answers with a short page, or problem details for the JSON endpoints.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, s Subject, status int, title, msg string) {
	if isJSON(r) {
		h.problem(w, s, status, title, msg)
		return
	}
	h.page(w, r, s, status, view{Page: "message", Title: title, Message: msg, RD: safeRD(formOrQuery(r, "rd"))})
}

// unavailable reports a store that cannot answer: the request fails closed.
func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request, s Subject, err error) {
	h.deps.Log.Error("mfa: store unavailable", "request_id", s.RequestID, "err", err)
	h.fail(w, r, s, http.StatusServiceUnavailable, "Temporarily unavailable",
		"The gate cannot check second factors right now. Try again in a moment.")
}

// problem writes RFC 9457 problem details.
func (h *Handler) problem(w http.ResponseWriter, s Subject, status int, title, detail string) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type      string `json:"type"`
		Title     string `json:"title"`
		Status    int    `json:"status"`
		Detail    string `json:"detail"`
		RequestID string `json:"request_id,omitempty"`
	}{"about:blank", title, status, detail, s.RequestID})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_ = json.NewEncoder(w).Encode(v)
}

func serveAsset(body []byte, contentType string) route {
	return func(w http.ResponseWriter, _ *http.Request, _ Subject) {
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(body)
	}
}

// isJSON tells the WebAuthn endpoints (JSON in, JSON out) from the form posts.
func isJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, PathPrefix+"webauthn/")
}

// Limits on request bodies: forms hold a code; WebAuthn responses a few kilobytes.
const (
	maxFormBody = 8 << 10
	maxJSONBody = 64 << 10
)

// csrfHeader carries the CSRF token on JSON requests.
const csrfHeader = "X-Tollgate-Csrf"

// checkPost refuses a state-changing request that did not come from the gate's own pages: a
// foreign Origin, a missing or wrong CSRF token, or (for JSON) another content type. It
// answers the refusal itself and reports whether to go on.
func (h *Handler) checkPost(w http.ResponseWriter, r *http.Request, s Subject) bool {
	if o := r.Header.Get("Origin"); o != "" && o != h.origin {
		h.fail(w, r, s, http.StatusForbidden, "Request refused", "The request came from another site.")
		return false
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		h.fail(w, r, s, http.StatusForbidden, "Request refused", "The request came from another site.")
		return false
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var given string
	if isJSON(r) {
		if mt != "application/json" {
			h.fail(w, r, s, http.StatusUnsupportedMediaType, "Unsupported content type", "Send application/json.")
			return false
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxJSONBody)
		given = r.Header.Get(csrfHeader)
	} else {
		if mt != "application/x-www-form-urlencoded" {
			h.fail(w, r, s, http.StatusUnsupportedMediaType, "Unsupported content type", "Send the form from the page.")
			return false
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
		if err := r.ParseForm(); err != nil {
			h.fail(w, r, s, http.StatusBadRequest, "Bad request", "The form could not be read.")
			return false
		}
		given = r.PostForm.Get("csrf")
	}
	if s.CSRF == "" || subtle.ConstantTimeCompare([]byte(given), []byte(s.CSRF)) != 1 {
		h.fail(w, r, s, http.StatusForbidden, "Request not confirmed",
			"The request could not be verified. Reload the page and try again.")
		return false
	}
	return true
}

// formOrQuery reads a parameter from a parsed form or the query.
func formOrQuery(r *http.Request, name string) string {
	if r.PostForm != nil {
		if v := r.PostForm.Get(name); v != "" {
			return v
		}
	}
	return r.URL.Query().Get(name)
}

// safeRD returns rd when it is a same-origin path, and "/" otherwise. It is checked after
// parsing, so that "//host", "/\host", encoded or whitespace variants, schemes and userinfo
// never leave the origin.
func safeRD(rd string) string {
	if rd == "" || len(rd) > 2048 || rd[0] != '/' || strings.HasPrefix(rd, "//") || strings.HasPrefix(rd, "/\\") {
		return "/"
	}
	for i := range len(rd) {
		if c := rd[i]; c <= ' ' || c == 0x7f || c == '\\' || c >= 0x80 {
			return "/"
		}
	}
	u, err := url.Parse(rd)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || u.Fragment != "" {
		return "/"
	}
	// A decoded path that starts with "//" or "/\" would turn into another origin in some
	// clients once decoded.
	if strings.HasPrefix(u.Path, "//") || strings.HasPrefix(u.Path, "/\\") {
		return "/"
	}
	return rd
}

// withRD appends rd to a gate path.
func withRD(path, rd string) string {
	if rd == "" || rd == "/" {
		return path
	}
	return path + "?rd=" + url.QueryEscape(rd)
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}
