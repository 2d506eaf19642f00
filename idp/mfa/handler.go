package mfa

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tollgate/tollgate/audit"
	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/session"
)

// Directory is the durable store of second-factor material.
type Directory interface {
	PutSecret(ctx context.Context, userID, kind string, data []byte) error
	GetSecret(ctx context.Context, userID, kind string) ([]byte, error)
	PutRecoveryCodes(ctx context.Context, userID string, hashes []string) error
	UseRecoveryCode(ctx context.Context, userID, hash string) (bool, error)
	UpdateUser(ctx context.Context, id string, fn func(*directory.User) error) (before, after directory.User, err error)
	// ExportUser is read for the account page: when each secret was stored and how many
	// recovery codes are left.
	ExportUser(ctx context.Context, id string) (directory.Export, error)
}

// Guard holds replay guards and attempt counters that every replica shares.
type Guard interface {
	Claim(ctx context.Context, key string, ttl time.Duration) (bool, error)
	Incr(ctx context.Context, key string, window time.Duration) (int64, error)
	Peek(ctx context.Context, key string) (int64, time.Time, error)
	Reset(ctx context.Context, key string) error
}

// Once keeps short-lived values bound to a session: a pending enrolment, a WebAuthn ceremony.
type Once interface {
	PutOnce(ctx context.Context, key string, value []byte, ttl time.Duration) error
	TakeOnce(ctx context.Context, key string) ([]byte, error)
}

// Sessions lists and ends a person's sessions, for the account page.
type Sessions interface {
	ListUser(ctx context.Context, userKey string) ([]session.Info, error)
	DeleteByID(ctx context.Context, userKey, id string) error
}

// Auditor receives one record per event.
type Auditor interface {
	Write(r audit.Record) error
}

var (
	_ Directory = (*directory.SQLStore)(nil)
	_ Guard     = (*session.RedisStore)(nil)
	_ Guard     = (*session.EmbeddedStore)(nil)
	_ Once      = (*session.RedisStore)(nil)
	_ Once      = (*session.EmbeddedStore)(nil)
	_ Sessions  = (*session.RedisStore)(nil)
	_ Sessions  = (*session.EmbeddedStore)(nil)
	_ Auditor   = (*audit.Writer)(nil)
)

// Deps are the handler's collaborators. Directory, Guard, Once, Sessions, Audit and Proven are
// required unless the mode is "idp" (then only Sessions and Audit are used).
type Deps struct {
	Directory  Directory
	Guard      Guard
	Once       Once
	Sessions   Sessions
	Audit      Auditor
	Registerer prometheus.Registerer // nil: the counter is not registered
	// Proven marks the session's second factor as proven now (the gate sets its MFAAt). It is
	// called after a successful enrolment, verification or passkey login, before the
	// response is written, so it may set cookies; the handler then sends the person to rd.
	Proven func(ctx context.Context, w http.ResponseWriter, r *http.Request, method string) error
	Now    func() time.Time // nil: time.Now
	Log    *slog.Logger     // nil: discard
	Rand   io.Reader        // nil: crypto/rand
}

// Subject is who is proving a factor, built by the gate from the session.
type Subject struct {
	UserID string // the directory user id; "" when the person has no directory account
	// UserKey is the session index key (idp.Identity.UserKey), for listing and ending the
	// person's sessions.
	UserKey     string
	Email, Name string
	SessionID   string // session.Session.ID: the hashed id, never the token
	CSRF        string // the session's CSRF token; every POST carries it as "csrf"
	MFAAt       time.Time
	ClientIP    string
	RequestID   string
	UserAgent   string
}

// Handler serves the second-factor pages and endpoints.
type Handler struct {
	cfg     Config
	deps    Deps
	seal    *sealer // nil when the gate's factor is off
	wa      *webauthn.WebAuthn
	origin  string
	metrics *prometheus.CounterVec
	routes  map[string]route
}

