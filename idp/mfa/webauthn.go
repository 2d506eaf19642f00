package mfa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/session"
)

// Passkeys and security keys, as a second factor. Credentials are kept in the directory as one
// sealed JSON list per user (kind "webauthn"); each ceremony's challenge is kept, sealed, in the
// session store under the session id, for ceremonyTTL, and taken exactly once.

const (
	ceremonyTTL = 5 * time.Minute
	maxPasskeys = 10
	// freshFor is how recently a factor must have been proven to change factors or codes.
	freshFor = 5 * time.Minute
)

// passkey is one registered credential with what the account page shows about it.
type passkey struct {
	Name       string              `json:"name"`
	CreatedAt  time.Time           `json:"created_at"`
	LastUsed   time.Time           `json:"last_used,omitzero"`
	Credential webauthn.Credential `json:"credential"`
}

// waUser is the person as the WebAuthn library sees them. The user handle is the directory
// id: opaque, stable, and no personal data.
type waUser struct {
	s     Subject
	creds []webauthn.Credential
}

func (u waUser) WebAuthnID() []byte { return []byte(u.s.UserID) }
func (u waUser) WebAuthnName() string {
	if u.s.Email != "" {
		return u.s.Email
	}
	return u.s.UserID
}
func (u waUser) WebAuthnDisplayName() string {
	if u.s.Name != "" {
		return u.s.Name
	}
	return u.WebAuthnName()
}
func (u waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newWAUser(s Subject, keys []passkey) waUser {
	u := waUser{s: s}
	for _, k := range keys {
		u.creds = append(u.creds, k.Credential)
	}
	return u
}

// loadPasskeys reads the user's passkeys. A list sealed with an old key is sealed again with
// the current one at the next passkey login, which stores the list anyway.
func (h *Handler) loadPasskeys(ctx context.Context, userID string) ([]passkey, error) {
	blob, err := h.deps.Directory.GetSecret(ctx, userID, kindWebAuthn)
	if errors.Is(err, directory.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("mfa: read passkeys: %w", err)
	}
	plain, _, err := h.seal.open(userID, kindWebAuthn, blob)
	if err != nil {
		return nil, err
	}
	var keys []passkey
	if err := json.Unmarshal(plain, &keys); err != nil {
		return nil, fmt.Errorf("mfa: damaged passkey list for %s: %w", userID, err)
	}
	return keys, nil
}

func (h *Handler) storePasskeys(ctx context.Context, userID string, keys []passkey) error {
	if keys == nil {
		keys = []passkey{}
	}
	plain, err := json.Marshal(keys)
	if err != nil {
		return fmt.Errorf("mfa: encode passkeys: %w", err)
	}
	sealed, err := h.seal.seal(userID, kindWebAuthn, plain)
	if err != nil {
		return err
	}
	if err := h.deps.Directory.PutSecret(ctx, userID, kindWebAuthn, sealed); err != nil {
		return fmt.Errorf("mfa: store passkeys: %w", err)
	}
	return nil
}

// fresh reports whether the session proved a factor recently enough to change factors.
func (h *Handler) fresh(s Subject) bool {
	return !s.MFAAt.IsZero() && h.deps.Now().Sub(s.MFAAt) <= freshFor
}

// ceremony keeps or takes the WebAuthn session data of one ceremony of this session.
func (h *Handler) putCeremony(ctx context.Context, s Subject, kind string, sd *webauthn.SessionData) error {
	plain, err := json.Marshal(sd)
	if err != nil {
		return fmt.Errorf("mfa: encode ceremony: %w", err)
	}
	sealed, err := h.seal.seal(s.UserID, "ceremony:"+kind+":"+s.SessionID, plain)
	if err != nil {
		return err
	}
	return h.deps.Once.PutOnce(ctx, onceKey(kind, s.SessionID), sealed, ceremonyTTL)
}

func (h *Handler) takeCeremony(ctx context.Context, s Subject, kind string) (webauthn.SessionData, error) {
	blob, err := h.deps.Once.TakeOnce(ctx, onceKey(kind, s.SessionID))
	if err != nil {
		return webauthn.SessionData{}, err
	}
	plain, _, err := h.seal.open(s.UserID, "ceremony:"+kind+":"+s.SessionID, blob)
	if err != nil {
		return webauthn.SessionData{}, err
	}
	var sd webauthn.SessionData
	if err := json.Unmarshal(plain, &sd); err != nil {
		return webauthn.SessionData{}, fmt.Errorf("mfa: damaged ceremony: %w", err)
	}
	return sd, nil
}

// ceremonyBody is what webauthn.js posts to a finish endpoint.
type ceremonyBody struct {
	Name       string          `json:"name"`
	RD         string          `json:"rd"`
	Credential json.RawMessage `json:"credential"`
}

func decodeBody(r *http.Request) (ceremonyBody, error) {
	var b ceremonyBody
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(&b); err != nil {
		return ceremonyBody{}, err
	}
	return b, nil
}

func (h *Handler) postRegisterBegin(w http.ResponseWriter, r *http.Request, s Subject) {
	if !h.checkPost(w, r, s) || !h.requireFresh(w, r, s) {
		return
	}
	ctx := r.Context()
	keys, err := h.loadPasskeys(ctx, s.UserID)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if len(keys) >= maxPasskeys {
		h.problem(w, s, http.StatusConflict, "Too many passkeys", fmt.Sprintf("Remove one first: at most %d can be registered.", maxPasskeys))
		return
	}
	u := newWAUser(s, keys)
	creation, sd, err := h.wa.BeginRegistration(u,
		webauthn.WithExclusions(webauthn.Credentials(u.creds).CredentialDescriptors()),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementDiscouraged, UserVerification: protocol.VerificationPreferred}),
		webauthn.WithConveyancePreference(protocol.PreferNoAttestation))
	if err == nil {
		err = h.putCeremony(ctx, s, "register", sd)
	}
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	writeJSON(w, creation)
}

