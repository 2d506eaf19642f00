package directory

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSQLiteFilesArePrivate(t *testing.T) {
	tmp := t.TempDir()
	path := filepath.Join(tmp, "new", "data", "directory.db")
	// A loose file left by hand or an older release is made private too.
	loose := filepath.Join(tmp, "loose.db")
	if err := os.WriteFile(loose, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, loose} {
		st, err := OpenSQLite(t.Context(), p, StoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateUser(t.Context(), User{Email: "ann@billing.example"}); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{p, p + "-wal", p + "-shm"} {
			fi, err := os.Stat(f)
			if err != nil {
				t.Fatalf("%s: %v (WAL mode keeps -wal and -shm while open)", f, err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("%s: mode %o, want 600", filepath.Base(f), mode)
			}
		}
		_ = st.Close()
	}
	for _, d := range []string{filepath.Dir(path), filepath.Dir(filepath.Dir(path))} {
		fi, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if mode := fi.Mode().Perm(); mode != 0o700 {
			t.Errorf("created folder %s: mode %o, want 700", d, mode)
		}
	}
}

func TestSQLiteSettings(t *testing.T) {
	st, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "d.db"), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	for _, c := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "2"}, // FULL: a committed user survives a power cut
		{"secure_delete", "1"},
	} {
		if got := queryStrings(t, st, "PRAGMA "+c.pragma); len(got) != 1 || got[0] != c.want {
			t.Errorf("writer PRAGMA %s = %v, want %s", c.pragma, got, c.want)
		}
	}
	if n := st.w.Stats().MaxOpenConnections; n != 1 {
		t.Errorf("writer pool allows %d connections, want 1", n)
	}
	if _, err := st.r.ExecContext(t.Context(), "DELETE FROM users"); err == nil || !strings.Contains(err.Error(), "readonly") {
		t.Errorf("a write through the read pool: %v; want refused as read-only", err)
	}
	// Foreign keys really hold: a role for nobody is refused.
	if _, err := st.w.ExecContext(t.Context(), "INSERT INTO user_roles (user_id, role) VALUES ('usr_nobody', 'x')"); err == nil {
		t.Error("a role for an unknown user was stored")
	}
}

// Erasure on SQLite leaves no copy of the person in the database file or its WAL.
func TestSQLiteEraseWipesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.db")
	st, err := OpenSQLite(t.Context(), path, StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	ctx := t.Context()
	const email = "wipe.me.please@billing.example"
	u, err := st.CreateUser(ctx, User{Email: email, Name: "Wipe Mepleasename", Status: StatusActive})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, User{Email: "stays@billing.example"}); err != nil {
		t.Fatal(err)
	}
	files := func() []byte {
		var all []byte
		for _, f := range []string{path, path + "-wal"} {
			b, err := os.ReadFile(f)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			all = append(all, b...)
		}
		return all
	}
	if !bytes.Contains(files(), []byte(email)) {
		t.Fatal("the email is not in the files before erasure: the check below would prove nothing")
	}
	if err := st.EraseUser(ctx, u.ID, "p-1"); err != nil {
		t.Fatal(err)
	}
	b := files()
	for _, s := range []string{email, "Mepleasename", "mepleasename"} {
		if bytes.Contains(b, []byte(s)) {
			t.Errorf("the database files still hold %q after erasure", s)
		}
	}
	if !bytes.Contains(b, []byte("stays@billing.example")) {
		t.Error("the other user is gone from the files")
	}
}
