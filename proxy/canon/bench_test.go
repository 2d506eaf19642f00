package canon

import (
	"net/url"
	"testing"
)

// BenchmarkRequest measures a typical target already in canonical form, one that needs
// rewriting, and, as a baseline from the same run, the standard library parsing the same
// canonical target as net/http does for every request anyway.
func BenchmarkRequest(b *testing.B) {
	const canonical = "/invoices/2024/INV-00042/lines?page=2&sort=amount"
	const rewritten = "//invoices/2024/./%49NV-00042/x/../lines/?page=2&sort=amount"
	b.Run("canonical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Request("GET", canonical); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("rewritten", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Request("GET", rewritten); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("utf8", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := Request("GET", "/customers/J%C3%BCrgen%20M%C3%BCller/invoices"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-url.ParseRequestURI", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := url.ParseRequestURI(canonical); err != nil {
				b.Fatal(err)
			}
		}
	})
}
