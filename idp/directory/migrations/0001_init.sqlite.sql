-- The first schema. Times are unix microseconds (UTC); unset times are NULL.
-- Keep in step with 0001_init.postgres.sql: the same tables, columns and constraints.

CREATE TABLE users (
	id           TEXT PRIMARY KEY,
	email        TEXT NOT NULL UNIQUE,
	name         TEXT NOT NULL DEFAULT '',
	name_fold    TEXT NOT NULL DEFAULT '',
	status       TEXT NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
	created_at   INTEGER NOT NULL,
	invited_by   TEXT NOT NULL DEFAULT '',
	last_login   INTEGER,
	last_seen    INTEGER,
	issuer       TEXT,
	subject      TEXT,
	mfa_enrolled INTEGER NOT NULL DEFAULT 0,
	owns         TEXT NOT NULL DEFAULT '{}',
	CHECK ((issuer IS NULL) = (subject IS NULL))
) STRICT;

CREATE UNIQUE INDEX users_identity ON users (issuer, subject);

CREATE TABLE user_roles (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role    TEXT NOT NULL,
	PRIMARY KEY (user_id, role)
) STRICT;

CREATE INDEX user_roles_role ON user_roles (role, user_id);

CREATE TABLE user_secrets (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       TEXT NOT NULL,
	data       BLOB NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, kind)
) STRICT;

CREATE TABLE recovery_codes (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash  TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	PRIMARY KEY (user_id, code_hash)
) STRICT;

CREATE TABLE invitations (
	token_hash TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	used_at    INTEGER
) STRICT;

CREATE INDEX invitations_user ON invitations (user_id);

CREATE TABLE api_tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	scopes     TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	expires_at INTEGER,
	revoked_at INTEGER
) STRICT;
