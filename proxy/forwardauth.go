package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy/canon"
)

// Forward-auth mode: a front proxy that keeps its own routing (nginx auth_request, Traefik
// forwardAuth, Caddy forward_auth, Envoy ext_authz over HTTP) asks the gate about each request
// and forwards it itself. The gate decides exactly as it does for requests it forwards; only
// the way the answer is written differs: 200 with the identity headers for the front proxy to
// copy, 401 with where to sign in, 403, or 503.

// forwardAuthPath is the decision endpoint. Envoy appends the original path to it.
const forwardAuthPath = reservedPrefix + "auth"

// loginHeader repeats a 401's Location: nginx's auth_request passes on nothing but the status,
// and its error_page reads the redirect target from this header (auth_request_set).
const loginHeader = "X-Tollgate-Login"

// ForwardAuthConfig is the `gate.forward_auth` section.
type ForwardAuthConfig struct {
	// TrustedProxies are the front proxies (CIDRs or addresses) that may ask. They name the
	// request to decide on in headers, so nobody else may: with none (the default) the
	// endpoint refuses every caller.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Validate reports every problem at once.
func (c ForwardAuthConfig) Validate() error {
	var errs []error
	for i, s := range c.TrustedProxies {
		p, err := parseTrusted([]string{s})
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("gate.forward_auth.trusted_proxies[%d]: %q is neither a CIDR (10.0.0.0/8) nor an address", i, s))
		case p[0].Bits() == 0:
			errs = append(errs, fmt.Errorf("gate.forward_auth.trusted_proxies[%d]: %q would let every address name the request to decide on; list the front proxies' own addresses", i, s))
		}
	}
	return errors.Join(errs...)
}

// forwardAuth answers the front proxies' questions.
type forwardAuth struct {
	g *Gate
	// askers may ask; hops are also believed about the client address in X-Forwarded-For.
	askers, hops trustedProxies
	decision     http.Handler // audited like any request the gate serves
}

// routeForwardAuth adds the decision endpoint to the gate's own routes, for every method:
// Envoy asks with the original one.
func (g *Gate) routeForwardAuth(mux *http.ServeMux) {
	fa := &forwardAuth{g: g}
	fa.askers, _ = parseTrusted(g.cfg.ForwardAuth.TrustedProxies) // checked by Validate
	fa.hops = append(slices.Clone(g.trusted), fa.askers...)
	fa.decision = g.auditAccess(http.HandlerFunc(fa.decide))
	mux.Handle(forwardAuthPath, fa)
	mux.Handle(forwardAuthPath+"/", fa)
}

func (fa *forwardAuth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g, st := fa.g, state(r)
	st.route, st.effect = "_tollgate/auth", "invalid"
	if !fa.askers.contains(peerAddr(r)) {
		// Never a fallback to trusting the caller: whoever may ask chooses what is decided.
		st.effect = "deny"
		g.deps.Log.Warn("forward-auth request refused: the peer is not in gate.forward_auth.trusted_proxies",
			"request_id", st.id, "peer", r.RemoteAddr)
		g.errorPage(w, r, st, http.StatusForbidden, "Forbidden", "forward-auth is not enabled for this address")
		return
	}
	t, err := originalRequest(r)
	if err != nil {
		msg := "The request could not be understood."
		var ce *canon.Error
		var ae *askError
		switch {
		case errors.As(err, &ce):
			msg = "The request was refused: " + ce.Reason + "."
		case errors.As(err, &ae):
			msg = "The front proxy's question was refused: " + ae.reason + "."
		}
		g.deps.Log.Warn("forward-auth request refused", "request_id", st.id, "peer", r.RemoteAddr, "err", err)
		g.errorPage(w, r, st, http.StatusBadRequest, "Bad request", msg)
		return
	}
	st.target = t
	st.clientIP = fa.hops.clientIP(r)
	fa.decision.ServeHTTP(w, r)
}

// peerAddr is the TCP peer; the zero Addr (in no network) when it cannot be read.
func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}
	}
	a, _ := netip.ParseAddr(host)
	return a
}

