package proxy

import (
	"context"
	"net/http"
	"net/netip"
	"net/url"
	"strings"

	"github.com/tollgate/tollgate/idp/mfa"
	"github.com/tollgate/tollgate/idp/session"
	"github.com/tollgate/tollgate/policy"
	"github.com/tollgate/tollgate/proxy/canon"
)

// The access check is shared by the two ways a request reaches the gate: through its own chain
// (steps.go) or as a question from a front proxy (forwardauth.go). Whatever differs between the
// two is how the answer is written, never how it is reached.

// factorMissing reports whether a session must prove its second factor before it reaches
// anything but the second-factor pages.
func (g *Gate) factorMissing(s *session.Session) bool {
	return g.cfg.RequireMFA && s.MFAAt.IsZero()
}

// decide asks the policy about st's canonical request on behalf of st's session, with
// everything a condition may look at, and records the outcome on st and in the metrics. An
// error means the policy could not decide, and is never an allow.
func (g *Gate) decide(ctx context.Context, st *reqState) (policy.Decision, error) {
	ip, _ := netip.ParseAddr(st.clientIP)
	d, err := g.deps.Decider.Decide(ctx, policy.Request{
		Method: st.target.Method, Path: st.target.Path, Roles: st.sess.Roles, Subject: st.sess.Identity.Subject,
		ClientIP: ip.Unmap(), Now: g.deps.Now(), MFAAt: st.sess.MFAAt, Owns: st.sess.Owns,
	})
	if err != nil {
		st.effect = "error"
		g.deps.Log.Error("policy decision failed", "request_id", st.id, "err", err)
		return policy.Decision{}, err
	}
	st.decisionVal = d
	st.decision = &st.decisionVal
	st.route = routeLabel(d)
	st.effect = "deny"
	if d.Allow {
		st.effect = "allow"
	}
	g.deps.Metrics.decisions.WithLabelValues(st.effect, d.Reason).Inc()
	return d, nil
}

// undecided answers a request the policy could not decide on.
func (g *Gate) undecided(w http.ResponseWriter, r *http.Request, st *reqState) {
	g.errorPage(w, r, st, http.StatusServiceUnavailable, "Temporarily unavailable",
		"The gate could not check your access right now. Try again in a moment.")
}

// returnTo is where a person comes back to after signing in or proving a factor: the canonical
// path and query that was asked for.
func returnTo(t canon.Target) string {
	if t.RawQuery == "" {
		return t.Path
	}
	return t.Path + "?" + t.RawQuery
}

// stepUpLink is where a session proves its second factor again, and comes back from: the
// gate's own factor pages when they serve this person, else a new sign-in at the IdP. A form
// that was being posted is not replayed: the person returns to the page it was on (its
// Referer, when that is on origin), or to the start page.
func (g *Gate) stepUpLink(s *session.Session, method, referer string, t canon.Target) string {
	back := returnTo(t)
	if method != http.MethodGet && method != http.MethodHead {
		back = "/"
		if ref, err := url.Parse(referer); err == nil && ref.Host == g.public.Host {
			back = safeRedirect(ref.RequestURI())
		}
	}
	if g.deps.MFA != nil && g.cfg.MFAMode != "idp" && g.cfg.MFAMode != "" && s.UserID != "" {
		return mfa.PathVerify + "?rd=" + url.QueryEscape(back)
	}
	return reservedPrefix + "login?rd=" + url.QueryEscape(back)
}

// setIdentity sets what the application is told about the person behind st: on the forwarded
// request, or on a forward-auth answer that the front proxy copies onto it.
// The keys were canonicalized once, in New, as Header.Set would.
func (g *Gate) setIdentity(b *headerBatch, st *reqState) {
	k, s := &g.identity, st.sess
	roles := strings.Join(s.Roles, ",")
	b.set(k.user, headerValue(s.Identity.Subject))
	b.set(k.email, headerValue(s.Identity.Email))
	b.set(k.name, headerValue(s.Identity.Name))
	b.set(k.roles, roles)
	b.set(k.csrf, s.CSRF)
	if g.assert == nil {
		return
	}
	tok, err := g.assert.token(s, roles)
	if err != nil {
		// Without its assertion the request would look forged to an application that checks;
		// send none, the application refuses, and the log says why.
		g.deps.Log.Error("identity assertion not signed", "request_id", st.id, "err", err)
		return
	}
	b.set(k.assertion, tok)
}

// identityHeaders are the canonical names of the headers setIdentity sets.
type identityHeaders struct {
	user, email, name, roles, csrf, assertion string
}

func newIdentityHeaders(c HeaderConfig, a *assertions) identityHeaders {
	k := identityHeaders{user: http.CanonicalHeaderKey(c.User), email: http.CanonicalHeaderKey(c.Email),
		name: http.CanonicalHeaderKey(c.Name), roles: http.CanonicalHeaderKey(c.Roles), csrf: http.CanonicalHeaderKey(c.CSRF)}
	if a != nil {
		k.assertion = http.CanonicalHeaderKey(a.header)
	}
	return k
}
