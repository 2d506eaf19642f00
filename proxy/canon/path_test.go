package canon

import "testing"

const (
	climbs        = "path climbs above the root"
	encSlash      = "encoded slash in path"
	encBackslash  = "encoded backslash in path"
	encPercent    = "encoded percent sign in path"
	encSemicolon  = "encoded semicolon in path"
	encQuestion   = "encoded question mark in path"
	encFragment   = "encoded fragment marker in path"
	encControl    = "encoded control character in path"
	rawBackslash  = "backslash in path"
	rawSemicolon  = "semicolon in path"
	rawFragment   = "fragment in path"
	rawControl    = "control character in path"
	rawSpace      = "raw space in path"
	rawNonASCII   = "raw non-ASCII byte in path"
	malformed     = "malformed percent-encoding in path"
	badUTF8       = "invalid UTF-8 in path"
	folds         = "character that folds into a delimiter in path"
	invisible     = "invisible character in path"
	nonChar       = "non-character in path"
	notAssigned   = "control, space or unassigned character in path"
	looseMark     = "combining mark without a letter in path"
	onlyDots      = "path segment of only dots"
	paddedDots    = "dot segment padded with spaces or plus signs"
	trailingDot   = "path segment ends with a dot"
	edgeSpace     = "path segment starts or ends with a space"
	ntfsStream    = "NTFS stream name in path"
	pathTooLong   = "path too long"
	tooManySegs   = "too many path segments"
	queryTooLong  = "query too long"
	queryControl  = "control character in query"
	queryNonASCII = "raw non-ASCII byte in query"
	querySpace    = "raw space in query"
	queryFragment = "fragment in query"
	queryEscape   = "malformed percent-encoding in query"
)

func TestTraversal(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/..", reason: climbs},
		{uri: "/../admin", reason: climbs},
		{uri: "/public/../../admin", reason: climbs},
		{uri: "/a/b/../../..", reason: climbs},
		{uri: "/a/./../..", reason: climbs},
		{uri: "//../admin", reason: climbs},
		{uri: "/%2e%2e/admin", reason: climbs},
		{uri: "/%2E%2E/admin", reason: climbs},
		{uri: "/.%2e/admin", reason: climbs},
		{uri: "/%2e./admin", reason: climbs},
		{uri: "/%2e%2E/admin", reason: climbs},
		{uri: "/public/%2e%2e/%2e%2e/etc/passwd", reason: climbs},
		{uri: "/public/..%2f..%2fadmin", reason: encSlash},
		{uri: "/%252e%252e/admin", reason: encPercent},
		{uri: "/%25%32%65%25%32%65/admin", reason: encPercent},
		{uri: "/%25252e%25252e/admin", reason: encPercent},
		{uri: "/%c0%ae%c0%ae/admin", reason: badUTF8},
		{uri: "/%C0%AE./admin", reason: badUTF8},
		{uri: "/%e0%80%ae%e0%80%ae/admin", reason: badUTF8},
		{uri: "/%f0%80%80%ae/admin", reason: badUTF8},
		{uri: "/%c0%2e/admin", reason: badUTF8},
		{uri: "/%u002e%u002e/admin", reason: malformed},
		{uri: "/..\\admin", reason: rawBackslash},
		{uri: "/..%5cadmin", reason: encBackslash},
		{uri: "/..%5Cadmin", reason: encBackslash},
		{uri: "/%ef%bc%8e%ef%bc%8e/admin", reason: folds},         // U+FF0E fullwidth full stop
		{uri: "/%EF%BC%8E%EF%BC%8E%EF%BC%8Fadmin", reason: folds}, // fullwidth "../"
		{uri: "/%e2%80%a4%e2%80%a4/admin", reason: folds},         // U+2024 one dot leader
		{uri: "/%e2%80%a5/admin", reason: folds},                  // U+2025 two dot leader
		{uri: "/%ef%b9%92%ef%b9%92/admin", reason: folds},         // U+FE52 small full stop
		{uri: "/%e3%80%82%e3%80%82/admin", reason: folds},         // U+3002 ideographic full stop
		{uri: "/.%e2%80%8b./admin", reason: invisible},
		{uri: "/...", reason: onlyDots},
		{uri: "/..../admin", reason: onlyDots},
		{uri: "/..%2e/admin", reason: onlyDots},
		{uri: "/..%20/admin", reason: paddedDots},
		{uri: "/..+/admin", reason: paddedDots},
		{uri: "/.%20./admin", reason: paddedDots},
		{uri: "/..%00/admin", reason: encControl},
		{uri: "/..;/admin", reason: rawSemicolon},
		{uri: "/.. /admin", reason: rawSpace},

		// Positive controls: resolved inside the root, nothing to refuse.
		{uri: "/public/../invoices", want: "/invoices"},
		{uri: "/a/./b", want: "/a/b"},
		{uri: "/a/b/%2e%2e/c", want: "/a/c"},
		{uri: "/a/%2E/b", want: "/a/b"},
		{uri: "/a/b/..", want: "/a/"},
		{uri: "/a/b/../", want: "/a/"},
		{uri: "/a/..", want: "/"},
		{uri: "/a/.", want: "/a/"},
		{uri: "/.", want: "/"},
		{uri: "/..a/a..b/.a.b", want: "/..a/a..b/.a.b"},
		{uri: "/.well-known/openid-configuration", want: "/.well-known/openid-configuration"},
	})
}

