package admin

import (
	"context"
	"encoding/csv"
	"net/http"
	"strings"
	"time"

	"github.com/tollgate/tollgate/idp/directory"
)

// The roles of the policy and the access review: who holds which role, what each role
// allows, when each person last signed in and whether they use a second factor.

type roleView struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Routes      []string `json:"routes"`
}

func (h *Handler) roleViews() []roleView {
	out := []roleView{}
	for _, name := range h.policy.Roles() {
		desc, routes, _ := h.policy.RoleInfo(name)
		if routes == nil {
			routes = []string{}
		}
		out = append(out, roleView{Name: name, Description: desc, Routes: routes})
	}
	return out
}

func (h *Handler) apiRoles(w http.ResponseWriter, _ *http.Request, _ *principal) error {
	writeJSON(w, http.StatusOK, struct {
		Roles []roleView `json:"roles"`
	}{h.roleViews()})
	return nil
}

type reviewEntry struct {
	ID          string        `json:"id"`
	Email       string        `json:"email"`
	Name        string        `json:"name"`
	Status      string        `json:"status"`
	Roles       []reviewGrant `json:"roles"`
	LastLogin   time.Time     `json:"last_login,omitzero"`
	MFAEnrolled bool          `json:"mfa_enrolled"`
}

type reviewGrant struct {
	Role string `json:"role"`
	// Routes the role allows; empty for a role the policy no longer defines (it grants
	// nothing, and should be removed).
	Routes  []string `json:"routes"`
	Defined bool     `json:"defined"`
}

type review struct {
	GeneratedAt time.Time     `json:"generated_at"`
	Users       []reviewEntry `json:"users"`
}

// review reads every user, page by page.
func (h *Handler) review(ctx context.Context) (review, error) {
	out := review{GeneratedAt: h.now().UTC(), Users: []reviewEntry{}}
	f := directory.Filter{Limit: directory.MaxPageSize}
	for {
		users, next, err := h.users.ListUsers(ctx, f)
		if err != nil {
			return review{}, err
		}
		for _, u := range users {
			e := reviewEntry{ID: u.ID, Email: u.Email, Name: u.Name, Status: string(u.Status), Roles: []reviewGrant{},
				LastLogin: u.LastLogin, MFAEnrolled: u.MFAEnrolled}
			for _, role := range u.Roles {
				_, routes, ok := h.policy.RoleInfo(role)
				if routes == nil {
					routes = []string{}
				}
				e.Roles = append(e.Roles, reviewGrant{Role: role, Routes: routes, Defined: ok})
			}
			out.Users = append(out.Users, e)
		}
		if next == "" {
			return out, nil
		}
		f.Cursor = next
	}
}

func (h *Handler) apiReview(w http.ResponseWriter, r *http.Request, p *principal) error {
	rv, err := h.review(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, rv)
	return nil
}

func (h *Handler) apiReviewCSV(w http.ResponseWriter, r *http.Request, _ *principal) error {
	return h.writeReviewCSV(w, r)
}

// reviewHeader is the CSV's first line. There is one line per user and role (one with an
// empty role for a user without any), so that a spreadsheet filters by role directly.
var reviewHeader = []string{"user_id", "email", "name", "status", "role", "routes", "last_login", "mfa_enrolled"}

func (h *Handler) writeReviewCSV(w http.ResponseWriter, r *http.Request) error {
	rv, err := h.review(r.Context())
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="access-review-`+rv.GeneratedAt.Format("2006-01-02")+`.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(reviewHeader)
	for _, u := range rv.Users {
		last := ""
		if !u.LastLogin.IsZero() {
			last = u.LastLogin.UTC().Format(time.RFC3339)
		}
		grants := u.Roles
		if len(grants) == 0 {
			grants = []reviewGrant{{}}
		}
		for _, g := range grants {
			_ = cw.Write(csvSafe(u.ID, u.Email, u.Name, u.Status, g.Role, strings.Join(g.Routes, " "), last,
				boolWord(u.MFAEnrolled)))
		}
	}
	cw.Flush()
	return nil
}

func boolWord(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// csvSafe keeps spreadsheet programs from reading a cell as a formula: names are chosen by
// people, and "=HYPERLINK(…)" in a review file would run when a reviewer opens it.
func csvSafe(cells ...string) []string {
	for i, c := range cells {
		if c != "" && strings.ContainsRune("=+-@\t\r", rune(c[0])) {
			cells[i] = "'" + c
		}
	}
	return cells
}
