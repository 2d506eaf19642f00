package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tollgate/tollgate/idp/admin"
	"github.com/tollgate/tollgate/idp/directory"
)

const usersUsage = `usage: tollgate users <command> [flags]

Against the admin API, with an API token (TOLLGATE_URL and TOLLGATE_TOKEN, or --url and --token):
  list       [--role R] [--status invited|active|disabled] [--inactive-days N] [--q TEXT]
  add        --email E --name N [--roles a,b]        add and invite; prints the invitation link
  set-roles  USER --roles a,b                          USER is an email or a user id
  disable    USER                                      disable and end every session
  enable     USER
  revoke     USER                                      end every session
  review     [--csv]                                   the access review
  Every command takes --json for the API's JSON instead of a table.

Against the durable store directly, before any administrator exists:
  bootstrap-admin --config FILE --email E [--name N] [--admin-role administrator] [--force]
`

func cmdUsers(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stderr, usersUsage)
		return 2
	}
	var err error
	switch args[0] {
	case "bootstrap-admin":
		err = bootstrapAdmin(ctx, args[1:], stdout)
	case "list", "add", "set-roles", "disable", "enable", "revoke", "review":
		err = usersAPI(ctx, args[0], args[1:], stdout)
	default:
		fmt.Fprintf(stderr, "tollgate users: unknown command %q\n\n%s", args[0], usersUsage)
		return 2
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "tollgate users %s: %v\n\n%s", args[0], err, usersUsage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "tollgate users %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

type usageError struct{ error }

// parseInterleaved parses flags that may come before or after the positional arguments.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, usageError{err}
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// apiClient calls the admin API with an API token.
type apiClient struct {
	base  string // the gate's origin
	token string
	http  *http.Client
}

func newAPIClient(rawURL, token string) (*apiClient, error) {
	if rawURL == "" || token == "" {
		return nil, usageError{errors.New("give the gate's URL and an API token: TOLLGATE_URL and TOLLGATE_TOKEN, or --url and --token")}
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, usageError{fmt.Errorf("--url %q is not an absolute http(s) URL", rawURL)}
	}
	if ip := net.ParseIP(u.Hostname()); u.Scheme == "http" && u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, usageError{fmt.Errorf("--url %q is plain http: the token would cross the network in clear text; use https", rawURL)}
	}
	return &apiClient{base: strings.TrimSuffix(u.String(), "/"), token: token, http: &http.Client{Timeout: 30 * time.Second}}, nil
}

// call sends a request to path (under the API prefix) and decodes a JSON answer into out
// (raw receives the body as is when out is nil). A problem answer becomes the error.
func (c *apiClient) call(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+admin.APIPrefix+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = res.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if res.StatusCode >= 400 {
		var p struct{ Title, Detail, RequestID string }
		if json.Unmarshal(raw, &p) == nil && p.Detail != "" {
			return nil, fmt.Errorf("%d %s: %s", res.StatusCode, p.Title, p.Detail)
		}
		return nil, fmt.Errorf("%s %s: %s", method, path, res.Status)
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return nil, fmt.Errorf("decode the answer: %w", err)
		}
	}
	return raw, nil
}

// apiUser is a user as the API returns it.
type apiUser struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Roles       []string  `json:"roles"`
	Status      string    `json:"status"`
	LastLogin   time.Time `json:"last_login"`
	MFAEnrolled bool      `json:"mfa_enrolled"`
}

// resolve finds the id of a user named by id or email.
func (c *apiClient) resolve(ctx context.Context, who string) (string, error) {
	if strings.HasPrefix(who, "usr_") && !strings.Contains(who, "@") {
		return who, nil
	}
	var l struct{ Users []apiUser }
	if _, err := c.call(ctx, http.MethodGet, "/users?q="+url.QueryEscape(who), nil, &l); err != nil {
		return "", err
	}
	for _, u := range l.Users {
		if strings.EqualFold(u.Email, strings.TrimSpace(who)) {
			return u.ID, nil
		}
	}
	return "", fmt.Errorf("no user with the email %s", who)
}