func TestEncodedSlash(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/a%2fb", reason: encSlash},
		{uri: "/a%2Fb", reason: encSlash},
		{uri: "/%2F", reason: encSlash},
		{uri: "/admin%2f", reason: encSlash},
		{uri: "/%2F%2Fevil.example/x", reason: encSlash},
		{uri: "/public%2F..%2Fadmin", reason: encSlash},
		{uri: "/a%252fb", reason: encPercent},
		{uri: "/a%25%32%66b", reason: encPercent},
		{uri: "/a%c0%afb", reason: badUTF8},
		{uri: "/a%e0%80%afb", reason: badUTF8},
		{uri: "/a%f0%80%80%afb", reason: badUTF8},
		{uri: "/a%ef%bc%8fb", reason: folds},    // U+FF0F fullwidth solidus
		{uri: "/a%e2%88%95b", reason: folds},    // U+2215 division slash
		{uri: "/a%e2%81%84b", reason: folds},    // U+2044 fraction slash
		{uri: "/a%e2%a7%b8b", reason: folds},    // U+29F8 big solidus
		{uri: "/a%e2%95%b1b", reason: folds},    // U+2571 box drawings diagonal
		{uri: "/a%e2%9f%8bb", reason: folds},    // U+27CB mathematical rising diagonal
		{uri: "/a%f0%9f%99%bcb", reason: folds}, // U+1F67C very heavy solidus
		{uri: "/a%e2%84%81b", reason: folds},    // U+2101 "a/s", whose NFKC holds "/"
		{uri: "/a%c2%bdb", reason: folds},       // U+00BD "1⁄2", whose NFKC holds U+2044
		{uri: "/a%cc%b8b", reason: folds},       // U+0338 combining long solidus overlay
		{uri: "/a%u2215b", reason: malformed},
		{uri: "/a%2", reason: malformed},
		{uri: "/a%", reason: malformed},

		{uri: "/a/b", want: "/a/b"},
		{uri: "/invoices/42", want: "/invoices/42"},
		{uri: "/a%2Db", want: "/a-b"},
	})
}

func TestBackslash(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/a\\b", reason: rawBackslash},
		{uri: "/\\admin", reason: rawBackslash},
		{uri: "/\\\\evil.example/x", reason: rawBackslash},
		{uri: "/a%5cb", reason: encBackslash},
		{uri: "/a%5Cb", reason: encBackslash},
		{uri: "/a%255cb", reason: encPercent},
		{uri: "/a%c1%9cb", reason: badUTF8},         // overlong backslash
		{uri: "/a%e0%81%9cb", reason: badUTF8},      // overlong backslash
		{uri: "/a%ef%bc%bcb", reason: folds},        // U+FF3C fullwidth reverse solidus
		{uri: "/a%ef%b9%a8b", reason: folds},        // U+FE68 small reverse solidus
		{uri: "/a%c2%a5b", reason: folds},           // U+00A5 yen: "\" in code page 932
		{uri: "/a%e2%82%a9b", reason: folds},        // U+20A9 won: "\" in code page 949
		{uri: "/a%ef%bf%a5b", reason: folds},        // U+FFE5 fullwidth yen
		{uri: "/a%e2%88%96b", reason: folds},        // U+2216 set minus
		{uri: "/a%e2%a7%b5b", reason: folds},        // U+29F5 reverse solidus operator
		{uri: "/a%e2%a7%b9b", reason: folds},        // U+29F9 big reverse solidus
		{uri: "/a%f3%a0%81%9cb", reason: invisible}, // U+E005C tag reverse solidus

		{uri: "/a/b", want: "/a/b"},
		{uri: "/a%7Cb", want: "/a%7Cb"},
	})
}

