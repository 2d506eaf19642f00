package mfa

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"

	"github.com/tollgate/tollgate/idp/session"
)

// The account page shows a person their factors, recovery codes and sessions. It is part of
// the protected area: a session that has not proven its factor is sent to prove it first, and
// changing factors or codes needs a fresh proof.

func (h *Handler) getAccount(w http.ResponseWriter, r *http.Request, s Subject) {
	ctx := r.Context()
	rd := safeRD(r.URL.Query().Get("rd"))
	if h.cfg.GateFactor() && s.MFAAt.IsZero() {
		http.Redirect(w, r, withRD(h.NextStep(ctx, s.UserID), PathAccount), http.StatusSeeOther)
		return
	}
	v := view{Page: "account", Title: "Your account", RD: rd, Email: s.Email, Name: s.Name,
		GateFactor: h.cfg.GateFactor() && s.UserID != "", WebAuthn: h.wa != nil && s.UserID != "",
		Notice: notices[r.URL.Query().Get("done")]}
	v.Script = v.WebAuthn
	if v.GateFactor {
		f, err := h.factors(ctx, s.UserID)
		if err != nil {
			h.unavailable(w, r, s, err)
			return
		}
		if f.totp != nil {
			v.TOTPAt = stamp(f.totp.EnrolledAt)
			x, err := h.deps.Directory.ExportUser(ctx, s.UserID)
			if err != nil {
				h.unavailable(w, r, s, err)
				return
			}
			v.CodesLeft = x.RecoveryCodes
		}
		for _, k := range f.passkeys {
			v.Passkeys = append(v.Passkeys, passkeyView{ID: base64.RawURLEncoding.EncodeToString(k.Credential.ID),
				Name: k.Name, Added: stamp(k.CreatedAt), LastUsed: stamp(k.LastUsed)})
		}
	}
	infos, err := h.deps.Sessions.ListUser(ctx, s.UserKey)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	for _, in := range infos {
		v.Sessions = append(v.Sessions, sessionView{Created: stamp(in.CreatedAt), Expires: stamp(in.ExpiresAt), Current: in.ID == s.SessionID})
	}
	h.page(w, r, s, http.StatusOK, v)
}

// notices are the confirmations the account page shows after a change (?done=…).
var notices = map[string]string{
	"signed-out":      "Your other sessions are signed out.",
	"passkey-added":   "The key is added.",
	"passkey-removed": "The key is removed.",
}

func accountURL(rd, done string) string {
	target := PathAccount + "?done=" + done
	if rd != "/" {
		target += "&rd=" + url.QueryEscape(rd)
	}
	return target
}

func (h *Handler) accountAfter(w http.ResponseWriter, r *http.Request, rd, done string) {
	http.Redirect(w, r, accountURL(rd, done), http.StatusSeeOther)
}

func (h *Handler) postSignOutOthers(w http.ResponseWriter, r *http.Request, s Subject) {
	if !h.checkPost(w, r, s) {
		return
	}
	ctx := r.Context()
	if h.cfg.GateFactor() && s.MFAAt.IsZero() {
		h.fail(w, r, s, http.StatusForbidden, "Confirm it is you first", "Prove your second factor, then try again.")
		return
	}
	infos, err := h.deps.Sessions.ListUser(ctx, s.UserKey)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	ended := 0
	for _, in := range infos {
		if in.ID == s.SessionID {
			continue
		}
		err := h.deps.Sessions.DeleteByID(ctx, s.UserKey, in.ID)
		if errors.Is(err, session.ErrNotFound) {
			continue // ended meanwhile
		}
		if err != nil {
			h.unavailable(w, r, s, err)
			return
		}
		ended++
	}
	if ended > 0 {
		h.record(r, s, event{action: ActionSessionsEnded, reason: reasonOtherSessions, success: true})
	}
	h.accountAfter(w, r, safeRD(r.PostForm.Get("rd")), "signed-out")
}

func (h *Handler) postRegenerate(w http.ResponseWriter, r *http.Request, s Subject) {
	if !h.checkPost(w, r, s) {
		return
	}
	rd := safeRD(r.PostForm.Get("rd"))
	if !h.fresh(s) {
		http.Redirect(w, r, withRD(PathVerify, withRD(PathAccount, rd)), http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	f, err := h.factors(ctx, s.UserID)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	if f.totp == nil {
		h.fail(w, r, s, http.StatusConflict, "No recovery codes", "Recovery codes come with an authenticator app; set one up first.")
		return
	}
	codes, err := h.renewCodes(ctx, s.UserID)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	h.record(r, s, event{action: ActionRecoveryRenewed, method: methodRecovery, result: resultRenewed, success: true})
	h.page(w, r, s, http.StatusOK, view{Page: "codes", Title: "Your new recovery codes", RD: rd,
		Notice: "Your old recovery codes no longer work.", Codes: codes, Link: withRD(PathAccount, rd), LinkText: "I have saved them — back to your account"})
}

func (h *Handler) postRemovePasskey(w http.ResponseWriter, r *http.Request, s Subject) {
	if !h.checkPost(w, r, s) {
		return
	}
	rd := safeRD(r.PostForm.Get("rd"))
	if !h.fresh(s) {
		http.Redirect(w, r, withRD(PathVerify, withRD(PathAccount, rd)), http.StatusSeeOther)
		return
	}
	ctx := r.Context()
	id, err := base64.RawURLEncoding.DecodeString(r.PostForm.Get("id"))
	if err != nil || len(id) == 0 {
		h.fail(w, r, s, http.StatusBadRequest, "Bad request", "No such key.")
		return
	}
	f, err := h.factors(ctx, s.UserID)
	if err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	i := slices.IndexFunc(f.passkeys, func(k passkey) bool { return bytes.Equal(k.Credential.ID, id) })
	if i < 0 {
		h.fail(w, r, s, http.StatusNotFound, "Not found", "No such key is registered for you.")
		return
	}
	if f.totp == nil && len(f.passkeys) == 1 {
		// Without any factor the next login would offer enrolment to whoever holds the
		// person's IdP account: the last factor stays.
		h.fail(w, r, s, http.StatusConflict, "This is your only factor",
			"Add another passkey or an authenticator app before you remove this one.")
		return
	}
	keys := slices.Delete(slices.Clone(f.passkeys), i, i+1)
	if err := h.storePasskeys(ctx, s.UserID, keys); err != nil {
		h.unavailable(w, r, s, err)
		return
	}
	h.record(r, s, event{action: ActionPasskeyRemoved, method: methodWebAuthn, result: resultRemoved, success: true})
	h.accountAfter(w, r, rd, "passkey-removed")
}
