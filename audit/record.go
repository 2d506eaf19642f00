// Package audit defines Tollgate's audit record and ships the trail. Records follow the field
// names of the Elastic Common Schema (ECS) so that a SIEM maps them without work: one JSON object
// per event, one per line.
//
// A Pipeline appends each record to a local spool of segment files before Write returns, links
// it into a hash chain with periodic signed checkpoints, and delivers it at least once, in order,
// to every configured sink (file, stdout, syslog, HTTP batch, Redis Streams). Verify checks a
// trail for gaps, reordering and edits.
package audit

import (
	"time"
)

// Event names (ECS event.action).
const (
	EventLogin         = "login"
	EventLoginFailure  = "login_failure"
	EventLogout        = "logout"
	EventAccess        = "access"
	EventMFAEnroll     = "mfa_enroll"
	EventMFAVerify     = "mfa_verify"
	EventMFAFailure    = "mfa_failure"
	EventAdminChange   = "admin_change" // with Change: what was changed, before and after
	EventSessionRevoke = "session_revoke"
	EventConfigReload  = "config_reload"
	EventPolicyReload  = "policy_reload"
	EventStartup       = "startup"
	EventShutdown      = "shutdown"
	EventCheckpoint    = "checkpoint" // written by the Pipeline itself, see Checkpoint
)

// Access decisions (ECS event.type). Under the spool policy drop-allowed, only records of type
// EventTypeAllowed may be dropped.
const (
	EventTypeAllowed = "allowed"
	EventTypeDenied  = "denied"
)

// Outcomes (ECS event.outcome uses success/failure/unknown; access decisions add allow/deny in
// event.type, see Record).
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
)

// Record is one audited event. It never holds a token, code, cookie or secret: sessions appear
// only by their hashed id.
type Record struct {
	Timestamp time.Time `json:"@timestamp"`
	Event     Event     `json:"event"`
	User      *User     `json:"user,omitempty"`
	Session   *Session  `json:"session,omitempty"`
	Source    *Source   `json:"source,omitempty"`
	HTTP      *HTTP     `json:"http,omitempty"`
	URL       *URL      `json:"url,omitempty"`
	UserAgent *Agent    `json:"user_agent,omitempty"`
	Policy    *Policy   `json:"tollgate.policy,omitempty"`
	Upstream  *Upstream `json:"tollgate.upstream,omitempty"`
	Change    *Change   `json:"tollgate.change,omitempty"`
	// Chain and Checkpoint are set by the Pipeline; whatever a caller puts there is replaced.
	Chain      *Chain      `json:"tollgate.chain,omitempty"`
	Checkpoint *Checkpoint `json:"tollgate.checkpoint,omitempty"`
}

// Change describes an administrative change: what was done to whom, with the state before and
// after (never a secret: the directory's export views, not its rows).
type Change struct {
	Action string `json:"action"`           // e.g. "user.create", "user.roles", "user.disable"
	Target string `json:"target,omitempty"` // the user (or token) id changed
	Before any    `json:"before,omitempty"`
	After  any    `json:"after,omitempty"`
}

// Event is ECS's event field set.
type Event struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`               // always "event"
	Category string `json:"category"`           // "authentication" or "web"
	Type     string `json:"type,omitempty"`     // "start", "end", "allowed", "denied", "info"
	Action   string `json:"action"`             // one of the Event* constants
	Outcome  string `json:"outcome"`            // success | failure
	Reason   string `json:"reason,omitempty"`   // why, in a short fixed phrase
	Duration int64  `json:"duration,omitempty"` // nanoseconds, as ECS specifies
}

// User is the actor.
type User struct {
	ID     string   `json:"id,omitempty"` // the (issuer, subject) key, stable and opaque
	Name   string   `json:"name,omitempty"`
	Email  string   `json:"email,omitempty"`
	Roles  []string `json:"roles,omitempty"`
	Issuer string   `json:"tollgate.issuer,omitempty"`
	// Subject is the IdP subject, to find the person at the IdP.
	Subject string `json:"tollgate.subject,omitempty"`
}

// Session names a session by its hashed id.
type Session struct {
	ID string `json:"id"`
}

// Source is the client.
type Source struct {
	IP string `json:"ip,omitempty"`
}

// HTTP holds the request method, request id and response status.
type HTTP struct {
	Request  HTTPRequest   `json:"request"`
	Response *HTTPResponse `json:"response,omitempty"`
}

// HTTPRequest is ECS http.request.
type HTTPRequest struct {
	ID     string `json:"id,omitempty"`
	Method string `json:"method,omitempty"`
}

// HTTPResponse is ECS http.response.
type HTTPResponse struct {
	StatusCode int `json:"status_code"`
}

// URL is the canonical path, the one that was authorized and forwarded.
type URL struct {
	Path string `json:"path"`
}

// Agent is ECS user_agent.
type Agent struct {
	Original string `json:"original,omitempty"`
}

// Policy records which rule decided.
type Policy struct {
	ID      string `json:"id,omitempty"`
	Version string `json:"version,omitempty"`
	Effect  string `json:"effect"` // allow | deny
}

// Upstream records what the proxied application answered.
type Upstream struct {
	StatusCode int   `json:"status_code,omitempty"`
	Duration   int64 `json:"duration,omitempty"` // nanoseconds
}