func TestSemicolon(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/admin;", reason: rawSemicolon},
		{uri: "/admin;jsessionid=1", reason: rawSemicolon},
		{uri: "/..;/admin", reason: rawSemicolon},
		{uri: "/public;/../admin", reason: rawSemicolon},
		{uri: "/a;b/c", reason: rawSemicolon},
		{uri: "/admin%3b", reason: encSemicolon},
		{uri: "/admin%3B.css", reason: encSemicolon},
		{uri: "/%3b/admin", reason: encSemicolon},
		{uri: "/admin%253b", reason: encPercent},
		{uri: "/admin%cd%be", reason: folds},    // U+037E Greek question mark: NFC is ";"
		{uri: "/admin%ef%bc%9b", reason: folds}, // U+FF1B fullwidth semicolon
		{uri: "/admin%ef%b9%94", reason: folds}, // U+FE54 small semicolon
		{uri: "/admin%d8%9b", reason: folds},    // U+061B Arabic semicolon

		{uri: "/admin", want: "/admin"},
		{uri: "/a,b=c", want: "/a,b=c"},
		{uri: "/a?x=1;y=2", want: "/a"},
	})
}

func TestFragmentAndQueryMarkers(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/admin#x", reason: rawFragment},
		{uri: "/admin#", reason: rawFragment},
		{uri: "/public#/../admin", reason: rawFragment},
		{uri: "/admin%23", reason: encFragment},
		{uri: "/admin%23/../public", reason: encFragment},
		{uri: "/admin%2523", reason: encPercent},
		{uri: "/admin%3f", reason: encQuestion},
		{uri: "/admin%3F.css?x=1", reason: encQuestion},
		{uri: "/admin%253f", reason: encPercent},
		{uri: "/admin%ef%bc%83", reason: folds}, // U+FF03 fullwidth number sign
		{uri: "/admin%ef%bc%9f", reason: folds}, // U+FF1F fullwidth question mark
		{uri: "/admin%ef%b9%96", reason: folds}, // U+FE56 small question mark
		{uri: "/a?b#c", reason: queryFragment},

		{uri: "/a?b%23c", want: "/a"},
		{uri: "/a?/../admin", want: "/a"},
		{uri: "/a?", want: "/a"},
	})
}

func TestControlCharacters(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/admin%00", reason: encControl},
		{uri: "/admin%00.css", reason: encControl},
		{uri: "/admin\x00", reason: rawControl},
		{uri: "/a\tb", reason: rawControl},
		{uri: "/a\r\nb", reason: rawControl},
		{uri: "/a\x1b", reason: rawControl},
		{uri: "/a\x7f", reason: rawControl},
		{uri: "/a%0d%0aSet-Cookie:x", reason: encControl},
		{uri: "/a%09", reason: encControl},
		{uri: "/a%1F", reason: encControl},
		{uri: "/a%7f", reason: encControl},
		{uri: "/a%c0%80", reason: badUTF8},     // overlong NUL
		{uri: "/a%c2%85", reason: notAssigned}, // U+0085 next line (C1 control)
		{uri: "/a%c2%9b", reason: notAssigned}, // U+009B CSI
		{uri: "/a%e2%80%a8", reason: notAssigned},
		{uri: "/a%e2%80%a9", reason: notAssigned},
		{uri: "/a b", reason: rawSpace},

		{uri: "/a%20b", want: "/a%20b"},
		{uri: "/a%7E", want: "/a~"},
	})
}

