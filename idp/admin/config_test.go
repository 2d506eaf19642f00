package admin

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

var knownRoles = []string{"accountant", "administrator", "billing_manager", "sales_rep", "support"}

func TestConfigYAML(t *testing.T) {
	var c Config
	err := yaml.Unmarshal([]byte(`
admin_role: administrator
mfa_within: 30m
separation_of_duties: [[billing_manager, accountant]]
invitation_ttl: 3d
disable_inactive_after: 90d
smtp: {host: mail.example.com, username: tollgate, password_file: /run/secrets/smtp, from: tollgate@example.com, starttls: true}
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if c.MFAWithin.std() != 30*time.Minute || c.InvitationTTL.std() != 72*time.Hour || c.DisableInactiveAfter.std() != 90*24*time.Hour {
		t.Errorf("durations %v %v %v", c.MFAWithin, c.InvitationTTL, c.DisableInactiveAfter)
	}
	if err := c.Validate(knownRoles); err != nil {
		t.Errorf("valid config refused: %v", err)
	}
	c.Defaults()
	if c.SMTP.Port != 587 || c.DisableInactiveAfter.String() != "90d" {
		t.Errorf("defaults: port %d, %s", c.SMTP.Port, c.DisableInactiveAfter)
	}
	for _, bad := range []string{"mfa_within: 90x", "disable_inactive_after: -3d", "invitation_ttl: [1d]", "disable_inactive_after: 1.5d"} {
		var c Config
		if err := yaml.Unmarshal([]byte(bad), &c); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // every key the error must name
	}{
		{"defaults", Config{}, nil},
		{"loopback smtp without TLS", Config{SMTP: SMTPConfig{Host: "127.0.0.1", Port: 25, From: "t@example.com"}}, nil},
		{"everything wrong", Config{AdminRole: "root", MFAWithin: -1, InvitationTTL: Duration(60 * 24 * time.Hour),
			DisableInactiveAfter: Duration(time.Hour), SeparationOfDuties: [][]string{{"accountant"}, {"accountant", "ghost"}},
			SMTP: SMTPConfig{Host: "mail.example.com", Port: 70000, From: "nobody", Username: "u"}},
			[]string{"admin.admin_role", "admin.mfa_within", "admin.invitation_ttl", "admin.disable_inactive_after",
				"admin.separation_of_duties[0]", "admin.separation_of_duties[1]", "admin.smtp.port", "admin.smtp.from",
				"admin.smtp.starttls", "admin.smtp.username"}},
		{"smtp keys without host", Config{SMTP: SMTPConfig{From: "t@example.com"}}, []string{"admin.smtp.host"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate(knownRoles)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted")
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tc.want) {
				t.Errorf("%d problems, want %d:\n%v", len(lines), len(tc.want), err)
			}
			for _, k := range tc.want {
				if !strings.Contains(err.Error(), k+":") && !strings.Contains(err.Error(), k+",") {
					t.Errorf("no problem names %s:\n%v", k, err)
				}
			}
		})
	}
}
