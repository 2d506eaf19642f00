package devidp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// Validate reports every problem in cfg at once. It does not touch the network or the clock.
func (cfg Config) Validate() error {
	var errs []error
	if err := validateIssuer(cfg.Issuer); err != nil {
		errs = append(errs, err)
	}
	if cfg.SigningKey != nil && cfg.SigningKey.N.BitLen() < 2048 {
		errs = append(errs, errors.New("signing key: RSA keys shorter than 2048 bits are refused"))
	}
	if cfg.MaxEntries < 0 {
		errs = append(errs, errors.New("max entries: must not be negative"))
	}
	if len(cfg.Clients) == 0 {
		errs = append(errs, errors.New("clients: at least one client is required"))
	}
	clientIDs := make(map[string]bool)
	for i, c := range cfg.Clients {
		if clientIDs[c.ID] {
			errs = append(errs, fmt.Errorf("client %d: duplicate id %q", i, c.ID))
		}
		clientIDs[c.ID] = true
		errs = append(errs, validateClient(i, c)...)
	}
	names := make(map[string]bool)
	subjects := make(map[string]bool)
	for i, u := range cfg.Users {
		if err := validateUser(u); err != nil {
			errs = append(errs, fmt.Errorf("user %d: %w", i, err))
			continue
		}
		u = normalizeUser(u)
		key := canonicalUsername(u.Username)
		if names[key] {
			errs = append(errs, fmt.Errorf("user %d: duplicate username %q", i, u.Username))
		}
		if subjects[u.Subject] {
			errs = append(errs, fmt.Errorf("user %d: duplicate subject %q", i, u.Subject))
		}
		names[key], subjects[u.Subject] = true, true
	}
	return errors.Join(errs...)
}

func validateIssuer(issuer string) error {
	if issuer == "" {
		return errors.New("issuer: required")
	}
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("issuer %q: scheme must be http or https", issuer)
	case u.Host == "":
		return fmt.Errorf("issuer %q: host required", issuer)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(issuer, "?#"):
		return fmt.Errorf("issuer %q: userinfo, query and fragment are not allowed", issuer)
	case strings.HasSuffix(issuer, "/"):
		return fmt.Errorf("issuer %q: must not end with a slash", issuer)
	case u.RawPath != "":
		return fmt.Errorf("issuer %q: escaped path characters are not supported", issuer)
	}
	return nil
}

func validateClient(i int, c Client) []error {
	var errs []error
	if c.ID == "" {
		errs = append(errs, fmt.Errorf("client %d: id required", i))
	}
	if c.Secret == "" {
		errs = append(errs, fmt.Errorf("client %d: secret required", i))
	}
	if len(c.RedirectURIs) == 0 {
		errs = append(errs, fmt.Errorf("client %d: at least one redirect URI is required", i))
	}
	for _, list := range [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs} {
		for _, raw := range list {
			if err := validateRedirectURI(raw); err != nil {
				errs = append(errs, fmt.Errorf("client %d: %w", i, err))
			}
		}
	}
	return errs
}

// validateRedirectURI follows RFC 6749 §3.1.2: absolute, no fragment.
func validateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("redirect URI %q: %w", raw, err)
	case !u.IsAbs() || u.Host == "":
		return fmt.Errorf("redirect URI %q: must be absolute", raw)
	case u.Fragment != "" || strings.Contains(raw, "#"):
		return fmt.Errorf("redirect URI %q: must not have a fragment", raw)
	case u.User != nil:
		return fmt.Errorf("redirect URI %q: must not carry userinfo", raw)
	}
	return nil
}

func validateUser(u User) error {
	var errs []error
	if strings.TrimSpace(u.Username) == "" {
		errs = append(errs, errors.New("username required"))
	}
	if u.Password == "" {
		errs = append(errs, errors.New("password required"))
	}
	return errors.Join(errs...)
}

// canonicalUsername is the one form in which usernames are compared.
func canonicalUsername(name string) string {
	return strings.ToLower(strings.TrimSpace(name))
}

// normalizeUser fills the default subject and copies the slices so that later changes by the
// caller cannot reach the provider's copy.
func normalizeUser(u User) User {
	if u.Subject == "" {
		u.Subject = DefaultSubject(u.Username)
	}
	u.Groups = cloneStrings(u.Groups)
	u.AMR = cloneStrings(u.AMR)
	return u
}

func cloneClient(c Client) Client {
	c.RedirectURIs = cloneStrings(c.RedirectURIs)
	c.PostLogoutRedirectURIs = cloneStrings(c.PostLogoutRedirectURIs)
	return c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}
