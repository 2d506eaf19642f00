// Package policy decides whether a user's roles may perform an HTTP method on a canonical path.
//
// A policy file names routes (methods and path patterns) and roles (which routes each role is
// allowed or denied, optionally under conditions), and may add raw ory/ladon policies. Load
// validates the whole file at once, reporting every problem with its line, and compiles it
// into ladon policies, one per (role, route, effect) plus the raw ones. Deny overrides allow
// across all of a user's roles, and anything no policy allows is denied.
//
//	version: 1
//	conditions:
//	  fresh_factor: {mfa_within: 5m}
//	routes:
//	  - name: payments.refund
//	    methods: [POST]
//	    paths: ["/payments/{id}/refund"]
//	roles:
//	  billing_manager:
//	    description: Refunds
//	    allow:
//	      - payments.refund: fresh_factor
//
// Path patterns are literal segments, "{name}" for exactly one non-empty segment, and a final
// "**" for zero or more segments. They match the canonical path only, never a query string.
//
// Canonical paths keep the characters ! $ & ' ( ) * + , = : @ in the spelling they arrived in,
// raw or percent-encoded, since RFC 3986 lets a server tell "/a@b" from "/a%40b"; but nearly
// every application decodes both alike, so rules must not tell them apart either, or a deny
// naming "@" would be dodged by writing "%40". Every rule therefore matches the path's match
// form: escapes of exactly those characters decoded (in either hex case), every other escape in
// upper-case hex. Each decoded path has one match form, so every spelling of a path is decided
// alike, allow and deny, conditions and the value an "owns" condition checks included. A
// pattern names these characters raw ("/reports/a@b/**" matches "/reports/a%40b/x" too); a
// pattern with "%" is refused, "%40" with the advice to write "@". The literal text of raw
// ladon resources is put in match form when the file loads, and an expression that spells
// one of these escapes, which could never match, is refused. Only matching is affected: the
// path forwarded upstream is the canonical path as it arrived.
//
// Conditions are the client's network (source), weekly time windows in a time zone (hours),
// the age of the second factor (mfa_within) and ownership of the path's id (owns); each is a
// ladon.Condition in the compiled policies.
//
// Decide does not run ladon: it answers from an index built once per file (literal lookups on
// method and role, a trie over path segments, Go regular expressions compiled once for raw
// templates), without allocating. Ladon's own evaluation of the same policies is kept as the
// reference: the tests compare the two on random requests, and Explain cross-checks every
// explanation against it.
//
// Holder serves the current version of a file and swaps in a new one atomically when it
// changes and loads; Shadow runs a candidate policy beside the live one and counts where they
// would decide differently.
package policy
