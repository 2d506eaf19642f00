package deploy_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// testVersion is stamped into the binary the tests build, as a release build would stamp its tag.
const testVersion = "0.0.0-deploytest"

// scratch is a folder shared by the tests of one run, for the binary they all use.
var scratch string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "tollgate-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// repoRoot is the repository: this module lives in its deploy folder.
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "cmd", "tollgate")); err != nil {
		t.Fatalf("repository root not found above deploy: %v", err)
	}
	return root
}

// tool finds a command the checks need. A missing tool fails the test rather than skipping
// it, so that a green run always means the check ran; hint says how to install it.
func tool(t testing.TB, name, hint string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: %s (.ci/run installs it)", name, hint)
	}
	return path
}

var (
	buildOnce sync.Once
	built     string
	buildErr  error
)

// tollgateBinary builds the gate once per run with the Dockerfile's own build command, so
// that what the image would contain is what the other checks run.
func tollgateBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root := repoRoot(t)
		cmdline, err := dockerBuildCommand(filepath.Join(root, "deploy", "Dockerfile"))
		if err != nil {
			buildErr = err
			return
		}
		out := filepath.Join(scratch, "tollgate")
		cmdline = strings.ReplaceAll(cmdline, "/out/tollgate", out)
		cmd := exec.Command("sh", "-c", cmdline)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "VERSION="+testVersion)
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("%s: %w\n%s", cmdline, err, b)
			return
		}
		built = out
	})
	if buildErr != nil {
		t.Fatalf("build the gate as the Dockerfile does: %v", buildErr)
	}
	return built
}
