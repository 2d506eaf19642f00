package deploy_test

import (
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// instruction is one Dockerfile instruction with its continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, RUN, …
	args string
}

func parseDockerfile(text string) []instruction {
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if cur.Len() == 0 && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasPrefix(trimmed, "#") { // a comment inside a continued instruction
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return out
}

// finalStage returns the instructions of the last stage, the one that becomes the image.
func finalStage(ins []instruction) []instruction {
	last := 0
	for i, in := range ins {
		if in.cmd == "FROM" {
			last = i
		}
	}
	return ins[last:]
}

var (
	urlRE  = regexp.MustCompile(`(?i)\b(https?|git|ftp)://|git@`)
	rootRE = regexp.MustCompile(`^(root|0)(:|$)`)
)

// dockerfileProblems lists what would make the image unsafe or unfit to run as the README
// describes it.
func dockerfileProblems(text string) []string {
	ins := parseDockerfile(text)
	var problems []string
	var froms []instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			froms = append(froms, in)
		}
		if in.cmd == "ADD" && urlRE.MatchString(in.args) {
			problems = append(problems, "ADD fetches from the network: "+in.args)
		}
	}
	if len(froms) < 2 {
		problems = append(problems, "not a multi-stage build: the toolchain would ship in the image")
	}
	final := finalStage(ins)
	if len(final) == 0 {
		return append(problems, "no FROM")
	}
	base := strings.Fields(final[0].args)
	if len(base) == 0 || !(strings.HasPrefix(base[0], "gcr.io/distroless/static") || base[0] == "scratch") {
		problems = append(problems, "final stage is not distroless/static or scratch: "+final[0].args)
	}
	var user string
	for _, in := range final {
		if in.cmd == "USER" {
			user = in.args
		}
	}
	if user == "" || rootRE.MatchString(user) {
		problems = append(problems, fmt.Sprintf("final stage runs as %q, want a non-root USER", user))
	}
	var entrypoint []string
	for _, in := range final {
		if in.cmd == "ENTRYPOINT" {
			if err := json.Unmarshal([]byte(in.args), &entrypoint); err != nil {
				problems = append(problems, "ENTRYPOINT is not in exec form: signals would go to a shell, not the gate")
			}
		}
	}
	if !slices.Equal(entrypoint, []string{"/tollgate"}) {
		problems = append(problems, fmt.Sprintf("ENTRYPOINT %q, want [\"/tollgate\"]", entrypoint))
	}
	if _, err := dockerBuildCommand(text); err != nil {
		problems = append(problems, err.Error())
	}
	return problems
}

// dockerBuildCommand returns the shell command of the RUN that builds the gate, without its
// BuildKit flags. It takes a path or the Dockerfile's text.
func dockerBuildCommand(pathOrText string) (string, error) {
	text := pathOrText
	if !strings.Contains(pathOrText, "\n") {
		b, err := os.ReadFile(pathOrText)
		if err != nil {
			return "", err
		}
		text = string(b)
	}
	for _, in := range parseDockerfile(text) {
		if in.cmd != "RUN" || !strings.Contains(in.args, "go build") {
			continue
		}
		fields := strings.Fields(in.args)
		for len(fields) > 0 && strings.HasPrefix(fields[0], "--") {
			fields = fields[1:]
		}
		cmdline := strings.Join(fields, " ")
		for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/tollgate", "-o /out/tollgate"} {
			if !strings.Contains(cmdline, want) {
				return "", fmt.Errorf("the go build step lacks %q: %s", want, cmdline)
			}
		}
		return cmdline, nil
	}
	return "", fmt.Errorf("no RUN … go build step")
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	good := string(b)
	if p := dockerfileProblems(good); len(p) > 0 {
		t.Fatalf("deploy/Dockerfile:\n%s", strings.Join(p, "\n"))
	}
	final := finalStage(parseDockerfile(good))
	for _, want := range []instruction{
		{"EXPOSE", "8080 9090"},
		{"VOLUME", `["/var/lib/tollgate"]`},
		{"CMD", `["serve", "--config", "/etc/tollgate/tollgate.yaml"]`},
	} {
		if !slices.Contains(final, want) {
			t.Errorf("final stage lacks %s %s", want.cmd, want.args)
		}
	}

	// The checks themselves: each broken variant must be caught.
	for _, c := range []struct {
		name, old, new, want string
	}{
		{"runs as root", "USER 65532:65532", "USER root", "non-root USER"},
		{"runs as uid 0", "USER 65532:65532", "USER 0:0", "non-root USER"},
		{"no user", "USER 65532:65532", "", "non-root USER"},
		{"single stage", "FROM gcr.io/distroless/static-debian12:nonroot", "", "multi-stage"},
		{"fetches a URL", "COPY . .", "ADD https://example.com/x.tgz /src/", "network"},
		{"shell-form entrypoint", `ENTRYPOINT ["/tollgate"]`, "ENTRYPOINT /tollgate", "exec form"},
		{"not static", "CGO_ENABLED=0 ", "", "CGO_ENABLED=0"},
		{"no version stamp", "-X main.version=${VERSION}", "", "main.version"},
		{"big base image", "FROM gcr.io/distroless/static-debian12:nonroot", "FROM debian:12", "distroless"},
	} {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(good, c.old, c.new, 1)
			if bad == good {
				t.Fatalf("%q not found in the Dockerfile", c.old)
			}
			p := strings.Join(dockerfileProblems(bad), "\n")
			if !strings.Contains(p, c.want) {
				t.Errorf("problems = %q, want one mentioning %q", p, c.want)
			}
		})
	}
}

// TestDockerBuildStep runs the Dockerfile's build command here: the binary must report the
// stamped version and be static, since the image has no C library.
func TestDockerBuildStep(t *testing.T) {
	bin := tollgateBinary(t)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("tollgate version: %v\n%s", err, out)
	}
	if got, want := strings.TrimSpace(string(out)), "tollgate "+testVersion; got != want {
		t.Errorf("tollgate version = %q, want %q", got, want)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary asks for a dynamic loader: it is not static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	if f.Section(".symtab") != nil {
		t.Error("the binary keeps its symbol table: -s is missing")
	}
	if b, _ := os.ReadFile(bin); strings.Contains(string(b), filepath.Join(repoRoot(t), "cmd")) {
		t.Error("the binary holds build paths: -trimpath is missing")
	}
}