func usersAPI(ctx context.Context, cmd string, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tollgate users "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	urlFlag := fs.String("url", os.Getenv("TOLLGATE_URL"), "the gate's URL, e.g. https://billing.example.com")
	tokenFlag := fs.String("token", os.Getenv("TOLLGATE_TOKEN"), "an API token (tgt_…)")
	asJSON := fs.Bool("json", false, "print the API's JSON")
	role := fs.String("role", "", "list: only users holding this role")
	status := fs.String("status", "", "list: only users in this status")
	inactive := fs.Int("inactive-days", 0, "list: only users not seen for this many days")
	query := fs.String("q", "", "list: search email and name")
	email := fs.String("email", "", "add: the new user's email")
	name := fs.String("name", "", "add: the new user's full name")
	roles := fs.String("roles", "", "add, set-roles: comma-separated roles")
	asCSV := fs.Bool("csv", false, "review: print CSV")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	c, err := newAPIClient(*urlFlag, *tokenFlag)
	if err != nil {
		return err
	}
	needUser := cmd == "set-roles" || cmd == "disable" || cmd == "enable" || cmd == "revoke"
	if needUser != (len(pos) == 1) || (!needUser && len(pos) > 0) {
		return usageError{fmt.Errorf("unexpected arguments %q", pos)}
	}
	emit := func(v any, raw []byte, table func(w *tabwriter.Writer)) error {
		if *asJSON {
			_, err := stdout.Write(raw)
			return err
		}
		w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		table(w)
		return w.Flush()
	}
	switch cmd {
	case "list":
		return listUsers(ctx, c, stdout, *asJSON, *role, *status, *inactive, *query)
	case "add":
		if *email == "" || *name == "" {
			return usageError{errors.New("add needs --email and --name")}
		}
		var out struct {
			User       apiUser
			Invitation struct {
				Link       string
				ExpiresAt  time.Time `json:"expires_at"`
				Emailed    bool
				EmailError string `json:"email_error"`
			}
		}
		raw, err := c.call(ctx, http.MethodPost, "/users", map[string]any{"email": *email, "name": *name, "roles": splitList(*roles)}, &out)
		if err != nil {
			return err
		}
		return emit(out, raw, func(w *tabwriter.Writer) {
			fmt.Fprintf(w, "added\t%s (%s)\t%s\n", out.User.Email, out.User.ID, strings.Join(out.User.Roles, ","))
			fmt.Fprintf(w, "invitation link\t%s\n", out.Invitation.Link)
			fmt.Fprintf(w, "valid until\t%s\n", out.Invitation.ExpiresAt.UTC().Format(time.RFC3339))
			if out.Invitation.Emailed {
				fmt.Fprintf(w, "emailed to\t%s\n", out.User.Email)
			}
		})
	case "review":
		if *asCSV {
			raw, err := c.call(ctx, http.MethodGet, "/review.csv", nil, nil)
			if err == nil {
				_, err = stdout.Write(raw)
			}
			return err
		}
		var rv struct {
			Users []struct {
				apiUser
				Roles []struct {
					Role   string
					Routes []string
				} `json:"roles"`
			}
		}
		raw, err := c.call(ctx, http.MethodGet, "/review", nil, &rv)
		if err != nil {
			return err
		}
		return emit(rv, raw, func(w *tabwriter.Writer) {
			fmt.Fprintln(w, "EMAIL\tSTATUS\tROLE\tROUTES\tLAST LOGIN\tMFA")
			for _, u := range rv.Users {
				if len(u.Roles) == 0 {
					fmt.Fprintf(w, "%s\t%s\t-\t-\t%s\t%s\n", u.Email, u.Status, when(u.LastLogin), yesNo(u.MFAEnrolled))
				}
				for _, g := range u.Roles {
					fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", u.Email, u.Status, g.Role, strings.Join(g.Routes, " "), when(u.LastLogin), yesNo(u.MFAEnrolled))
				}
			}
		})
	}

	id, err := c.resolve(ctx, pos[0])
	if err != nil {
		return err
	}
	var (
		u   apiUser
		raw []byte
	)
	switch cmd {
	case "set-roles":
		if !slices.Contains(args, "--roles") && !slices.ContainsFunc(args, func(a string) bool { return strings.HasPrefix(a, "--roles=") }) {
			return usageError{errors.New("set-roles needs --roles (use --roles '' to remove every role)")}
		}
		raw, err = c.call(ctx, http.MethodPatch, "/users/"+id, map[string]any{"roles": splitList(*roles)}, &u)
	case "disable", "enable":
		raw, err = c.call(ctx, http.MethodPost, "/users/"+id+"/"+cmd, nil, &u)
	case "revoke":
		var n struct{ Revoked int }
		raw, err = c.call(ctx, http.MethodDelete, "/users/"+id+"/sessions", nil, &n)
		if err != nil {
			return err
		}
		return emit(n, raw, func(w *tabwriter.Writer) { fmt.Fprintf(w, "ended %d session(s) of %s\n", n.Revoked, pos[0]) })
	}
	if err != nil {
		return err
	}
	return emit(u, raw, func(w *tabwriter.Writer) { userTable(w, []apiUser{u}) })
}