// TestWindowsNameTrimming covers names that Windows (and so IIS and anything serving
// from NTFS) resolves to another name than the one the rule saw.
func TestWindowsNameTrimming(t *testing.T) {
	runPathCases(t, []pathCase{
		{uri: "/admin.", reason: trailingDot},
		{uri: "/admin..", reason: trailingDot},
		{uri: "/admin%2e", reason: trailingDot},
		{uri: "/admin./x", reason: trailingDot},
		{uri: "/admin%20", reason: edgeSpace},
		{uri: "/%20admin", reason: edgeSpace},
		{uri: "/admin.%20", reason: edgeSpace},
		{uri: "/admin::$DATA", reason: ntfsStream},
		{uri: "/web.config::%24DATA", reason: ntfsStream},
		{uri: "/admin%3a%24I30%3a%24INDEX_ALLOCATION/", reason: ntfsStream},
		{uri: "/admin:$I30:$INDEX_ALLOCATION/x", reason: ntfsStream},
		{uri: "/....", reason: onlyDots},
		{uri: "/.%20.", reason: paddedDots},
		{uri: "/%20..", reason: paddedDots},
		{uri: "/admin%e3%80%80", reason: folds}, // U+3000 ideographic space
		{uri: "/admin%c2%a0", reason: folds},    // U+00A0 no-break space

		{uri: "/report.pdf", want: "/report.pdf"},
		{uri: "/.env", want: "/.env"},
		{uri: "/tags/c++", want: "/tags/c++"},
		{uri: "/v1/projects/p1:run", want: "/v1/projects/p1:run"},
		{uri: "/price/$5", want: "/price/$5"},
		{uri: "/a%20b", want: "/a%20b"},
	})
}

func TestSlashMerging(t *testing.T) {
	cases := []pathCase{
		{uri: "/", want: "/"},
		{uri: "//", want: "/"},
		{uri: "///a", want: "/a"},
		{uri: "/a//b", want: "/a/b"},
		{uri: "//a///b", want: "/a/b"},
		{uri: "/a///", want: "/a/"},
		{uri: "//a//b//", want: "/a/b/"},
		{uri: "//evil.example/x", want: "/evil.example/x"},
		{uri: "/a//../b", want: "/b"},
		{uri: "/./", want: "/"},
		{uri: "/./a", want: "/a"},
		{uri: "/a/.//b", want: "/a/b"},
		{uri: "/a/", want: "/a/"},
		{uri: "/a", want: "/a"},
		// An encoded slash is not a separator and is not merged: it is refused.
		{uri: "//%2F/a", reason: encSlash},
	}
	for _, tc := range cases {
		t.Run(tc.uri, func(t *testing.T) {
			got, err := Request("GET", tc.uri)
			if tc.reason != "" {
				wantRefusal(t, got, err, tc.reason)
				return
			}
			if err != nil || got.Path != tc.want {
				t.Fatalf("Request(GET, %q) = %q, %v; want %q", tc.uri, got.Path, err, tc.want)
			}
			checkCanonical(t, got)
		})
	}
}

func TestEscapeNormalisation(t *testing.T) {
	cases := []struct{ uri, want string }{
		{"/customers/%7Ealice", "/customers/~alice"},
		{"/customers/%7ealice", "/customers/~alice"},
		{"/%41%42c", "/ABc"},
		{"/%61dmin", "/admin"},
		{"/a%2D%5F%2E%7E%30", "/a-_.~0"},
		{"/a%20b", "/a%20b"},
		{"/a%2a", "/a%2A"},
		{"/a*", "/a*"},
		{"/a%3a%40", "/a%3A%40"},
		{"/a:@", "/a:@"},
		{"/a%2bb", "/a%2Bb"},
		{"/a+b", "/a+b"},
		{"/!$&'()*+,=", "/!$&'()*+,="},
		{"/a%21%24%26%27%28%29%2c%3d", "/a%21%24%26%27%28%29%2C%3D"},
		{"/a{b}", "/a%7Bb%7D"},
		{"/a|b^c`d", "/a%7Cb%5Ec%60d"},
		{"/a[0]", "/a%5B0%5D"},
		{"/a\"<x>", "/a%22%3Cx%3E"},
		{"/a%7b", "/a%7B"},
		{"/caf%c3%a9", "/caf%C3%A9"},
		{"/caf%C3%A9", "/caf%C3%A9"},
		{"/e%cc%81", "/e%CC%81"},
		{"/%e6%97%a5%e6%9c%ac", "/%E6%97%A5%E6%9C%AC"},
		{"/%f0%9f%98%80", "/%F0%9F%98%80"},
		{"/%d0%b0dmin", "/%D0%B0dmin"}, // Cyrillic "а": another name, not a delimiter
		{"/invoices/a%20b", "/invoices/a%20b"},
	}
	for _, tc := range cases {
		t.Run(tc.uri, func(t *testing.T) {
			got, err := Request("GET", tc.uri)
			if err != nil || got.Path != tc.want {
				t.Fatalf("Request(GET, %q) = %q, %v; want %q", tc.uri, got.Path, err, tc.want)
			}
			checkCanonical(t, got)
		})
	}
}
