package admin

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/tollgate/tollgate/idp/directory"
)

// notices are the fixed messages a redirect may ask a page to show; nothing of the query is
// echoed.
var notices = map[string]string{
	"roles":    "Roles saved. The person's sessions were ended: they get the new roles at their next sign-in.",
	"disable":  "The user is disabled and every session of theirs has ended.",
	"enable":   "The user is enabled again.",
	"mfa":      "The second factor was reset and the person's sessions ended; they enrol again at their next sign-in.",
	"sessions": "Sessions ended.",
	"session":  "The session was ended.",
	"deleted":  "The user was deleted.",
	"revoked":  "The token was revoked.",
}

func (h *Handler) base(p *principal, title string) pageData {
	return pageData{Title: title, CSRF: p.csrf, Me: p.user.Email, Request: p.requestID}
}

func (h *Handler) pageList(w http.ResponseWriter, r *http.Request, p *principal) error {
	q := r.URL.Query()
	d := h.base(p, "Users")
	d.Notice = notices[q.Get("done")]
	d.Filter = listFilter{Q: q.Get("q"), Role: q.Get("role"), Status: q.Get("status"), Inactive: q.Get("inactive")}
	f := directory.Filter{Query: d.Filter.Q, Role: d.Filter.Role, Status: directory.Status(d.Filter.Status), Cursor: q.Get("cursor")}
	if d.Filter.Inactive != "" {
		days, err := strconv.Atoi(d.Filter.Inactive)
		if err != nil || days < 1 {
			return badRequest("Inactive for must be a number of days.")
		}
		f.InactiveSince = h.now().Add(-time.Duration(days) * 24 * time.Hour)
	}
	users, next, err := h.users.ListUsers(r.Context(), f)
	if err != nil {
		return err
	}
	for _, u := range users {
		d.Users = append(d.Users, viewOf(u))
	}
	if next != "" {
		nq := url.Values{"q": {d.Filter.Q}, "role": {d.Filter.Role}, "status": {d.Filter.Status},
			"inactive": {d.Filter.Inactive}, "cursor": {next}}
		d.Next = Prefix + "?" + nq.Encode()
	}
	d.Roles = h.choices(nil)
	h.render(w, http.StatusOK, "list", d)
	return nil
}

func (h *Handler) choices(held []string) []roleChoice {
	var out []roleChoice
	for _, rv := range h.roleViews() {
		out = append(out, roleChoice{Name: rv.Name, Description: rv.Description, Checked: slices.Contains(held, rv.Name)})
	}
	return out
}

func (h *Handler) pageNew(w http.ResponseWriter, _ *http.Request, p *principal) error {
	d := h.base(p, "Add a user")
	d.Roles = h.choices(nil)
	h.render(w, http.StatusOK, "new", d)
	return nil
}

// pageCreate answers with the invitation link on the page itself rather than by redirect:
// the link exists only in this response, and a redirect would have to store it somewhere.
func (h *Handler) pageCreate(w http.ResponseWriter, r *http.Request, p *principal) error {
	in := newUser{Email: r.PostForm.Get("email"), Name: r.PostForm.Get("name"), Roles: r.PostForm["role"]}
	u, inv, err := h.createUser(r.Context(), p, in)
	if err != nil {
		e := classify(err)
		if e.status >= 500 {
			return err
		}
		d := h.base(p, "Add a user")
		d.Error, d.Form, d.Roles = e.detail, in, h.choices(in.Roles)
		h.render(w, e.status, "new", d)
		return nil
	}
	d := h.base(p, "User invited")
	d.User, d.Invite = viewOf(u), inv
	h.render(w, http.StatusCreated, "created", d)
	return nil
}

func (h *Handler) userPage(w http.ResponseWriter, r *http.Request, p *principal, status int, errMsg string) error {
	u, err := h.users.GetUser(r.Context(), r.PathValue("id"))
	if err != nil {
		return err
	}
	d := h.base(p, u.Email)
	d.User, d.Roles, d.Error = viewOf(u), h.choices(u.Roles), errMsg
	d.Notice = notices[r.URL.Query().Get("done")]
	if d.Sessions, err = h.listSessions(r.Context(), u); err != nil {
		return err
	}
	h.render(w, status, "user", d)
	return nil
}

func (h *Handler) pageUser(w http.ResponseWriter, r *http.Request, p *principal) error {
	return h.userPage(w, r, p, http.StatusOK, "")
}

// refused shows a refused change on the user's page, so the administrator sees the reason
// next to what they tried.
func (h *Handler) refused(w http.ResponseWriter, r *http.Request, p *principal, err error) error {
	e := classify(err)
	if e.status >= 500 || e.status == http.StatusNotFound {
		return err
	}
	return h.userPage(w, r, p, e.status, e.detail)
}

func (h *Handler) pageRoles(w http.ResponseWriter, r *http.Request, p *principal) error {
	roles := append([]string{}, r.PostForm["role"]...)
	if _, err := h.updateUser(r.Context(), p, r.PathValue("id"), nil, roles); err != nil {
		return h.refused(w, r, p, err)
	}
	back(w, r, r.PathValue("id"), "roles")
	return nil
}

type pageAct int

const (
	actDisable pageAct = iota
	actEnable
	actMFAReset
	actRevokeAll
	actRevokeOne
)

func (h *Handler) pageAction(a pageAct) pageFunc {
	return func(w http.ResponseWriter, r *http.Request, p *principal) error {
		ctx, id := r.Context(), r.PathValue("id")
		var (
			err    error
			notice string
		)
		switch a {
		case actDisable:
			_, err = h.setStatus(ctx, p, id, statusDisable)
			notice = "disable"
		case actEnable:
			_, err = h.setStatus(ctx, p, id, statusEnable)
			notice = "enable"
		case actMFAReset:
			_, err = h.resetMFA(ctx, p, id)
			notice = "mfa"
		case actRevokeAll:
			_, err = h.revokeSessions(ctx, p, id)
			notice = "sessions"
		case actRevokeOne:
			err = h.revokeSession(ctx, p, id, r.PathValue("sid"))
			notice = "session"
		}
		if err != nil {
			return h.refused(w, r, p, err)
		}
		back(w, r, id, notice)
		return nil
	}
}

func (h *Handler) pageReinvite(w http.ResponseWriter, r *http.Request, p *principal) error {
	u, inv, err := h.reinvite(r.Context(), p, r.PathValue("id"))
	if err != nil {
		return h.refused(w, r, p, err)
	}
	d := h.base(p, "Invitation sent")
	d.User, d.Invite = viewOf(u), inv
	h.render(w, http.StatusCreated, "created", d)
	return nil
}

func (h *Handler) pageDelete(w http.ResponseWriter, r *http.Request, p *principal) error {
	if err := h.deleteUser(r.Context(), p, r.PathValue("id")); err != nil {
		return h.refused(w, r, p, err)
	}
	http.Redirect(w, r, Prefix+"?done=deleted", http.StatusSeeOther)
	return nil
}

func (h *Handler) pageReviewCSV(w http.ResponseWriter, r *http.Request, _ *principal) error {
	return h.writeReviewCSV(w, r)
}
