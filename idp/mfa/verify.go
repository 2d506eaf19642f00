package mfa

import (
	"encoding/json"
	"net/http"
)

// Attempt limit: every code submitted (TOTP or recovery, well formed or not) is counted before
// it is checked, so that concurrent guesses cannot slip past the limit; a success clears the
// count. MaxAttempts failures within Lockout (from the first) lock codes until that window
// ends. Passkeys are not locked: they cannot be guessed, and they let the person in while
// someone else is guessing their codes.

func (h *Handler) getVerify(w http.ResponseWriter, r *http.Request, s Subject) {
	ctx := r.Context()
	rd := safeRD(r.URL.Query().Get("rd"))
	f, err := h.factors(ctx, s.UserID)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if !f.any() {
		http.Redirect(w, r, withRD(PathEnroll, rd), http.StatusSeeOther)
		return
	}
	n, until, err := h.deps.Guard.Peek(ctx, attemptsKey(s.UserID))
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if !s.MFAAt.IsZero() {
		h.record(r, s, event{action: ActionStepUpAsked, method: "any", result: resultStepUp, success: true, reason: "step-up"})
	}
	v := h.verifyView(f, rd)
	status := http.StatusOK
	if n >= int64(h.cfg.MaxAttempts) {
		v.Locked, v.Until, status = true, stamp(until), http.StatusLocked
	} else if n > 0 {
		v.AttemptsLeft = h.cfg.MaxAttempts - int(n)
	}
	h.page(w, r, s, status, v)
}

func (h *Handler) verifyView(f factorSet, rd string) view {
	v := view{Page: "verify", Title: "Confirm it is you", RD: rd, HasTOTP: f.totp != nil,
		HasPasskey: h.wa != nil && len(f.passkeys) > 0}
	v.Script = v.HasPasskey
	if !v.HasTOTP && !v.HasPasskey {
		v.Error = "Your only second factor is a passkey, and passkeys are turned off here. Ask your administrator to reset your second factor."
	}
	return v
}

func (h *Handler) postVerify(w http.ResponseWriter, r *http.Request, s Subject) {
	h.checkCode(w, r, s, methodTOTP)
}

func (h *Handler) postRecovery(w http.ResponseWriter, r *http.Request, s Subject) {
	h.checkCode(w, r, s, methodRecovery)
}

// checkCode handles a TOTP or recovery code posted from the verification page.
func (h *Handler) checkCode(w http.ResponseWriter, r *http.Request, s Subject, method string) {
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
	if f.totp == nil {
		http.Redirect(w, r, withRD(h.NextStep(ctx, s.UserID), rd), http.StatusSeeOther)
		return
	}
	n, err := h.deps.Guard.Incr(ctx, attemptsKey(s.UserID), h.cfg.Lockout)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if n > int64(h.cfg.MaxAttempts) {
		h.record(r, s, event{action: ActionFailed, method: method, result: resultLocked, reason: method + ":locked-out"})
		h.showLocked(w, r, s, f, rd)
		return
	}
	code := r.PostForm.Get("code")
	var ok bool
	cause := "wrong-code"
	switch method {
	case methodTOTP:
		var step int64
		if !wellFormedCode(code) {
			cause = "malformed"
		}
		step, ok, err = matchStep(f.totp.Secret, code, h.deps.Now())
		if err == nil && ok {
			if ok, err = h.deps.Guard.Claim(ctx, replayKey(s.UserID, step), replayTTL); err == nil && !ok {
				cause = "replayed"
			}
		}
	case methodRecovery:
		ok, err = h.useRecoveryCode(ctx, s.UserID, code)
	}
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if !ok {
		h.failedAttempt(w, r, s, f, rd, method, cause, n)
		return
	}
	if f.totpStale {
		h.resealTOTP(r, s, *f.totp)
	}
	h.proven(w, r, s, method, rd)
}

// failedAttempt records a wrong code and shows what is left, or the lockout it started.
func (h *Handler) failedAttempt(w http.ResponseWriter, r *http.Request, s Subject, f factorSet, rd, method, cause string, n int64) {
	if n >= int64(h.cfg.MaxAttempts) {
		h.record(r, s, event{action: ActionLockout, method: method, result: resultLockout, reason: method + ":" + cause})
		h.showLocked(w, r, s, f, rd)
		return
	}
	result := resultFailed
	if cause == "replayed" {
		result = resultReplayed
	}
	h.record(r, s, event{action: ActionFailed, method: method, result: result, reason: method + ":" + cause})
	v := h.verifyView(f, rd)
	v.AttemptsLeft = h.cfg.MaxAttempts - int(n)
	v.Error = "That code was not accepted."
	if cause == "replayed" {
		v.Error = "That code was already used. Wait for the app to show a new one."
	} else if method == methodRecovery {
		v.Error = "That recovery code was not accepted. Each code works only once."
	}
	h.page(w, r, s, http.StatusUnauthorized, v)
}

func (h *Handler) showLocked(w http.ResponseWriter, r *http.Request, s Subject, f factorSet, rd string) {
	_, until, err := h.deps.Guard.Peek(r.Context(), attemptsKey(s.UserID))
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	v := h.verifyView(f, rd)
	v.Locked, v.Until = true, stamp(until)
	h.page(w, r, s, http.StatusLocked, v)
}

// proven finishes a successful proof: the count of failures is cleared, the event recorded,
// the gate told, and the person sent back to rd (as JSON for the WebAuthn endpoints).
func (h *Handler) proven(w http.ResponseWriter, r *http.Request, s Subject, method, rd string) {
	ctx := r.Context()
	if err := h.deps.Guard.Reset(ctx, attemptsKey(s.UserID)); err != nil {
		// Left as it is, the count only makes a later lockout come sooner.
		h.deps.Log.Warn("mfa: attempt count not cleared", "request_id", s.RequestID, "err", err)
	}
	if err := h.deps.Proven(ctx, w, r, method); err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	action := ActionVerified
	if method == methodRecovery {
		action = ActionRecoveryUsed
	}
	h.record(r, s, event{action: action, method: method, result: resultVerified, success: true})
	if !s.MFAAt.IsZero() {
		h.record(r, s, event{action: ActionStepUpSatisfied, method: method, result: resultStepUpDone, success: true})
	}
	if isJSON(r) {
		writeJSON(w, struct {
			Redirect string `json:"redirect"`
		}{rd})
		return
	}
	http.Redirect(w, r, rd, http.StatusSeeOther)
}

// resealTOTP seals a record opened with an old key under the current one. A failure is only
// logged: the old key still opens it.
func (h *Handler) resealTOTP(r *http.Request, s Subject, rec totpRecord) {
	plain, _ := json.Marshal(rec)
	sealed, err := h.seal.seal(s.UserID, kindTOTP, plain)
	if err == nil {
		err = h.deps.Directory.PutSecret(r.Context(), s.UserID, kindTOTP, sealed)
	}
	if err != nil {
		h.deps.Log.Warn("mfa: TOTP secret not sealed again with the current key", "request_id", s.RequestID, "err", err)
	}
}
