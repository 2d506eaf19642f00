package billing

import (
	"net/http"
	"strings"
)

// identity is what the gate told the app about the person behind a request. The app believes
// it without question; see the package comment.
type identity struct {
	User, Email, Name string
	Roles             []string
	CSRF              string
}

// whoami is the JSON shape of GET /whoami.
type whoami struct {
	User  string   `json:"user"`
	Email string   `json:"email"`
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// headerValue reports a header exactly as received. A header sent more than once is joined with
// commas rather than reduced to its first value, so a spoofed copy next to the gate's own would
// be visible instead of hidden.
func headerValue(h http.Header, name string) string {
	return strings.Join(h.Values(name), ",")
}

// splitRoles turns "billing_manager, support" into its role names, dropping empty items.
func splitRoles(v string) []string {
	roles := []string{}
	for r := range strings.SplitSeq(v, ",") {
		if r = strings.TrimSpace(r); r != "" {
			roles = append(roles, r)
		}
	}
	return roles
}

func (a *App) identity(r *http.Request) identity {
	return identity{
		User:  headerValue(r.Header, a.cfg.UserHeader),
		Email: headerValue(r.Header, a.cfg.EmailHeader),
		Name:  headerValue(r.Header, a.cfg.NameHeader),
		Roles: splitRoles(headerValue(r.Header, a.cfg.RolesHeader)),
		CSRF:  headerValue(r.Header, a.cfg.CSRFHeader),
	}
}

func (a *App) handleWhoami(w http.ResponseWriter, r *http.Request, _ []string) {
	id := a.identity(r)
	writeJSON(w, http.StatusOK, whoami{User: id.User, Email: id.Email, Name: id.Name, Roles: id.Roles})
}
