-- The first schema. Keep in step with 0001_init.sqlite.sql: the same tables, columns and
-- constraints. Emails compare bytewise (COLLATE "C"), as in SQLite, so that listing order and
-- paging cursors mean the same on both.

CREATE TABLE users (
	id           TEXT PRIMARY KEY,
	email        TEXT COLLATE "C" NOT NULL UNIQUE,
	name         TEXT NOT NULL DEFAULT '',
	name_fold    TEXT COLLATE "C" NOT NULL DEFAULT '',
	status       TEXT NOT NULL CHECK (status IN ('invited', 'active', 'disabled')),
	created_at   TIMESTAMPTZ NOT NULL,
	invited_by   TEXT NOT NULL DEFAULT '',
	last_login   TIMESTAMPTZ,
	last_seen    TIMESTAMPTZ,
	issuer       TEXT,
	subject      TEXT,
	mfa_enrolled BOOLEAN NOT NULL DEFAULT FALSE,
	owns         TEXT NOT NULL DEFAULT '{}',
	CHECK ((issuer IS NULL) = (subject IS NULL))
);

CREATE UNIQUE INDEX users_identity ON users (issuer, subject);

CREATE TABLE user_roles (
	user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	role    TEXT NOT NULL,
	PRIMARY KEY (user_id, role)
);

CREATE INDEX user_roles_role ON user_roles (role, user_id);

CREATE TABLE user_secrets (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	kind       TEXT NOT NULL,
	data       BYTEA NOT NULL,
	updated_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (user_id, kind)
);

CREATE TABLE recovery_codes (
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	code_hash  TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	PRIMARY KEY (user_id, code_hash)
);

CREATE TABLE invitations (
	token_hash TEXT PRIMARY KEY,
	user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created_at TIMESTAMPTZ NOT NULL,
	expires_at TIMESTAMPTZ NOT NULL,
	used_at    TIMESTAMPTZ
);

CREATE INDEX invitations_user ON invitations (user_id);

CREATE TABLE api_tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	token_hash TEXT NOT NULL UNIQUE,
	scopes     TEXT NOT NULL,
	created_at TIMESTAMPTZ NOT NULL,
	created_by TEXT NOT NULL DEFAULT '',
	expires_at TIMESTAMPTZ,
	revoked_at TIMESTAMPTZ
);
