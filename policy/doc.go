// Package policy decides whether a user's roles may perform an HTTP method on a canonical path.
//
// A policy file names routes (methods and path patterns) and roles (which routes each role is
// allowed or denied). Load validates the whole file at once and compiles it into ory/ladon
// policies, one per (role, route, effect), held in a ladon memory manager; Decide evaluates each
// of the user's roles against them with ladon's matcher, so the decision keeps ladon's semantics
// while still reporting which policy decided. Deny overrides allow across all of a user's roles,
// and anything no policy allows is denied.
//
// The file format carries a version so that it can grow (conditions, a compiled route index)
// without breaking files written today:
//
//	version: 1
//	routes:
//	  - name: invoices.create
//	    methods: [POST]
//	    paths: ["/invoices"]
//	roles:
//	  sales_rep:
//	    description: Customers read, invoices create and read
//	    allow: [invoices.create]
//
// Path patterns are literal segments, "{name}" for exactly one non-empty segment, and a final
// "**" for zero or more segments. They match the canonical path only, never a query string.
package policy
