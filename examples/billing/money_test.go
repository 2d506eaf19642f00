package billing

import (
	"errors"
	"testing"
)

func TestFormatMoney(t *testing.T) {
	for _, tc := range []struct {
		cents int64
		want  string
	}{
		{0, "$0.00"},
		{5, "$0.05"},
		{99, "$0.99"},
		{100, "$1.00"},
		{123456, "$1,234.56"},
		{100000, "$1,000.00"},
		{99999, "$999.99"},
		{123456789012, "$1,234,567,890.12"},
		{-123456, "-$1,234.56"},
	} {
		if got := formatMoney("$", tc.cents); got != tc.want {
			t.Errorf("formatMoney(%d) = %q, want %q", tc.cents, got, tc.want)
		}
	}
}

func TestParseAmount(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64 // 0 means refused
	}{
		{"1", 100},
		{"1.5", 150},
		{"1.05", 105},
		{"0.01", 1},
		{" 1234.56 ", 123456},
		{"1,234.56", 123456},
		{"$1,234.56", 123456},
		{"€12", 1200},
		{"1,000,000", 100000000},
		{"10000000.00", 1000000000},
		{"", 0},
		{"0", 0},
		{"0.00", 0},
		{"-1", 0},
		{"+1", 0},
		{"1.", 0},
		{".5", 0},
		{"1.234", 0},
		{"1e3", 0},
		{"1 000", 0},
		{"1,23", 0},
		{"1234,567", 0},
		{",123", 0},
		{"10000000.01", 0},
		{"999999999999999999999", 0},
		{"$$1", 0},
		{"0x10", 0},
		{"１２", 0}, // full-width digits
	} {
		got, err := parseAmount(tc.in)
		if tc.want == 0 {
			if !errors.Is(err, errBadAmount) {
				t.Errorf("parseAmount(%q) = %d, %v; want errBadAmount", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("parseAmount(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
		ok   bool
	}{
		{"1", 1, true},
		{"1001", 1001, true},
		{"0", 0, false},
		{"01", 0, false},
		{"+1", 0, false},
		{"-1", 0, false},
		{" 1", 0, false},
		{"1234567890", 0, false},
		{"", 0, false},
	} {
		got, ok := parseID(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseID(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
