package mfa

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"image/png"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/idp/directory"
	"github.com/tollgate/tollgate/idp/session"
)

// pendingTTL bounds how long an enrolment may stay shown but unconfirmed.
const pendingTTL = 15 * time.Minute

// Enrolment is trust on first use: whoever holds the session of a user without a factor may
// set one up. So it is offered only to a user who has none; everyone else proves theirs.

func (h *Handler) getEnroll(w http.ResponseWriter, r *http.Request, s Subject) {
	rd := safeRD(r.URL.Query().Get("rd"))
	f, err := h.factors(r.Context(), s.UserID)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if f.any() {
		http.Redirect(w, r, withRD(PathVerify, rd), http.StatusSeeOther)
		return
	}
	p, err := h.pending(r.Context(), s, true)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	h.showEnroll(w, r, s, http.StatusOK, p, rd, "")
}

func (h *Handler) showEnroll(w http.ResponseWriter, r *http.Request, s Subject, status int, p pendingTOTP, rd, msg string) {
	k, err := p.key()
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	h.page(w, r, s, status, view{Page: "enroll", Title: "Set up your second factor", RD: rd, Error: msg,
		Secret: groupSecret(k.Secret()), QRPath: pathQR})
}

// groupSecret writes the key in groups of four, as people type it.
func groupSecret(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// getQR draws the pending key of this session. It never creates one: the image belongs to the
// page that showed the key in text.
func (h *Handler) getQR(w http.ResponseWriter, r *http.Request, s Subject) {
	p, err := h.pending(r.Context(), s, false)
	if errors.Is(err, session.ErrNotFound) {
		h.fail(w, r, s, http.StatusNotFound, "Not found", "There is no enrolment in progress.")
		return
	}
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	k, err := p.key()
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	img, err := k.Image(200, 200)
	if err != nil {
		h.unavailable(w, r, s, fmt.Errorf("mfa: draw QR code: %w", err))
		return
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		h.unavailable(w, r, s, fmt.Errorf("mfa: encode QR code: %w", err))
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) postEnroll(w http.ResponseWriter, r *http.Request, s Subject) {
	if !h.checkPost(w, r, s) {
		return
	}
	ctx := r.Context()
	rd := safeRD(r.PostForm.Get("rd"))
	f, err := h.factors(ctx, s.UserID)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if f.any() {
		// Enrolled meanwhile (another tab or session): this form must not replace the factor.
		http.Redirect(w, r, withRD(PathVerify, rd), http.StatusSeeOther)
		return
	}
	p, err := h.pending(ctx, s, false)
	if errors.Is(err, session.ErrNotFound) {
		http.Redirect(w, r, withRD(PathEnroll, rd), http.StatusSeeOther)
		return
	}
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	k, err := p.key()
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	step, ok, err := matchStep(k.Secret(), r.PostForm.Get("code"), h.deps.Now())
	if err == nil && ok {
		ok, err = h.deps.Guard.Claim(ctx, replayKey(s.UserID, step), replayTTL)
	}
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if !ok {
		h.record(r, s, event{action: ActionFailed, method: methodTOTP, result: resultFailed, reason: "totp:enrolment-code"})
		h.showEnroll(w, r, s, http.StatusUnprocessableEntity, p, rd,
			"That code did not match. Check that the app's clock is right and enter the code it shows now.")
		return
	}
	codes, err := h.enrolTOTP(ctx, s.UserID, k.Secret())
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	_, _ = h.deps.Once.TakeOnce(ctx, onceKey("enrol", s.SessionID)) // done with it; it expires anyway
	h.record(r, s, event{action: ActionEnrolled, method: methodTOTP, result: resultEnrolled, success: true})
	if err := h.deps.Proven(ctx, w, r, methodTOTP); err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	h.page(w, r, s, http.StatusOK, view{Page: "codes", Title: "Your recovery codes", RD: rd,
		Notice: "Your authenticator app is set up.", Codes: codes, Link: rd, LinkText: "I have saved them — continue"})
}

// pending returns this session's enrolment in progress. With create, a missing one is made;
// otherwise session.ErrNotFound. Reading takes the value out of the store, so it is put back.
func (h *Handler) pending(ctx context.Context, s Subject, create bool) (pendingTOTP, error) {
	key := onceKey("enrol", s.SessionID)
	var p pendingTOTP
	blob, err := h.deps.Once.TakeOnce(ctx, key)
	switch {
	case errors.Is(err, session.ErrNotFound) && create:
		account := s.Email
		if account == "" {
			account = s.UserID
		}
		k, err := newTOTPKey(h.cfg.Issuer, account, h.deps.Rand)
		if err != nil {
			return pendingTOTP{}, err
		}
		p.URL = k.URL()
	case err != nil:
		return pendingTOTP{}, err
	default:
		plain, _, err := h.seal.open(s.UserID, kindTOTPPending+":"+s.SessionID, blob)
		if err != nil {
			return pendingTOTP{}, err
		}
		if err := json.Unmarshal(plain, &p); err != nil {
			return pendingTOTP{}, fmt.Errorf("mfa: damaged pending enrolment: %w", err)
		}
	}
	plain, _ := json.Marshal(p)
	sealed, err := h.seal.seal(s.UserID, kindTOTPPending+":"+s.SessionID, plain)
	if err != nil {
		return pendingTOTP{}, err
	}
	if err := h.deps.Once.PutOnce(ctx, key, sealed, pendingTTL); err != nil {
		return pendingTOTP{}, fmt.Errorf("mfa: keep pending enrolment: %w", err)
	}
	return p, nil
}

// enrolTOTP stores the confirmed secret, issues recovery codes and marks the user enrolled.
func (h *Handler) enrolTOTP(ctx context.Context, userID, secret string) ([]string, error) {
	plain, _ := json.Marshal(totpRecord{Secret: secret, EnrolledAt: h.deps.Now().UTC()})
	sealed, err := h.seal.seal(userID, kindTOTP, plain)
	if err != nil {
		return nil, err
	}
	if err := h.deps.Directory.PutSecret(ctx, userID, kindTOTP, sealed); err != nil {
		return nil, fmt.Errorf("mfa: store TOTP secret: %w", err)
	}
	codes, err := h.renewCodes(ctx, userID)
	if err != nil {
		return nil, err
	}
	return codes, h.markEnrolled(ctx, userID, true)
}

func (h *Handler) renewCodes(ctx context.Context, userID string) ([]string, error) {
	codes, hashes, err := h.newRecoveryCodes(userID)
	if err != nil {
		return nil, err
	}
	if err := h.deps.Directory.PutRecoveryCodes(ctx, userID, hashes); err != nil {
		return nil, fmt.Errorf("mfa: store recovery codes: %w", err)
	}
	return codes, nil
}

// markEnrolled keeps the directory's MFAEnrolled flag (shown to administrators) in step.
func (h *Handler) markEnrolled(ctx context.Context, userID string, enrolled bool) error {
	_, _, err := h.deps.Directory.UpdateUser(ctx, userID, func(u *directory.User) error {
		u.MFAEnrolled = enrolled
		return nil
	})
	if err != nil {
		return fmt.Errorf("mfa: mark user enrolled: %w", err)
	}
	return nil
}