// askError says why a front proxy's question names no single request. Its reason is safe to
// show: it never echoes the request.
type askError struct{ reason string }

func (e *askError) Error() string { return "forward-auth: " + e.reason }

// The headers in which front proxies name the original request.
var (
	methodHeaders = []string{"X-Original-Method", "X-Forwarded-Method"} // nginx; Traefik, Caddy
	uriHeaders    = []string{"X-Original-Uri", "X-Forwarded-Uri"}       // nginx; Traefik, Caddy
)

// originalRequest is the request the front proxy asks about, in canonical form. Every source
// present must name the same method and the same target, so that a header a client slipped
// past its front proxy can make the question fail, never change it.
func originalRequest(r *http.Request) (canon.Target, error) {
	var methods, uris []string
	for _, src := range []struct {
		names []string
		into  *[]string
	}{{methodHeaders, &methods}, {uriHeaders, &uris}} {
		for _, name := range src.names {
			switch vs := r.Header.Values(name); len(vs) {
			case 0:
			case 1:
				*src.into = append(*src.into, vs[0])
			default:
				return canon.Target{}, &askError{name + " is repeated"}
			}
		}
	}
	// Envoy's ext_authz appends the original path and query to the endpoint and keeps the
	// original method. The raw target is read, not the canonical one: canonicalizing the whole
	// would let dot segments of the original path climb into the endpoint's own.
	if r.URL.Path != forwardAuthPath {
		rest, ok := strings.CutPrefix(r.RequestURI, forwardAuthPath)
		if !ok || !strings.HasPrefix(rest, "/") {
			return canon.Target{}, &askError{"the original path must follow " + forwardAuthPath + " as it is"}
		}
		methods, uris = append(methods, r.Method), append(uris, rest)
	}
	switch {
	case len(uris) == 0:
		return canon.Target{}, &askError{"no original URI (X-Original-URI, X-Forwarded-Uri, or a path after " + forwardAuthPath + ")"}
	case len(methods) == 0:
		// The method the question arrives with is the front proxy's own (nginx asks with GET
		// whatever the client sent): deciding on it would let any method pass as GET.
		return canon.Target{}, &askError{"no original method (X-Original-Method or X-Forwarded-Method)"}
	case !allSame(methods):
		return canon.Target{}, &askError{"the original method is named differently by two sources"}
	case !allSame(uris):
		return canon.Target{}, &askError{"the original URI is named differently by two sources"}
	}
	return canon.Request(methods[0], uris[0])
}

func allSame(vs []string) bool {
	for _, v := range vs[1:] {
		if v != vs[0] {
			return false
		}
	}
	return true
}

// decide runs the gate's steps for the original request: session, second factor, policy.
func (fa *forwardAuth) decide(w http.ResponseWriter, r *http.Request) {
	g, st := fa.g, state(r)
	token := g.sessionToken(r)
	if token == "" {
		fa.signIn(w, r, st)
		return
	}
	sess, err := g.deps.Sessions.Get(r.Context(), token)
	switch {
	case errors.Is(err, session.ErrNotFound):
		g.clearCookie(w, g.cookie.session)
		fa.signIn(w, r, st)
		return
	case err != nil:
		g.storeFailed(w, r, st, err)
		return
	}
	sess, ok := fa.refresh(w, r, st, token, sess)
	if !ok {
		return
	}
	st.token, st.sess = token, &sess
	g.markSeen(r.Context(), sess.UserID)
	if g.factorMissing(st.sess) {
		fa.factorPending(w, r, st)
		return
	}
	d, err := g.decide(r.Context(), st)
	switch {
	case err != nil:
		g.undecided(w, r, st)
	case d.Reason == policy.ReasonMFAStale:
		fa.stepUp(w, r, st, d)
	case !d.Allow:
		g.forbidden(w, r, st, d)
	default:
		// The front proxy will forward the request: its record must be keepable first.
		if err := g.accepts(audit.EventTypeAllowed); err != nil {
			g.auditUnavailable(w, r, st, err)
			return
		}
		var b headerBatch
		g.setIdentity(&b, st)
		b.apply(w.Header(), st.headerVals[:])
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	}
}

