package admin

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the `admin` section of the configuration file.
type Config struct {
	// AdminRole is the role that may use the admin API and pages; default "administrator".
	AdminRole string `yaml:"admin_role"`
	// MFAWithin is how recently an administrator's session must have proven a second factor;
	// default 1h.
	MFAWithin Duration `yaml:"mfa_within"`
	// SeparationOfDuties lists pairs of roles that nobody may hold together.
	SeparationOfDuties [][]string `yaml:"separation_of_duties"`
	// InvitationTTL is how long an invitation link works; default 168h (7d).
	InvitationTTL Duration `yaml:"invitation_ttl"`
	// DisableInactiveAfter disables active users not seen for this long; 0 turns it off.
	DisableInactiveAfter Duration `yaml:"disable_inactive_after"`
	// SMTP sends invitation emails; without a host, links are only shown to the administrator.
	SMTP SMTPConfig `yaml:"smtp"`
	// PublicURL is the gate's origin, set by wiring; invitation links are built from it.
	PublicURL string `yaml:"-"`
}

// SMTPConfig says how invitation emails leave.
type SMTPConfig struct {
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"` // default 587
	Username     string `yaml:"username"`
	PasswordFile string `yaml:"password_file"`
	From         string `yaml:"from"`
	// StartTLS upgrades the connection before anything is sent; required unless Host is a
	// loopback address, since the mail carries a sign-up link.
	StartTLS bool `yaml:"starttls"`
	// CAFile trusts a private certificate authority for the mail server, in PEM.
	CAFile string `yaml:"ca_file"`
	// Timeout bounds one delivery; default 10s.
	Timeout Duration `yaml:"timeout"`
}

// Defaults of the admin section.
const (
	DefaultMFAWithin     = time.Hour
	DefaultInvitationTTL = 7 * 24 * time.Hour
	defaultSMTPPort      = 587
	defaultSMTPTimeout   = 10 * time.Second
	maxInvitationTTL     = 30 * 24 * time.Hour
	minInactiveAfter     = 24 * time.Hour
)

// Defaults fills the values a config may leave out.
func (c *Config) Defaults() {
	if c.AdminRole == "" {
		c.AdminRole = "administrator"
	}
	if c.MFAWithin == 0 {
		c.MFAWithin = Duration(DefaultMFAWithin)
	}
	if c.InvitationTTL == 0 {
		c.InvitationTTL = Duration(DefaultInvitationTTL)
	}
	if c.SMTP.Host != "" && c.SMTP.Port == 0 {
		c.SMTP.Port = defaultSMTPPort
	}
	if c.SMTP.Timeout == 0 {
		c.SMTP.Timeout = Duration(defaultSMTPTimeout)
	}
}

// Validate reports every problem at once, each naming its key under "admin.". Roles must be
// among knownRoles, the roles the policy defines. Zero values are checked as their defaults.
func (c Config) Validate(knownRoles []string) error {
	c.Defaults()
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	known := func(r string) bool { return slices.Contains(knownRoles, r) }
	if !known(c.AdminRole) {
		add("admin.admin_role: %q is not a role of the policy; use one of %s", c.AdminRole, strings.Join(knownRoles, ", "))
	}
	if c.MFAWithin < 0 {
		add("admin.mfa_within: must be positive, e.g. 1h")
	}
	if c.InvitationTTL < 0 || time.Duration(c.InvitationTTL) > maxInvitationTTL {
		add("admin.invitation_ttl: %s is outside 1s..30d; a link that works for months is a standing way in", c.InvitationTTL)
	}
	switch d := time.Duration(c.DisableInactiveAfter); {
	case d < 0:
		add("admin.disable_inactive_after: must be positive (e.g. 90d) or 0 to turn it off")
	case d > 0 && d < minInactiveAfter:
		add("admin.disable_inactive_after: %s is shorter than a day; people would be disabled over a weekend. Use days, e.g. 90d", c.DisableInactiveAfter)
	}
	for i, pair := range c.SeparationOfDuties {
		key := fmt.Sprintf("admin.separation_of_duties[%d]", i)
		if len(pair) != 2 || pair[0] == pair[1] {
			add("%s: give exactly two different roles, e.g. [billing_manager, accountant]", key)
			continue
		}
		for _, r := range pair {
			if !known(r) {
				add("%s: %q is not a role of the policy", key, r)
			}
		}
	}
	errs = append(errs, c.SMTP.validate()...)
	return errors.Join(errs...)
}

func (s SMTPConfig) validate() []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if s.Host == "" {
		if s.Username != "" || s.PasswordFile != "" || s.From != "" || s.CAFile != "" {
			add("admin.smtp.host: required when other admin.smtp keys are set; give the mail server's name")
		}
		return errs
	}
	if s.Port < 1 || s.Port > 65535 {
		add("admin.smtp.port: %d is not a TCP port; use 587 for submission with STARTTLS", s.Port)
	}
	if a, err := mail.ParseAddress(s.From); err != nil || a.Address == "" {
		add("admin.smtp.from: %q is not an email address; give the sender, e.g. tollgate@example.com", s.From)
	}
	if !s.StartTLS && !loopbackHost(s.Host) {
		add("admin.smtp.starttls: must be true for %s: invitation links must not cross the network in clear text", s.Host)
	}
	if (s.Username == "") != (s.PasswordFile == "") {
		add("admin.smtp.username, admin.smtp.password_file: set both or neither")
	}
	if s.Timeout < 0 {
		add("admin.smtp.timeout: must be positive, e.g. 10s")
	}
	return errs
}

// loopbackHost reports whether host names this machine, where clear text never leaves it.
func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Duration is a time.Duration that YAML may also write in days ("90d"), since the periods an
// administrator thinks in (inactivity, invitation lifetimes) are days.
type Duration time.Duration

// ParseDuration reads "90d", "36h", "1h30m", "45s": Go's durations plus a d (24h) unit.
func ParseDuration(s string) (Duration, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 32)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a duration: use a whole number of days such as 90d, or hours such as 36h", s)
		}
		return Duration(time.Duration(n) * 24 * time.Hour), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration: use d, h, m or s, e.g. 90d, 12h, 30m", s)
	}
	return Duration(d), nil
}

// UnmarshalYAML reads a duration with ParseDuration.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: a duration must be a single value such as 90d", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = v
	return nil
}

// String writes whole days as "90d" and anything else as Go does.
func (d Duration) String() string {
	td := time.Duration(d)
	if td > 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

func (d Duration) std() time.Duration { return time.Duration(d) }
