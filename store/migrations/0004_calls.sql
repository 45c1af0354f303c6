-- 0004: answered calls the edge proxy carries, so that after a restart the
-- lamps of the people in a call still show it busy, and the keepalive
-- probes and the end of the call (its BYE, or the reaper) still find it.

-- One row per answered call, keyed as the proxy keys it: Call-ID and the
-- caller's From tag. data is the proxy's own JSON record (identities,
-- both phones' targets and flows, CSeqs, hold state); the store does not
-- read it. No reference to extensions: either side may be outside.
CREATE TABLE calls (
	call_id    TEXT    NOT NULL CHECK (call_id <> ''),
	from_tag   TEXT    NOT NULL,
	data       BLOB    NOT NULL,
	updated_at INTEGER NOT NULL,
	PRIMARY KEY (call_id, from_tag)
) STRICT;
