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
