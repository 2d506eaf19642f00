package admin

import (
	"net/http"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/idp/directory"
)

// The API's user endpoints: thin wrappers that decode, call an operation and encode.

type userList struct {
	Users      []userView `json:"users"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

func (h *Handler) apiListUsers(w http.ResponseWriter, r *http.Request, _ *principal) error {
	f, err := filterFrom(r)
	if err != nil {
		return err
	}
	users, next, err := h.users.ListUsers(r.Context(), f)
	if err != nil {
		return err
	}
	out := userList{Users: []userView{}, NextCursor: next}
	for _, u := range users {
		out.Users = append(out.Users, viewOf(u))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// filterFrom reads the list filters: role, status, inactive_since (RFC 3339), q, limit, cursor.
func filterFrom(r *http.Request) (directory.Filter, error) {
	q := r.URL.Query()
	f := directory.Filter{Role: q.Get("role"), Status: directory.Status(q.Get("status")), Query: q.Get("q"), Cursor: q.Get("cursor")}
	if s := q.Get("inactive_since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return f, badRequest("inactive_since must be an RFC 3339 time, e.g. 2026-01-31T00:00:00Z")
		}
		f.InactiveSince = t
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > directory.MaxPageSize {
			return f, badRequest("limit must be a number from 1 to " + strconv.Itoa(directory.MaxPageSize))
		}
		f.Limit = n
	}
	return f, nil
}

func (h *Handler) apiGetUser(w http.ResponseWriter, r *http.Request, _ *principal) error {
	u, err := h.users.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOf(u))
	return nil
}

type createdUser struct {
	User       userView   `json:"user"`
	Invitation invitation `json:"invitation"`
}

func (h *Handler) apiCreateUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in newUser
	if err := readJSON(r, &in); err != nil {
		return err
	}
	u, inv, err := h.createUser(r.Context(), p, in)
	if err != nil {
		return err
	}
	w.Header().Set("Location", APIPrefix+"/users/"+u.ID)
	writeJSON(w, http.StatusCreated, createdUser{User: viewOf(u), Invitation: inv})
	return nil
}

type userUpdate struct {
	Name  *string   `json:"name"`
	Roles *[]string `json:"roles"`
}

func (h *Handler) apiUpdateUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	var in userUpdate
	if err := readJSON(r, &in); err != nil {
		return err
	}
	if in.Name == nil && in.Roles == nil {
		return badRequest("give name, roles or both")
	}
	var roles []string
	if in.Roles != nil {
		roles = append([]string{}, *in.Roles...)
	}
	u, err := h.updateUser(r.Context(), p, r.PathValue("id"), in.Name, roles)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOf(u))
	return nil
}

// empty is the body of action endpoints: nothing, or {}.
type empty struct{}

func (h *Handler) apiSetStatus(sc statusChange) apiFunc {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		if err := readJSON(r, &empty{}); err != nil {
			return err
		}
		u, err := h.setStatus(r.Context(), p, r.PathValue("id"), sc)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, viewOf(u))
		return nil
	}
}

func (h *Handler) apiDeleteUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readJSON(r, &empty{}); err != nil {
		return err
	}
	if err := h.deleteUser(r.Context(), p, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) apiReinvite(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readJSON(r, &empty{}); err != nil {
		return err
	}
	u, inv, err := h.reinvite(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, createdUser{User: viewOf(u), Invitation: inv})
	return nil
}

func (h *Handler) apiResetMFA(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readJSON(r, &empty{}); err != nil {
		return err
	}
	u, err := h.resetMFA(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewOf(u))
	return nil
}

func (h *Handler) apiListSessions(w http.ResponseWriter, r *http.Request, _ *principal) error {
	u, err := h.users.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	ss, err := h.listSessions(r.Context(), u)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Sessions []sessionView `json:"sessions"`
	}{ss})
	return nil
}

func (h *Handler) apiRevokeSessions(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readJSON(r, &empty{}); err != nil {
		return err
	}
	n, err := h.revokeSessions(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, revoked{n})
	return nil
}

func (h *Handler) apiRevokeSession(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readJSON(r, &empty{}); err != nil {
		return err
	}
	if err := h.revokeSession(r.Context(), p, r.PathValue("id"), r.PathValue("sid")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (h *Handler) apiExport(w http.ResponseWriter, r *http.Request, p *principal) error {
	x, err := h.exportUser(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, x)
	return nil
}

func (h *Handler) apiErase(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := readJSON(r, &empty{}); err != nil {
		return err
	}
	pseudonym, err := h.eraseUser(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Pseudonym string `json:"pseudonym"`
	}{pseudonym})
	return nil
}
