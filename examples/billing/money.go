package billing

import (
	"errors"
	"strconv"
	"strings"
)

// maxCents bounds amounts well below int64 overflow, even when many are summed in a report.
const maxCents = 1_000_000_000 // $10,000,000.00

// currencies are the ones the settings page offers, in its order; money is always integer cents.
var currencies = []struct{ Code, Symbol string }{{"USD", "$"}, {"EUR", "€"}, {"GBP", "£"}}

func currencySymbol(code string) (string, bool) {
	for _, c := range currencies {
		if c.Code == code {
			return c.Symbol, true
		}
	}
	return "", false
}

// formatMoney renders cents as "$1,234.56" (or "-$1,234.56").
func formatMoney(symbol string, cents int64) string {
	sign := ""
	if cents < 0 {
		sign = "-"
		cents = -cents
	}
	whole := strconv.FormatInt(cents/100, 10)
	var b strings.Builder
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	frac := cents % 100
	return sign + symbol + b.String() + "." + string(rune('0'+frac/10)) + string(rune('0'+frac%10))
}

var errBadAmount = errors.New(`amount must be a positive number such as 1234.56 or 1,234.56, at most 10,000,000.00`)

// parseAmount reads what a person types into an amount field: an optional currency sign,
// digits with optional thousands commas, and at most two decimals. Anything else, including
// zero, negatives and exponents, is refused rather than guessed at.
func parseAmount(s string) (int64, error) {
	s = strings.TrimSpace(s)
	for _, c := range currencies {
		if rest, ok := strings.CutPrefix(s, c.Symbol); ok {
			s = rest
			break
		}
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	if hasFrac && (len(frac) == 0 || len(frac) > 2 || !allDigits(frac)) {
		return 0, errBadAmount
	}
	if strings.Contains(whole, ",") {
		groups := strings.Split(whole, ",")
		if len(groups[0]) == 0 || len(groups[0]) > 3 {
			return 0, errBadAmount
		}
		for _, g := range groups[1:] {
			if len(g) != 3 {
				return 0, errBadAmount
			}
		}
		whole = strings.Join(groups, "")
	}
	if len(whole) == 0 || len(whole) > 9 || !allDigits(whole) {
		return 0, errBadAmount
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		return 0, errBadAmount
	}
	cents := n * 100
	if hasFrac {
		f, _ := strconv.ParseInt(frac, 10, 64)
		if len(frac) == 1 {
			f *= 10
		}
		cents += f
	}
	if cents <= 0 || cents > maxCents {
		return 0, errBadAmount
	}
	return cents, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
