package policy

import (
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestCanonicalSegmentUTF8: the UTF-8 check that canonicalSegment makes while decoding agrees
// with decoding the segment and calling utf8.ValidString, on every escaped byte pair and on
// random runs of escaped bytes, mixed with ASCII.
func TestCanonicalSegmentUTF8(t *testing.T) {
	want := func(seg string) bool {
		dec, err := url.PathUnescape(seg)
		return err == nil && utf8.ValidString(dec)
	}
	check := func(seg string) {
		t.Helper()
		if got := canonicalSegment(seg, false); got != want(seg) {
			t.Fatalf("canonicalSegment(%q) = %v, want %v", seg, got, !got)
		}
	}
	esc := func(b byte) string { return fmt.Sprintf("%%%02X", b) }
	for a := 0x80; a <= 0xff; a++ {
		check("x" + esc(byte(a)))
		for b := 0x80; b <= 0xff; b++ {
			check(esc(byte(a)) + esc(byte(b)))
			check(esc(byte(a)) + "a" + esc(byte(b)))
		}
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	valid := 0
	for range 200000 {
		var b strings.Builder
		for range 1 + rnd.IntN(6) {
			if rnd.IntN(5) == 0 {
				b.WriteByte('a')
				continue
			}
			// Mostly lead and continuation bytes of multi-byte runes.
			b.WriteString(esc(byte(0x80 + rnd.IntN(0x78))))
		}
		seg := b.String()
		check(seg)
		if want(seg) {
			valid++
		}
	}
	if valid < 1000 {
		t.Errorf("only %d valid segments among the random ones", valid)
	}
}