// refresh renews expired IdP tokens exactly as the gate does for its own requests. That step
// answers its refusals itself, for a browser at the gate; here they must become forward-auth
// answers, so its answer is discarded, and st.effect tells what it was: "unauthenticated" when
// the IdP refused and the session ended, anything else when the store could not answer. It
// sees the question as an API client's, so that a refusal never starts a login that nobody
// would follow.
func (fa *forwardAuth) refresh(w http.ResponseWriter, r *http.Request, st *reqState, token string, s session.Session) (session.Session, bool) {
	api := r.Clone(r.Context())
	api.Header.Set("X-Requested-With", "tollgate-forward-auth")
	s, ok := fa.g.maybeRefresh(&discardWriter{}, api, st, token, s)
	switch {
	case ok:
	case st.effect == "unauthenticated":
		fa.g.clearCookie(w, fa.g.cookie.session)
		fa.signIn(w, r, st)
	default:
		fa.g.errorPage(w, r, st, http.StatusServiceUnavailable, "Temporarily unavailable",
			"The gate cannot reach its session store right now. Your session is kept; try again in a moment.")
	}
	return s, ok
}

// signIn answers a request without a session.
func (fa *forwardAuth) signIn(w http.ResponseWriter, r *http.Request, st *reqState) {
	st.effect = "unauthenticated"
	fa.unauthorized(w, r, st, reservedPrefix+"login?rd="+url.QueryEscape(returnTo(st.target)),
		`Cookie realm="tollgate"`, "Sign in required", "Sign in to continue.", "Sign in")
}

// factorPending answers a session that has not proven its second factor: sent to the gate's
// factor pages when they serve this person; refused as at the gate otherwise.
func (fa *forwardAuth) factorPending(w http.ResponseWriter, r *http.Request, st *reqState) {
	g := fa.g
	if g.deps.MFA == nil || st.sess.UserID == "" {
		g.factorPending(w, r, st)
		return
	}
	st.effect = "mfa-required"
	next := g.deps.MFA.NextStep(r.Context(), st.sess.UserID) + "?rd=" + url.QueryEscape(returnTo(st.target))
	fa.unauthorized(w, r, st, next, `Cookie realm="tollgate"`, "Second factor required",
		"Prove your second factor to continue.", "Continue")
}

// stepUp answers a request that the policy allows only with a fresher second factor.
func (fa *forwardAuth) stepUp(w http.ResponseWriter, r *http.Request, st *reqState, d policy.Decision) {
	link := fa.g.stepUpLink(st.sess, st.target.Method, r.Header.Get("Referer"), st.target)
	fa.unauthorized(w, r, st, link,
		fmt.Sprintf(`Cookie realm="tollgate", error="insufficient_user_authentication", max_age=%d`, int(d.MFAMaxAge.Seconds())),
		"Step-up required",
		fmt.Sprintf("This action needs a second factor proven within the last %s. Confirm it, then repeat the action.", d.MFAMaxAge),
		"Confirm with your second factor")
}

// unauthorized answers 401 with where to go, as an absolute URL on the public origin (the
// front proxy routes /_tollgate/ to the gate). nginx redirects there from loginHeader; front
// proxies that relay the answer show the page, whose link leads there.
func (fa *forwardAuth) unauthorized(w http.ResponseWriter, r *http.Request, st *reqState, path, challenge, title, msg, linkText string) {
	g := fa.g
	loc := g.origin() + path
	h := w.Header()
	h.Set("Location", loc)
	h.Set(loginHeader, loc)
	h.Set("WWW-Authenticate", challenge)
	if wantsJSON(r) {
		g.problem(w, st, http.StatusUnauthorized, title, msg)
		return
	}
	g.render(w, http.StatusUnauthorized, page{Title: title, Message: msg, RequestID: st.id, Link: loc, LinkText: linkText})
}

// discardWriter takes an answer nobody will read.
type discardWriter struct{ h http.Header }

func (d *discardWriter) Header() http.Header {
	if d.h == nil {
		d.h = http.Header{}
	}
	return d.h
}

func (d *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardWriter) WriteHeader(int)             {}
