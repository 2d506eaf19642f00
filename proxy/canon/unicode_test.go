package canon

import (
	"fmt"
	"net/url"
	"testing"
	"unicode"
)

func TestInvalidUTF8(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/%c3", reason: badUTF8},             // truncated at the end
		{uri: "/%c3/x", reason: badUTF8},           // truncated at a segment end
		{uri: "/%e2%82", reason: badUTF8},          // truncated three-byte form
		{uri: "/%c3%28", reason: badUTF8},          // ASCII where a continuation belongs
		{uri: "/%c3a", reason: badUTF8},            // raw ASCII where a continuation belongs
		{uri: "/%a9", reason: badUTF8},             // stray continuation byte
		{uri: "/%c3%a9%a9", reason: badUTF8},       // one continuation too many
		{uri: "/%ed%a0%80", reason: badUTF8},       // UTF-16 high surrogate
		{uri: "/%ed%bf%bf", reason: badUTF8},       // UTF-16 low surrogate
		{uri: "/%f4%90%80%80", reason: badUTF8},    // above U+10FFFF
		{uri: "/%f5%80%80%80", reason: badUTF8},    // lead byte above U+10FFFF
		{uri: "/%fe", reason: badUTF8},             // never valid
		{uri: "/%ff", reason: badUTF8},             // never valid
		{uri: "/%c1%81", reason: badUTF8},          // overlong "A"
		{uri: "/%e0%9f%bf", reason: badUTF8},       // overlong three-byte form
		{uri: "/%f0%8f%bf%bf", reason: badUTF8},    // overlong four-byte form
		{uri: "/%f8%88%80%80%80", reason: badUTF8}, // five-byte form
		{uri: "/caf\xc3\xa9", reason: rawNonASCII}, // must be percent-encoded on the wire
		{uri: "/\xff", reason: rawNonASCII},

		{uri: "/caf%c3%a9", want: "/caf%C3%A9"},
		{uri: "/%ef%bf%bc", want: "/%EF%BF%BC"},       // U+FFFC object replacement, a symbol
		{uri: "/%f4%8f%bf%bd", reason: notAssigned},   // U+10FFFD private use
		{uri: "/%c3%bc%c3%9f", want: "/%C3%BC%C3%9F"}, // ü ß
		{uri: "/%e2%82%ac100", want: "/%E2%82%AC100"}, // €
		{uri: "/%f0%90%8d%88", want: "/%F0%90%8D%88"}, // U+10348 Gothic hwair
		{uri: "/j%c3%bcrgen/%c3%a9", want: "/j%C3%BCrgen/%C3%A9"},
	})
}

func TestInvisibleCharacters(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/ad%e2%80%8bmin", reason: invisible},    // U+200B zero width space
		{uri: "/ad%e2%80%8cmin", reason: invisible},    // U+200C zero width non-joiner
		{uri: "/ad%e2%80%8dmin", reason: invisible},    // U+200D zero width joiner
		{uri: "/ad%e2%80%8emin", reason: invisible},    // U+200E left-to-right mark
		{uri: "/ad%e2%80%8fmin", reason: invisible},    // U+200F right-to-left mark
		{uri: "/ad%e2%80%aemin", reason: invisible},    // U+202E right-to-left override
		{uri: "/%ef%bb%bfadmin", reason: invisible},    // U+FEFF byte order mark
		{uri: "/ad%c2%admin", reason: invisible},       // U+00AD soft hyphen
		{uri: "/ad%e2%81%a0min", reason: invisible},    // U+2060 word joiner
		{uri: "/ad%e1%a0%8emin", reason: invisible},    // U+180E Mongolian vowel separator
		{uri: "/ad%f3%a0%81%81min", reason: invisible}, // U+E0041 tag latin capital A
		{uri: "/admin%ef%b8%8f", reason: invisible},    // U+FE0F variation selector
		{uri: "/ad%cd%8fmin", reason: invisible},       // U+034F combining grapheme joiner
		{uri: "/ad%e3%85%a4min", reason: invisible},    // U+3164 Hangul filler
		{uri: "/ad%ef%be%a0min", reason: invisible},    // U+FFA0 halfwidth Hangul filler
		{uri: "/ad%d8%9cmin", reason: invisible},       // U+061C Arabic letter mark
		{uri: "/admin%ef%bf%be", reason: nonChar},      // U+FFFE
		{uri: "/admin%ef%b7%90", reason: nonChar},      // U+FDD0
		{uri: "/admin%f0%9f%bf%bf", reason: nonChar},   // U+1FFFF
		{uri: "/admin%ee%80%80", reason: notAssigned},  // U+E000 private use
		{uri: "/admin%ef%bf%bd", reason: folds},        // U+FFFD replacement character
		{uri: "/admin%cd%b8", reason: notAssigned},     // U+0378 unassigned

		{uri: "/admin", want: "/admin"},
		{uri: "/%e2%9c%93", want: "/%E2%9C%93"}, // ✓
	})
}

