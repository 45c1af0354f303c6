-- 0005: the cloud presence services' user ids, looked up once by the
-- name the admin wrote (a Teams UPN, a Genesys email) and kept, so a
-- restart does not ask Graph or Genesys again for every user.

-- service is "teams" or "genesys"; name is what the TOML says, lower
-- case; id is the service's own user id.
CREATE TABLE cloud_users (
	service     TEXT    NOT NULL CHECK (service <> ''),
	name        TEXT    NOT NULL CHECK (name <> ''),
	id          TEXT    NOT NULL CHECK (id <> ''),
	resolved_at INTEGER NOT NULL,
	PRIMARY KEY (service, name)
) STRICT;
