package mfa

import (
	"encoding/base32"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// RFC 6238, appendix B: SHA-1, secret "12345678901234567890", 8 digits.
var rfc6238 = []struct {
	unix int64
	code string
}{
	{59, "94287082"},
	{1111111109, "07081804"},
	{1111111111, "14050471"},
	{1234567890, "89005924"},
	{2000000000, "69279037"},
	{20000000000, "65353130"},
}

var rfcSecret = base32.StdEncoding.EncodeToString([]byte("12345678901234567890"))

func TestRFC6238Vectors(t *testing.T) {
	for _, v := range rfc6238 {
		at := time.Unix(v.unix, 0).UTC()
		got, err := totp.GenerateCodeCustom(rfcSecret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsEight, Algorithm: otp.AlgorithmSHA1})
		if err != nil || got != v.code {
			t.Errorf("library at %d = %q, %v; want %q", v.unix, got, err, v.code)
		}
		// Six digits are the last six of the eight (RFC 4226 truncation modulo 10^6).
		step, ok, err := matchStep(rfcSecret, v.code[2:], at)
		if err != nil || !ok || step != v.unix/30 {
			t.Errorf("matchStep(%s) at %d = %d, %v, %v; want step %d", v.code[2:], v.unix, step, ok, err, v.unix/30)
		}
	}
}

func TestMatchStepSkewIsOneStep(t *testing.T) {
	now := time.Date(2030, 6, 3, 9, 0, 10, 0, time.UTC)
	cur := now.Unix() / 30
	for _, c := range []struct {
		steps int64
		ok    bool
	}{{-3, false}, {-2, false}, {-1, true}, {0, true}, {1, true}, {2, false}, {3, false}} {
		code, err := totp.GenerateCode(rfcSecret, now.Add(time.Duration(c.steps)*totpPeriod))
		if err != nil {
			t.Fatal(err)
		}
		step, ok, err := matchStep(rfcSecret, code, now)
		if err != nil || ok != c.ok {
			t.Errorf("code of step %+d: ok = %v, %v; want %v", c.steps, ok, err, c.ok)
		}
		if ok && step != cur+c.steps {
			t.Errorf("code of step %+d matched step %d, want %d", c.steps, step, cur+c.steps)
		}
	}
}

func TestCodesAreExactlySixDigits(t *testing.T) {
	now := time.Date(2030, 6, 3, 9, 0, 10, 0, time.UTC)
	good, err := totp.GenerateCode(rfcSecret, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := matchStep(rfcSecret, good, now); !ok {
		t.Fatal("control: the current code is refused")
	}
	for _, bad := range []string{
		"", "12345", "1234567", good[:5], good + "0", "0" + good,
		" " + good, good + " ", good + "\n", "\t" + good,
		good[:5] + "a", "12345a", "-12345", "+" + good[1:],
		"１２３４５６", // full-width digits
		"١٢٣٤٥٦", // Arabic-Indic digits
	} {
		if wellFormedCode(bad) {
			t.Errorf("wellFormedCode(%q) = true", bad)
		}
		if _, ok, err := matchStep(rfcSecret, bad, now); ok || err != nil {
			t.Errorf("matchStep(%q) = %v, %v; want refused", bad, ok, err)
		}
	}
}

func TestGroupSecret(t *testing.T) {
	for in, want := range map[string]string{"": "", "ABC": "ABC", "ABCD": "ABCD", "ABCDEFGHIJ": "ABCD EFGH IJ"} {
		if got := groupSecret(in); got != want {
			t.Errorf("groupSecret(%q) = %q, want %q", in, got, want)
		}
	}
}