func listUsers(ctx context.Context, c *apiClient, stdout io.Writer, asJSON bool, role, status string, inactiveDays int, q string) error {
	v := url.Values{}
	for k, val := range map[string]string{"role": role, "status": status, "q": q} {
		if val != "" {
			v.Set(k, val)
		}
	}
	if inactiveDays > 0 {
		v.Set("inactive_since", time.Now().Add(-time.Duration(inactiveDays)*24*time.Hour).UTC().Format(time.RFC3339))
	}
	var all []apiUser
	var rawAll []json.RawMessage
	for {
		var page struct {
			Users      []json.RawMessage `json:"users"`
			NextCursor string            `json:"next_cursor"`
		}
		if _, err := c.call(ctx, http.MethodGet, "/users?"+v.Encode(), nil, &page); err != nil {
			return err
		}
		for _, r := range page.Users {
			var u apiUser
			if err := json.Unmarshal(r, &u); err != nil {
				return err
			}
			all, rawAll = append(all, u), append(rawAll, r)
		}
		if page.NextCursor == "" {
			break
		}
		v.Set("cursor", page.NextCursor)
	}
	if asJSON {
		if rawAll == nil {
			rawAll = []json.RawMessage{}
		}
		return json.NewEncoder(stdout).Encode(map[string]any{"users": rawAll})
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	userTable(w, all)
	return w.Flush()
}

func userTable(w io.Writer, users []apiUser) {
	fmt.Fprintln(w, "EMAIL\tNAME\tROLES\tSTATUS\tLAST LOGIN\tMFA\tID")
	for _, u := range users {
		r := strings.Join(u.Roles, ",")
		if r == "" {
			r = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", u.Email, u.Name, r, u.Status, when(u.LastLogin), yesNo(u.MFAEnrolled), u.ID)
	}
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format("2006-01-02 15:04")
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// bootstrapAdmin creates the first administrator in the durable store directly. The user is
// created active with the administrator role, not invited: there is nobody yet to hand an
// invitation link to, and the person's first sign-in through the IdP with this email binds
// the account, as for any directory user.
func bootstrapAdmin(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("tollgate users bootstrap-admin", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	configPath := fs.String("config", "", "the configuration file (its store section names the database)")
	email := fs.String("email", "", "the administrator's email, as the IdP asserts it")
	name := fs.String("name", "", "the administrator's full name")
	role := fs.String("admin-role", directory.DefaultAdminRole, "the administrator role (admin.admin_role)")
	force := fs.Bool("force", false, "proceed even though an active administrator exists")
	if pos, err := parseInterleaved(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q", pos)}
	}
	if *configPath == "" || strings.TrimSpace(*email) == "" {
		return usageError{errors.New("bootstrap-admin needs --config and --email")}
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		return err
	}
	if cfg.Store == nil {
		return fmt.Errorf("%s has no store section: bootstrap-admin writes to the durable store (store.driver: sqlite or postgres)", *configPath)
	}
	st, err := directory.Open(ctx, *cfg.Store, directory.StoreOptions{AdminRole: *role})
	if err != nil {
		return err
	}
	defer func() { _ = st.Close() }()
	n, err := st.CountActiveAdmins(ctx)
	if err != nil {
		return err
	}
	if n > 0 && !*force {
		return fmt.Errorf("%d active administrator(s) exist already: add people through the admin pages or API, or pass --force for an emergency", n)
	}
	u, err := st.GetUserByEmail(ctx, *email)
	switch {
	case err == nil:
		_, u, err = st.UpdateUser(ctx, u.ID, func(x *directory.User) error {
			x.Status = directory.StatusActive
			x.Roles = append(x.Roles, *role)
			if *name != "" {
				x.Name = *name
			}
			return nil
		})
	case errors.Is(err, directory.ErrNotFound):
		nm := *name
		if nm == "" {
			nm, _, _ = strings.Cut(*email, "@")
		}
		u, err = st.CreateUser(ctx, directory.User{Email: *email, Name: nm, Roles: []string{*role},
			Status: directory.StatusActive, InvitedBy: "bootstrap"})
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s (%s) is an active %s.\nSign in with this email through your identity provider, then open %s%s\n",
		u.Email, u.ID, *role, strings.TrimSuffix(cfg.Gate.PublicURL, "/"), admin.Prefix)
	return nil
}