func (h *Handler) postRegisterFinish(w http.ResponseWriter, r *http.Request, s Subject) {
	if !h.checkPost(w, r, s) || !h.requireFresh(w, r, s) {
		return
	}
	ctx := r.Context()
	body, err := decodeBody(r)
	name, nameOK := passkeyName(body.Name)
	if err != nil || !nameOK {
		h.problem(w, s, http.StatusBadRequest, "Bad request", "Give the key a name of at most 64 characters.")
		return
	}
	sd, keys, ok := h.ceremonyState(w, r, s, "register", "Registration expired", "Start adding the key again.")
	if !ok {
		return
	}
	cred, err := h.createCredential(s, keys, sd, body.Credential)
	if err != nil {
		h.deps.Log.Info("mfa: passkey registration refused", "request_id", s.RequestID, "err", err)
		h.record(r, s, event{action: ActionFailed, method: methodWebAuthn, result: resultFailed, reason: "webauthn:registration-refused"})
		h.problem(w, s, http.StatusBadRequest, "Key not added", "The browser's answer could not be verified. Try again.")
		return
	}
	for _, k := range keys {
		if bytes.Equal(k.Credential.ID, cred.ID) {
			h.problem(w, s, http.StatusConflict, "Already registered", "This key is already registered.")
			return
		}
	}
	keys = append(keys, passkey{Name: name, CreatedAt: h.deps.Now().UTC(), Credential: *cred})
	if err := h.storePasskeys(ctx, s.UserID, keys); err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if err := h.markEnrolled(ctx, s.UserID, true); err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	h.record(r, s, event{action: ActionPasskeyAdded, method: methodWebAuthn, result: resultAdded, success: true})
	writeJSON(w, struct {
		Redirect string `json:"redirect"`
	}{accountURL(safeRD(body.RD), "passkey-added")})
}

func (h *Handler) createCredential(s Subject, keys []passkey, sd webauthn.SessionData, raw json.RawMessage) (*webauthn.Credential, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(raw)
	if err != nil {
		return nil, err
	}
	return h.wa.CreateCredential(newWAUser(s, keys), sd, parsed)
}

