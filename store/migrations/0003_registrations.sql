-- 0003: registrar bindings, so that phones stay reachable across a restart
-- instead of being unreachable until their next REGISTER refresh.

-- One row per binding of an address of record. aor is the extension number;
-- ON DELETE CASCADE: an extension removed from the directory can no longer
-- register, so its bindings go with it. The primary key starts with aor, so
-- that delete and "every binding of this AOR" need no other index.
-- binding is the caller's key within the AOR: "+sip.instance|reg-id" for an
-- RFC 5626 outbound client, the Contact URI otherwise; contact is the Contact
-- value as registered, which for an outbound client may change under the
-- same binding. path is a JSON array of the Path header values in order
-- ('[]' when none): the route to the phone through its edge proxies must be
-- kept as received. cseq and call_id let a REGISTER that arrives out of
-- order be told from a newer one (RFC 3261 10.3 step 7). source and
-- transport are where and how the REGISTER came in, so requests for the
-- phone can go back the same way (NAT, connection reuse).
CREATE TABLE registrations (
	aor        TEXT    NOT NULL REFERENCES extensions (number) ON DELETE CASCADE,
	binding    TEXT    NOT NULL CHECK (binding <> ''),
	contact    TEXT    NOT NULL CHECK (contact <> ''),
	path       TEXT    NOT NULL,
	call_id    TEXT    NOT NULL,
	cseq       INTEGER NOT NULL CHECK (cseq BETWEEN 0 AND 4294967295),
	expires_at INTEGER NOT NULL,
	source     TEXT    NOT NULL,
	transport  TEXT    NOT NULL CHECK (transport IN ('UDP', 'TCP', 'TLS', 'WS', 'WSS')),
	user_agent TEXT    NOT NULL DEFAULT '',
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (aor, binding)
) STRICT;
-- The expiry sweep deletes by expires_at across every AOR.
CREATE INDEX registrations_expires_at ON registrations (expires_at);