// route serves one method and path.
type route func(w http.ResponseWriter, r *http.Request, s Subject)

// New checks cfg and deps, loads the keys and prepares WebAuthn. Everything that can fail does
// so here rather than on a request.
func New(cfg Config, deps Deps) (*Handler, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var missing []error
	need := map[string]bool{"Sessions": deps.Sessions != nil, "Audit": deps.Audit != nil}
	if cfg.GateFactor() {
		need["Directory"], need["Guard"], need["Once"], need["Proven"] =
			deps.Directory != nil, deps.Guard != nil, deps.Once != nil, deps.Proven != nil
	}
	for name, ok := range need {
		if !ok {
			missing = append(missing, fmt.Errorf("mfa.New: Deps.%s is required", name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, err
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Rand == nil {
		deps.Rand = rand.Reader
	}
	h := &Handler{cfg: cfg, deps: deps}
	if pub, err := parseOrigin(cfg.PublicURL); err == nil {
		h.origin = pub.Scheme + "://" + pub.Host
	}
	if cfg.GateFactor() {
		keys, err := loadKeys(cfg)
		if err != nil {
			return nil, err
		}
		if h.seal, err = newSealer(keys, deps.Rand); err != nil {
			return nil, err
		}
	}
	if cfg.WebAuthn.Enabled {
		wa, err := webauthn.New(&webauthn.Config{
			RPID: cfg.WebAuthn.RPID, RPDisplayName: cfg.Issuer, RPOrigins: cfg.WebAuthn.Origins,
		})
		if err != nil {
			return nil, fmt.Errorf("mfa: webauthn: %w", err)
		}
		h.wa = wa
	}
	var err error
	if h.metrics, err = newMetrics(deps.Registerer); err != nil {
		return nil, err
	}
	h.routes = h.routeTable()
	return h, nil
}

// Paths the handler serves.
const (
	PathPrefix  = "/_tollgate/mfa/"
	PathAccount = "/_tollgate/account"
	PathEnroll  = PathPrefix + "enroll"
	PathVerify  = PathPrefix + "verify"

	pathQR             = PathEnroll + "/qr.png"
	pathRecovery       = PathPrefix + "recovery"
	pathCSS            = PathPrefix + "assets/mfa.css"
	pathJS             = PathPrefix + "assets/webauthn.js"
	pathRegisterBegin  = PathPrefix + "webauthn/register/begin"
	pathRegisterFinish = PathPrefix + "webauthn/register/finish"
	pathLoginBegin     = PathPrefix + "webauthn/login/begin"
	pathLoginFinish    = PathPrefix + "webauthn/login/finish"
	pathSignOutOthers  = PathAccount + "/sessions/sign-out-others"
	pathRegenerate     = PathAccount + "/recovery-codes"
	pathRemovePasskey  = PathAccount + "/passkeys/remove"
)

func (h *Handler) routeTable() map[string]route {
	rt := map[string]route{
		"GET " + pathCSS:            serveAsset(mfaCSS, "text/css; charset=utf-8"),
		"GET " + pathJS:             serveAsset(webauthnJS, "text/javascript; charset=utf-8"),
		"GET " + PathAccount:        h.getAccount,
		"POST " + pathSignOutOthers: h.postSignOutOthers,
	}
	if !h.cfg.GateFactor() {
		return rt
	}
	for k, v := range map[string]route{
		"GET " + PathEnroll:         h.getEnroll,
		"POST " + PathEnroll:        h.postEnroll,
		"GET " + pathQR:             h.getQR,
		"GET " + PathVerify:         h.getVerify,
		"POST " + PathVerify:        h.postVerify,
		"POST " + pathRecovery:      h.postRecovery,
		"POST " + pathRegenerate:    h.postRegenerate,
		"POST " + pathRemovePasskey: h.postRemovePasskey,
	} {
		rt[k] = v
	}
	if h.wa != nil {
		rt["POST "+pathRegisterBegin] = h.postRegisterBegin
		rt["POST "+pathRegisterFinish] = h.postRegisterFinish
		rt["POST "+pathLoginBegin] = h.postLoginBegin
		rt["POST "+pathLoginFinish] = h.postLoginFinish
	}
	return rt
}

// Serve serves everything under /_tollgate/mfa/ and /_tollgate/account for the signed-in
// person s. r.URL.Path must be the canonical path.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request, s Subject) {
	method := r.Method
	if method == http.MethodHead {
		method = http.MethodGet
	}
	if rt, ok := h.routes[method+" "+r.URL.Path]; ok {
		if s.UserID == "" && r.URL.Path != PathAccount && r.URL.Path != pathCSS && r.URL.Path != pathJS {
			h.page(w, r, s, http.StatusForbidden, view{Page: "message", Title: "No account for second factors",
				Message: "Your sign-in has no account in the gate's directory, so a second factor cannot be kept for it. Ask your administrator."})
			return
		}
		rt(w, r, s)
		return
	}
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		if _, ok := h.routes[m+" "+r.URL.Path]; ok {
			w.Header().Set("Allow", m)
			h.fail(w, r, s, http.StatusMethodNotAllowed, "Method not allowed", "This page does not accept that request.")
			return
		}
	}
	h.fail(w, r, s, http.StatusNotFound, "Not found", "There is no such page.")
}

// Enrolled reports whether the user has a gate factor: a TOTP secret or a passkey.
func (h *Handler) Enrolled(ctx context.Context, userID string) (bool, error) {
	if !h.cfg.GateFactor() || userID == "" {
		return false, nil
	}
	f, err := h.factors(ctx, userID)
	if err != nil {
		return false, err
	}
	return f.any(), nil
}

// NextStep is where the gate sends a session that lacks its factor: the enrolment page for a
// user without one, the verification page otherwise. When the store cannot answer it names
// the verification page, which then reports the outage; it never skips the factor.
func (h *Handler) NextStep(ctx context.Context, userID string) string {
	if ok, err := h.Enrolled(ctx, userID); err == nil && !ok {
		return PathEnroll
	}
	return PathVerify
}

// factorSet is what the user has enrolled.
type factorSet struct {
	totp      *totpRecord
	totpStale bool // sealed with an old key
	passkeys  []passkey
	keysStale bool
}

func (f factorSet) any() bool { return f.totp != nil || len(f.passkeys) > 0 }

// factors reads the user's TOTP record and passkeys. A missing secret is no factor; a store
// error or a secret that does not open is an error.
func (h *Handler) factors(ctx context.Context, userID string) (factorSet, error) {
	var f factorSet
	blob, err := h.deps.Directory.GetSecret(ctx, userID, kindTOTP)
	switch {
	case errors.Is(err, directory.ErrNotFound):
	case err != nil:
		return factorSet{}, fmt.Errorf("mfa: read TOTP secret: %w", err)
	default:
		rec, current, err := h.loadTOTP(userID, blob)
		if err != nil {
			return factorSet{}, err
		}
		f.totp, f.totpStale = &rec, !current
	}
	// Passkeys count even when WebAuthn has been turned off since: otherwise their owner would
	// be offered enrolment, which is open to whoever holds their IdP account.
	f.passkeys, err = h.loadPasskeys(ctx, userID)
	if err != nil {
		return factorSet{}, err
	}
	return f, nil
}

// attemptsKey counts a user's failed codes, on every replica.
func attemptsKey(userID string) string { return "mfa-attempts:" + userID }

// replayKey marks a TOTP step as used by the user.
func replayKey(userID string, step int64) string { return fmt.Sprintf("totp:%s:%d", userID, step) }

// onceKey binds a pending value to one session.
func onceKey(what, sessionID string) string { return "mfa:" + what + ":" + sessionID }