func (h *Handler) postLoginBegin(w http.ResponseWriter, r *http.Request, s Subject) {
	if !h.checkPost(w, r, s) {
		return
	}
	ctx := r.Context()
	keys, err := h.loadPasskeys(ctx, s.UserID)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if len(keys) == 0 {
		h.problem(w, s, http.StatusConflict, "No passkey", "No passkey or security key is registered for you.")
		return
	}
	assertion, sd, err := h.wa.BeginLogin(newWAUser(s, keys), webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err == nil {
		err = h.putCeremony(ctx, s, "login", sd)
	}
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	writeJSON(w, assertion)
}

// ceremonyState takes the ceremony of this kind begun for s (single use) and loads the user's
// passkeys, for finishing it. ok is false when it has answered: an expired or unknown
// ceremony with 400 and the given title and text, a store that cannot answer with 503.
func (h *Handler) ceremonyState(w http.ResponseWriter, r *http.Request, s Subject, kind, title, text string) (webauthn.SessionData, []passkey, bool) {
	sd, err := h.takeCeremony(r.Context(), s, kind)
	if errors.Is(err, session.ErrNotFound) {
		h.problem(w, s, http.StatusBadRequest, title, text)
		return sd, nil, false
	}
	if err != nil {
		h.unavailable(w, r, s, err)
		return sd, nil, false
	}
	keys, err := h.loadPasskeys(r.Context(), s.UserID)
	if err != nil {
		h.unavailable(w, r, s, err)
		return sd, nil, false
	}
	return sd, keys, true
}

func (h *Handler) postLoginFinish(w http.ResponseWriter, r *http.Request, s Subject) {
	if !h.checkPost(w, r, s) {
		return
	}
	ctx := r.Context()
	body, err := decodeBody(r)
	if err != nil {
		h.problem(w, s, http.StatusBadRequest, "Bad request", "The request could not be read.")
		return
	}
	sd, keys, ok := h.ceremonyState(w, r, s, "login", "Sign-in expired", "Try the key again.")
	if !ok {
		return
	}
	cred, err := h.validateLogin(s, keys, sd, body.Credential)
	reason := "webauthn:assertion-refused"
	if err == nil && cred.Authenticator.CloneWarning {
		err, reason = errors.New("signature counter went backwards"), "webauthn:cloned-key"
	}
	if err != nil {
		h.deps.Log.Info("mfa: passkey refused", "request_id", s.RequestID, "err", err)
		h.record(r, s, event{action: ActionFailed, method: methodWebAuthn, result: resultFailed, reason: reason})
		h.problem(w, s, http.StatusUnauthorized, "Key not accepted", "The key's answer could not be verified. Try again, or use another factor.")
		return
	}
	for i := range keys {
		if bytes.Equal(keys[i].Credential.ID, cred.ID) {
			keys[i].Credential, keys[i].LastUsed = *cred, h.deps.Now().UTC()
		}
	}
	// The new signature count must be kept, or a cloned key would go unnoticed.
	if err := h.storePasskeys(ctx, s.UserID, keys); err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	h.proven(w, r, s, methodWebAuthn, safeRD(body.RD))
}

func (h *Handler) validateLogin(s Subject, keys []passkey, sd webauthn.SessionData, raw json.RawMessage) (*webauthn.Credential, error) {
	parsed, err := protocol.ParseCredentialRequestResponseBytes(raw)
	if err != nil {
		return nil, err
	}
	return h.wa.ValidateLogin(newWAUser(s, keys), sd, parsed)
}

// requireFresh refuses a change of factors unless a factor was proven within freshFor.
func (h *Handler) requireFresh(w http.ResponseWriter, r *http.Request, s Subject) bool {
	if h.fresh(s) {
		return true
	}
	h.fail(w, r, s, http.StatusForbidden, "Confirm it is you first",
		"Changing your second factors needs a factor proven in the last few minutes. Verify again, then retry.")
	return false
}

// passkeyName cleans the name a person gave a key; false when it cannot be used.
func passkeyName(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		s = "Security key"
	}
	if len([]rune(s)) > 64 || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return "", false
	}
	return s, true
}
