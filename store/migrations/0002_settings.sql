-- 0002: per-extension user settings and the audit log of their changes.
-- The store does not interpret a setting: value, toml, old and new are JSON
-- text chosen by the caller, so adding a setting needs no migration.

-- One row per (extension, field). source says where value came from; toml
-- keeps the last value the admin's file applied to this field, so that at
-- start the caller can tell "the admin changed the file" (toml differs from
-- the file: the file wins) from "a user changed it through the API" (toml
-- equals the file: value is kept). NULL when the file never set the field.
-- ON DELETE CASCADE: an extension removed from the directory takes its
-- settings with it; the primary key starts with number, so that delete finds
-- them without another index.
CREATE TABLE settings (
	number     TEXT    NOT NULL REFERENCES extensions (number) ON DELETE CASCADE,
	field      TEXT    NOT NULL CHECK (field <> ''),
	value      TEXT    NOT NULL,
	source     TEXT    NOT NULL CHECK (source IN ('toml', 'api', 'default')),
	toml       TEXT,
	updated_at INTEGER NOT NULL,
	updated_by TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (number, field)
) STRICT;

-- Append-only. subject is deliberately not a foreign key: the record of who
-- changed what must outlive the extension. old is NULL when the field had no
-- value, new is NULL when the row was removed. AUTOINCREMENT so an id is
-- never reused, even after the newest rows are pruned: a client paging with
-- "ids below N" never sees a different entry under an id it already had.
CREATE TABLE audit (
	id      INTEGER PRIMARY KEY AUTOINCREMENT,
	at      INTEGER NOT NULL,
	actor   TEXT    NOT NULL CHECK (actor <> ''),
	subject TEXT    NOT NULL CHECK (subject <> ''),
	field   TEXT    NOT NULL CHECK (field <> ''),
	old     TEXT,
	new     TEXT,
	origin  TEXT    NOT NULL CHECK (origin IN ('api', 'toml'))
) STRICT;
-- Listings are newest first (id descending). An index ends with the rowid,
-- which is id here, so audit_subject serves "one extension's history, newest
-- first, below id N" without a sort. audit_at serves the time window. actor,
-- field and origin filters scan within those: they are rarer and usually
-- come with a subject or a window.
CREATE INDEX audit_subject ON audit (subject);
CREATE INDEX audit_at ON audit (at);
