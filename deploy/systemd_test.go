package deploy_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const unitPath = "systemd/tollgate.service"

// parseUnit returns section → key → values, in file order (a key may repeat).
func parseUnit(text string) map[string]map[string][]string {
	out := map[string]map[string][]string{}
	section := ""
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, _ := strings.Cut(line, "=")
			out[section][k] = append(out[section][k], v)
		}
	}
	return out
}

// TestSystemdUnitHardening pins each protection the README promises; removing or weakening
// one fails here.
func TestSystemdUnitHardening(t *testing.T) {
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	svc := parseUnit(string(b))["Service"]
	for _, c := range []struct{ key, want string }{
		{"DynamicUser", "yes"},
		{"StateDirectory", "tollgate"},
		{"ConfigurationDirectory", "tollgate"},
		{"ProtectSystem", "strict"},
		{"ProtectHome", "yes"},
		{"PrivateTmp", "yes"},
		{"PrivateDevices", "yes"},
		{"NoNewPrivileges", "yes"},
		{"CapabilityBoundingSet", ""},
		{"AmbientCapabilities", ""},
		{"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
		{"SystemCallFilter", "@system-service"},
		{"SystemCallArchitectures", "native"},
		{"MemoryDenyWriteExecute", "yes"},
		{"RestrictSUIDSGID", "yes"},
		{"UMask", "0077"},
		{"ExecReload", "/bin/kill -HUP $MAINPID"},
		{"Restart", "on-failure"},
		{"LimitNOFILE", "65536"},
		{"ExecStart", "/usr/local/bin/tollgate serve --config /etc/tollgate/tollgate.yaml"},
		{"ExecStartPre", "/usr/local/bin/tollgate check-config --config /etc/tollgate/tollgate.yaml"},
	} {
		if got, ok := svc[c.key]; !ok || !slices.Contains(got, c.want) {
			t.Errorf("[Service] %s = %q, want %q among its values", c.key, got, c.want)
		}
	}
	// Longer than the gate's own 20s drain, or systemd kills requests in flight.
	if d := svc["TimeoutStopSec"]; len(d) != 1 || !strings.HasSuffix(d[0], "s") {
		t.Errorf("TimeoutStopSec = %q", d)
	} else if n, _ := strconv.Atoi(strings.TrimSuffix(d[0], "s")); n <= 20 {
		t.Errorf("TimeoutStopSec = %ds, want more than the 20s drain", n)
	}
}

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// TestSystemdAnalyze has systemd read the unit as it would at daemon-reload (every key known,
// every value valid) and score its sandbox offline.
func TestSystemdAnalyze(t *testing.T) {
	analyze := tool(t, "systemd-analyze", "apt-get install systemd")
	bin := tollgateBinary(t)
	b, err := os.ReadFile(unitPath)
	if err != nil {
		t.Fatal(err)
	}
	// verify checks that the binary exists: point it at the one just built.
	unit := strings.ReplaceAll(string(b), "/usr/local/bin/tollgate", bin)
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := exec.Command(analyze, args...)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.String(), err
	}
	exposure := func(t *testing.T, path string) float64 {
		t.Helper()
		out, err := run("security", "--offline=true", path)
		m := exposureRE.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("systemd-analyze security: %v\n%s", err, out)
		}
		f, _ := strconv.ParseFloat(m[1], 64)
		return f
	}

	path := write("tollgate.service", unit)
	if out, err := run("verify", path); err != nil || strings.TrimSpace(out) != "" {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	const limit = 2.0 // "OK" in systemd's scale, where 10 is no sandbox at all
	got := exposure(t, path)
	t.Logf("exposure %.1f", got)
	if got > limit {
		t.Errorf("exposure %.1f, want at most %.1f", got, limit)
	}

	// Controls: verify reports a misspelt key, and the score sees a sandbox taken away.
	typo := write("typo.service", strings.Replace(unit, "NoNewPrivileges=", "NoNewPrivilege=", 1))
	if out, _ := run("verify", typo); !strings.Contains(out, "NoNewPrivilege") {
		t.Errorf("verify did not report a misspelt key:\n%s", out)
	}
	head, _, _ := strings.Cut(unit, "DynamicUser=yes")
	_, tail, _ := strings.Cut(unit, "[Install]")
	bare := write("bare.service", head+"\n[Install]"+tail)
	if got := exposure(t, bare); got <= limit {
		t.Errorf("an unhardened unit scores %.1f: the exposure check cannot fail", got)
	}
}
