package proxy

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/idp/mfa"
	"github.com/tollgate/tollgate/policy"
)

//go:embed pages/page.html
var pageHTML string

//go:embed pages/gate.css
var gateCSS []byte

var pageTmpl = template.Must(template.New("page").Parse(pageHTML))

// page is everything the gate's one page template can show.
type page struct {
	Title       string
	Message     string
	RequestID   string
	NeededRoles []string
	Link        string
	LinkText    string
	ShowLogout  bool
	LogoutCSRF  string
}

// securityHeaders go on every page the gate serves itself: no script runs, nothing frames it,
// and nothing caches it. Behind an https public URL, browsers are also told never to use plain
// http for the gate again, so that a network attacker cannot strip TLS from a later visit.
func securityHeaders(h http.Header, hsts bool) {
	if hsts {
		h.Set("Strict-Transport-Security", hstsValue)
	}
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: with no-referrer browsers send "Origin: null" on the
	// page's own form posts, and the sign-out form would be refused as cross-site.
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

// hstsValue is one year, without includeSubDomains: the gate owns its origin, not its siblings.
const hstsValue = "max-age=31536000"

// hsts reports whether the gate's pages send Strict-Transport-Security: when browsers reach it
// over https, whether the gate or a proxy in front of it terminates TLS.
func (g *Gate) hsts() bool { return g.public.Scheme == "https" }

func (g *Gate) render(w http.ResponseWriter, status int, p page) {
	securityHeaders(w.Header(), g.hsts())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, p) // a failed write means the client left
}

// errorPage answers a browser with a page and an API client with problem details; both carry
// the request id that finds the log line, and neither carries internal detail.
func (g *Gate) errorPage(w http.ResponseWriter, r *http.Request, st *reqState, status int, title, msg string) {
	g.errorPageLink(w, r, st, status, title, msg, "", "")
}

func (g *Gate) errorPageLink(w http.ResponseWriter, r *http.Request, st *reqState, status int, title, msg, link, linkText string) {
	if wantsJSON(r) {
		g.problem(w, st, status, title, msg)
		return
	}
	g.render(w, status, page{Title: title, Message: msg, RequestID: st.id, Link: link, LinkText: linkText})
}

// forbidden explains a denial: which roles would be needed, or that the person has none yet.
func (g *Gate) forbidden(w http.ResponseWriter, r *http.Request, st *reqState, d policy.Decision) {
	if d.Reason == policy.ReasonMFAStale {
		g.stepUp(w, r, st, d)
		return
	}
	title, msg := "Access denied", "Your role does not allow this action."
	if len(st.sess.Roles) == 0 {
		title, msg = "No access yet", "You are signed in, but no role has been given to you yet. Ask your administrator for access."
	}
	if wantsJSON(r) {
		detail := msg
		if len(d.NeededRoles) > 0 {
			detail += " Roles that may: " + strings.Join(d.NeededRoles, ", ") + "."
		}
		g.problem(w, st, http.StatusForbidden, title, detail)
		return
	}
	g.render(w, http.StatusForbidden, page{Title: title, Message: msg, RequestID: st.id, NeededRoles: d.NeededRoles,
		Link: "/", LinkText: "Back to the start page", ShowLogout: true, LogoutCSRF: st.sess.CSRF})
}

// problem writes RFC 9457 problem details.
func (g *Gate) problem(w http.ResponseWriter, st *reqState, status int, title, detail string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if g.hsts() {
		h.Set("Strict-Transport-Security", hstsValue)
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Type      string `json:"type"`
		Title     string `json:"title"`
		Status    int    `json:"status"`
		Detail    string `json:"detail"`
		RequestID string `json:"request_id"`
	}{"about:blank", title, status, detail, st.id})
}

// wantsJSON tells API clients from browsers: they ask for JSON and not for HTML.
func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	if r.Header.Get("X-Requested-With") != "" {
		return true
	}
	return strings.Contains(accept, "json") && !strings.Contains(accept, "text/html")
}

func serveCSS(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/css; charset=utf-8")
	w.Header().Set("Cache-Control", "public, max-age=3600")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(gateCSS)
}

// stepUp answers a request that the policy allows only with a fresher second factor. The
// person proves it again by signing in again, and comes back to the page; a form they were
// posting is not replayed: they submit it again, knowingly.
func (g *Gate) stepUp(w http.ResponseWriter, r *http.Request, st *reqState, d policy.Decision) {
	link := g.stepUpLink(st.sess, r.Method, r.Header.Get("Referer"), st.target)
	msg := fmt.Sprintf("This action needs a second factor proven within the last %s. Sign in again with your second factor, then repeat the action.", d.MFAMaxAge)
	if strings.HasPrefix(link, mfa.PathVerify) {
		msg = fmt.Sprintf("This action needs a second factor proven within the last %s. Confirm it, then repeat the action.", d.MFAMaxAge)
	}
	if wantsJSON(r) {
		w.Header().Set("WWW-Authenticate", `Cookie realm="tollgate", error="insufficient_user_authentication", max_age=`+fmt.Sprint(int(d.MFAMaxAge.Seconds())))
		g.problem(w, st, http.StatusUnauthorized, "Step-up required", msg)
		return
	}
	g.render(w, http.StatusUnauthorized, page{Title: "Confirm it is you", Message: msg, RequestID: st.id,
		Link: link, LinkText: "Confirm with your second factor"})
}
