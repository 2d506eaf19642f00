package billing

import (
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

const maxFormBytes = 64 << 10

// formError carries the status a bad form should be answered with.
type formError struct {
	status int
	msg    string
}

func (e *formError) Error() string { return e.msg }

// readForm reads a url-encoded POST body. Only the body counts: a field in the query string is
// ignored, so a link cannot smuggle in a value the form did not send.
func readForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "application/x-www-form-urlencoded" {
		return nil, &formError{http.StatusUnsupportedMediaType, "send the form as application/x-www-form-urlencoded"}
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &formError{http.StatusRequestEntityTooLarge, "the form is too large"}
		}
		return nil, &formError{http.StatusBadRequest, "the form could not be read"}
	}
	return r.PostForm, nil
}

// cleanText trims a free-text field and refuses what would not display as plain text.
func cleanText(label, v string, max int) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "", fmt.Errorf("%w: %s is required", errInvalid, label)
	case !utf8.ValidString(v):
		return "", fmt.Errorf("%w: %s is not valid text", errInvalid, label)
	case utf8.RuneCountInString(v) > max:
		return "", fmt.Errorf("%w: %s is longer than %d characters", errInvalid, label, max)
	case strings.IndexFunc(v, unicode.IsControl) >= 0:
		return "", fmt.Errorf("%w: %s contains control characters", errInvalid, label)
	}
	return v, nil
}

// failErr maps an error from a form or the store to its status code.
func (a *App) failErr(w http.ResponseWriter, r *http.Request, err error) {
	var fe *formError
	switch {
	case errors.As(err, &fe):
		a.fail(w, r, fe.status, fe.msg)
	case errors.Is(err, errNotFound):
		a.fail(w, r, http.StatusNotFound, err.Error())
	case errors.Is(err, errConflict):
		a.fail(w, r, http.StatusConflict, err.Error())
	case errors.Is(err, errInvalid), errors.Is(err, errBadAmount):
		a.fail(w, r, http.StatusBadRequest, err.Error())
	default:
		a.fail(w, r, http.StatusInternalServerError, "internal error")
	}
}