func TestCombiningMarks(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/.%cc%81./admin", reason: looseMark}, // "." + U+0301: ".." once accents are stripped
		{uri: "/..%cc%81/admin", reason: looseMark},
		{uri: "/%cc%81../admin", reason: looseMark}, // at the start of a segment
		{uri: "/a/%cc%81", reason: looseMark},
		{uri: "/a-%cc%81", reason: looseMark},
		{uri: "/a%20%cc%81", reason: looseMark},
		{uri: "/a_%cc%a3", reason: looseMark},
		{uri: "/.%cc%a3%cc%81/x", reason: looseMark}, // two marks on a dot
		{uri: "/a~%e2%83%9d", reason: looseMark},     // U+20DD enclosing circle
		{uri: "/.%e0%a4%82", reason: looseMark},      // U+0902 Devanagari anusvara
		{uri: "/..%cc%b8/admin", reason: folds},      // U+0338 is itself a slash look-alike

		{uri: "/e%cc%81", want: "/e%CC%81"},
		{uri: "/caf%c3%a9%cc%81", want: "/caf%C3%A9%CC%81"},
		{uri: "/1%e2%83%a3", want: "/1%E2%83%A3"},
		{uri: "/%e0%a4%95%e0%a4%bf", want: "/%E0%A4%95%E0%A4%BF"}, // कि
	})
}

// TestFoldingRunes checks the runes named in the security brief one by one, plus their
// kin, so that removing any from the table fails here.
func TestFoldingRunes(t *testing.T) {
	runes := []rune{
		0xFF0E, 0xFF0F, 0xFF3C, 0x2024, 0x2025, 0x2026, 0x2215, 0x2044, 0xFE68, 0xFE52,
		0x3002, 0xFF61, 0xFE12, 0x00A5, 0x20A9, 0xFFE5, 0xFFE6, 0x2216, 0x29F5, 0x29F8,
		0x29F9, 0x2100, 0x2105, 0x2488, 0x1F100, 0x037E, 0xFF05, 0xFE6A, 0xFF1B, 0xFF03,
		0xFF1F, 0x3000, 0x00A0, 0x2000, 0x202F,
	}
	for _, r := range runes {
		t.Run(fmt.Sprintf("U+%04X", r), func(t *testing.T) {
			if !unicode.Is(folding, r) {
				t.Errorf("U+%04X is missing from the folding table", r)
			}
			uri := "/a" + url.PathEscape(string(r)) + "b"
			got, err := Request("GET", uri)
			wantRefusal(t, got, err, folds)
		})
	}
	for _, r := range []rune{'é', 'ß', 'ж', '日', '€', '✓', 'ı', 'K'} {
		if unicode.Is(folding, r) {
			t.Errorf("%q is in the folding table; ordinary text must pass", r)
		}
	}
}

// TestFoldingTableIsCurrent fails when Go moves to a newer Unicode version: runes assigned
// since the table was derived would otherwise pass without being checked for folding.
// Regenerate fold.go with testdata/genfold.py and a Python of the same Unicode version.
func TestFoldingTableIsCurrent(t *testing.T) {
	if unicode.Version != foldingUnicodeVersion {
		t.Errorf("fold.go was derived from Unicode %s, Go uses %s: regenerate it", foldingUnicodeVersion, unicode.Version)
	}
}
