-- 0001: the first schema. Times are unix milliseconds (INTEGER) so that
-- comparisons in SQL are plain integer comparisons and the Go side never
-- depends on the driver's time parsing. STRICT makes SQLite refuse values of
-- the wrong type instead of silently storing them.

CREATE TABLE departments (
	name       TEXT    NOT NULL PRIMARY KEY CHECK (name <> ''),
	updated_at INTEGER NOT NULL
) STRICT;

-- department is a foreign key so that an extension can never point at a
-- department that is not in the directory; ON UPDATE CASCADE and ON DELETE
-- SET NULL keep the extension rows when a department is renamed or removed.
CREATE TABLE extensions (
	number     TEXT    NOT NULL PRIMARY KEY CHECK (number <> ''),
	name       TEXT    NOT NULL DEFAULT '',
	department TEXT    REFERENCES departments (name) ON UPDATE CASCADE ON DELETE SET NULL,
	role       TEXT    NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL
) STRICT;
-- Without it every department delete scans extensions for the foreign key.
CREATE INDEX extensions_department ON extensions (department);

CREATE TABLE subscriptions (
	id         TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
	entity     TEXT    NOT NULL,
	event      TEXT    NOT NULL,
	watcher    TEXT    NOT NULL,
	expires_at INTEGER NOT NULL,
	cseq       INTEGER NOT NULL CHECK (cseq BETWEEN 0 AND 4294967295),
	version    INTEGER NOT NULL CHECK (version BETWEEN 0 AND 4294967295),
	data       TEXT    NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
CREATE INDEX subscriptions_entity ON subscriptions (entity);
CREATE INDEX subscriptions_expires_at ON subscriptions (expires_at);

CREATE TABLE publications (
	etag         TEXT    NOT NULL PRIMARY KEY CHECK (etag <> ''),
	entity       TEXT    NOT NULL,
	event        TEXT    NOT NULL,
	expires_at   INTEGER NOT NULL,
	content_type TEXT    NOT NULL,
	body         BLOB    NOT NULL,
	updated_at   INTEGER NOT NULL
) STRICT;
CREATE INDEX publications_entity ON publications (entity);
CREATE INDEX publications_expires_at ON publications (expires_at);

CREATE TABLE meta (
	key        TEXT    NOT NULL PRIMARY KEY CHECK (key <> ''),
	value      TEXT    NOT NULL,
	updated_at INTEGER NOT NULL
) STRICT;
