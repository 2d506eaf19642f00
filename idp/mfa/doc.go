// Package mfa is Tollgate's own second factor, for deployments whose IdP does not enforce one
// and for a fresh proof before money-moving actions: TOTP (RFC 6238) with recovery codes, and
// passkeys or security keys (WebAuthn) as an alternative.
//
// The gate builds a Subject from the session and hands every request under /_tollgate/mfa/
// and /_tollgate/account to Handler.Serve. The handler keeps no session state of its own:
// pending enrolments and WebAuthn ceremonies live in the session store, bound to the session
// id and short-lived; secrets live in the durable directory, sealed with AES-256-GCM under a
// configured key; replay guards and attempt counters live in the session store, so that every
// replica sees them. When a factor is proven the handler calls Deps.Proven, and the gate marks
// the session.
//
// Every event is an audit record (category "authentication", actions mfa_*) and a count in
// tollgate_mfa_total{method,result}. No record, log line or metric holds a code or a secret.
package mfa
