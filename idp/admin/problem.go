package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/tollgate/tollgate/idp/directory"
)

// apiError is what a client is told (status, title, detail) apart from what is logged (err).
type apiError struct {
	status        int
	title, detail string
	err           error
}

func (e *apiError) Error() string {
	if e.err != nil {
		return e.detail + ": " + e.err.Error()
	}
	return e.detail
}

func (e *apiError) Unwrap() error { return e.err }

func badRequest(detail string) *apiError {
	return &apiError{status: http.StatusBadRequest, title: "Bad request", detail: detail}
}

// Errors of the safety rules, with the words the pages and the API show.
var (
	errSelfRoles   = errors.New("You cannot change your own roles")
	errSelfStatus  = errors.New("You cannot disable, enable or delete yourself")
	errSelfMFA     = errors.New("You cannot reset your own second factor; ask another administrator")
	errSelfErase   = errors.New("You cannot erase yourself")
	errRevokeAfter = errors.New("the change was saved, but the session store did not answer, so the person's sessions may still be open: retry revoking their sessions")
)

// lastAdmin is the refusal of ErrLastAdmin for one action ("disabled", "deleted"…).
// It keeps err, so that the refusal is recognised and recorded.
func lastAdmin(verb string, err error) error {
	if !errors.Is(err, directory.ErrLastAdmin) {
		return err
	}
	return &apiError{status: http.StatusConflict, title: "Refused", detail: "The last administrator cannot be " + verb, err: err}
}

// classify turns an error from an operation into what the client sees.
func classify(err error) *apiError {
	var ae *apiError
	if errors.As(err, &ae) {
		return ae
	}
	var af *authFailure
	if errors.As(err, &af) {
		title := "Unauthenticated"
		if af.status == http.StatusForbidden {
			title = "Forbidden"
		}
		return &apiError{status: af.status, title: title, detail: af.detail}
	}
	for _, s := range []error{errSelfRoles, errSelfStatus, errSelfMFA, errSelfErase} {
		if errors.Is(err, s) {
			return &apiError{status: http.StatusForbidden, title: "Refused", detail: s.Error(), err: err}
		}
	}
	public := strings.TrimPrefix(err.Error(), "directory: ")
	switch {
	case errors.Is(err, errRevokeAfter):
		return &apiError{status: http.StatusServiceUnavailable, title: "Sessions not ended", detail: errRevokeAfter.Error(), err: err}
	case errors.Is(err, directory.ErrLastAdmin):
		return &apiError{status: http.StatusConflict, title: "Refused", detail: "The last administrator cannot be removed", err: err}
	case errors.Is(err, directory.ErrSelfChange):
		return &apiError{status: http.StatusForbidden, title: "Refused", detail: errSelfRoles.Error(), err: err}
	case errors.Is(err, directory.ErrNotFound):
		return &apiError{status: http.StatusNotFound, title: "Not found", detail: public, err: err}
	case errors.Is(err, directory.ErrInvalid):
		return &apiError{status: http.StatusBadRequest, title: "Bad request", detail: public, err: err}
	case errors.Is(err, directory.ErrConflict):
		return &apiError{status: http.StatusConflict, title: "Conflict", detail: public, err: err}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &apiError{status: http.StatusServiceUnavailable, title: "Unavailable", detail: "the request was cancelled or timed out", err: err}
	}
	return &apiError{status: http.StatusInternalServerError, title: "Internal error",
		detail: "something went wrong; the request id finds it in the log", err: err}
}

// problem writes RFC 9457 problem details.
func problem(w http.ResponseWriter, e *apiError, requestID string) {
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	if e.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Bearer realm="tollgate-admin"`)
	}
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(problemBody{Type: "about:blank", Title: e.title, Status: e.status,
		Detail: e.detail, RequestID: requestID})
}

type problemBody struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

// writeJSON writes a successful response.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// apiHeaders keep API answers out of caches and frames, and stop content sniffing.
func apiHeaders(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
}
