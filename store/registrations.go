package store

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Registration is one registered contact of an extension.
type Registration struct {
	AOR       string   // extension number
	Binding   string   // key within the AOR
	Contact   string   // the Contact value as registered
	Path      []string // Path header values, in order; nil when none
	CallID    string
	CSeq      uint32
	Expires   time.Time // absolute expiry, kept to the millisecond
	Source    string    // host:port the REGISTER came from
	Transport string    // "UDP", "TCP", "TLS", "WS" or "WSS"
	UserAgent string
	UpdatedAt time.Time // set by the store on write; ignored by PutRegistrations
}

// regRow is a Registration as bound to SQL, built before queueing so the
// caller's Path slice is read once, before the call can return.
type regRow struct {
	aor, binding, contact, path, callID string
	cseq, expires                       int64
	source, transport, userAgent        string
}

// regColumns is the column list of every read, in scanRegistration's order.
const regColumns = `aor, binding, contact, path, call_id, cseq, expires_at, source, transport, user_agent, updated_at`

const upsertRegistration = `
	INSERT INTO registrations (aor, binding, contact, path, call_id, cseq, expires_at, source, transport, user_agent, updated_at)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	ON CONFLICT (aor, binding) DO UPDATE SET
		contact = excluded.contact, path = excluded.path, call_id = excluded.call_id,
		cseq = excluded.cseq, expires_at = excluded.expires_at, source = excluded.source,
		transport = excluded.transport, user_agent = excluded.user_agent, updated_at = excluded.updated_at`

// PutRegistrations inserts or replaces (all fields) each registration, keyed
// by AOR and Binding, in order and in one transaction: if any is refused,
// nothing of the batch is written. A key given twice ends with the later
// one. An AOR that is not in the directory is refused with ErrInvalid,
// checked inside the transaction so a concurrent SyncDirectory cannot slip
// between the check and the write.
func (db *DB) PutRegistrations(ctx context.Context, regs []Registration) error {
	rows := make([]regRow, len(regs))
	for i, r := range regs {
		row, err := newRegRow(r)
		if err != nil {
			return fmt.Errorf("store: put registrations: %w", err)
		}
		rows[i] = row
	}
	if len(rows) == 0 {
		return db.checkOpen()
	}
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, now int64) error {
		known := make(map[string]bool)
		for _, r := range rows {
			if !known[r.aor] {
				if err := requireExtension(ctx, tx, r.aor); err != nil {
					return err
				}
				known[r.aor] = true
			}
			if _, err := tx.ExecContext(ctx, upsertRegistration,
				r.aor, r.binding, r.contact, r.path, r.callID, r.cseq, r.expires,
				r.source, r.transport, r.userAgent, now); err != nil {
				return fmt.Errorf("registration %q of %q: %w", r.binding, r.aor, err)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(err, "put registrations")
	}
	return nil
}

func newRegRow(r Registration) (regRow, error) {
	switch {
	case r.AOR == "":
		return regRow{}, invalid("registration %q: empty AOR", r.Binding)
	case r.Binding == "":
		return regRow{}, invalid("registration of %q: empty binding", r.AOR)
	case r.Contact == "":
		return regRow{}, invalid("registration %q of %q: empty contact", r.Binding, r.AOR)
	case r.Expires.IsZero():
		// A zero time is a forgotten field, not an expiry: stored as year 1
		// it would be swept at once.
		return regRow{}, invalid("registration %q of %q: no expiry", r.Binding, r.AOR)
	}
	switch r.Transport {
	case "UDP", "TCP", "TLS", "WS", "WSS":
	default:
		return regRow{}, invalid("registration %q of %q: transport %q is not UDP, TCP, TLS, WS or WSS", r.Binding, r.AOR, r.Transport)
	}
	path, err := encodePath(r.Path)
	if err != nil {
		return regRow{}, fmt.Errorf("registration %q of %q: path: %w", r.Binding, r.AOR, err)
	}
	return regRow{
		aor: r.AOR, binding: r.Binding, contact: r.Contact, path: path, callID: r.CallID,
		cseq: int64(r.CSeq), expires: r.Expires.UnixMilli(),
		source: r.Source, transport: r.Transport, userAgent: r.UserAgent,
	}, nil
}

// encodePath is the JSON array of path, "[]" for none. HTML escaping is off
// so that "<sip:edge;lr>" stays readable in the file rather than becoming
// "\u003csip:edge;lr\u003e"; both decode the same.
func encodePath(path []string) (string, error) {
	if len(path) == 0 {
		return "[]", nil
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(path); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// DeleteRegistrations deletes these bindings of aor, or every binding of aor
// when bindings is empty, in one transaction. Bindings or an AOR that are not
// stored are no error.
func (db *DB) DeleteRegistrations(ctx context.Context, aor string, bindings []string) error {
	if aor == "" {
		return fmt.Errorf("store: delete registrations: %w", invalid("empty AOR"))
	}
	bindings = slices.Clone(bindings)
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, _ int64) error {
		if len(bindings) == 0 {
			_, err := tx.ExecContext(ctx, `DELETE FROM registrations WHERE aor = ?`, aor)
			return err
		}
		for _, b := range bindings {
			if _, err := tx.ExecContext(ctx, `DELETE FROM registrations WHERE aor = ? AND binding = ?`, aor, b); err != nil {
				return fmt.Errorf("%q: %w", b, err)
			}
		}
		return nil
	})
	if err != nil {
		return wrap(err, "delete registrations of %q", aor)
	}
	return nil
}

// Registrations returns every stored registration ordered by AOR, then
// binding (byte order), expired ones included: the caller decides what
// expiry means at restore.
func (db *DB) Registrations(ctx context.Context) ([]Registration, error) {
	if db.isClosed.Load() {
		return nil, ErrClosed
	}
	rows, err := db.rdb.QueryContext(ctx, `SELECT `+regColumns+` FROM registrations ORDER BY aor, binding`)
	if err != nil {
		return nil, wrap(err, "registrations")
	}
	defer rows.Close()
	var out []Registration
	for rows.Next() {
		r, err := scanRegistration(rows)
		if err != nil {
			return nil, wrap(err, "registrations")
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "registrations")
	}
	return out, nil
}

// DeleteExpiredRegistrations deletes the registrations whose expiry is at or
// before now and returns them, ordered by AOR, then binding, so the caller
// can tell what went away (to update presence, say). If it returns ctx.Err()
// the delete may still have committed, and what it deleted is then not
// reported: a later call finds those rows gone.
func (db *DB) DeleteExpiredRegistrations(ctx context.Context, now time.Time) ([]Registration, error) {
	var out []Registration
	err := db.write(ctx, func(ctx context.Context, tx *sql.Tx, _ int64) error {
		// The writer runs an op again when another op aborted their shared
		// transaction; what the lost attempt read was rolled back with it.
		out = nil
		// RETURNING gives the rows as deleted, in the same statement.
		rows, err := tx.QueryContext(ctx,
			`DELETE FROM registrations WHERE expires_at <= ? RETURNING `+regColumns, now.UnixMilli())
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			r, err := scanRegistration(rows)
			if err != nil {
				return err
			}
			out = append(out, r)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, wrap(err, "delete expired registrations")
	}
	// SQLite does not promise an order for RETURNING.
	slices.SortFunc(out, func(a, b Registration) int {
		return cmp.Or(strings.Compare(a.AOR, b.AOR), strings.Compare(a.Binding, b.Binding))
	})
	return out, nil
}

// scanRegistration reads one row of regColumns.
func scanRegistration(rows *sql.Rows) (Registration, error) {
	var r Registration
	var path string
	var cseq, expires, updated int64
	if err := rows.Scan(&r.AOR, &r.Binding, &r.Contact, &path, &r.CallID, &cseq, &expires,
		&r.Source, &r.Transport, &r.UserAgent, &updated); err != nil {
		return Registration{}, err
	}
	if err := json.Unmarshal([]byte(path), &r.Path); err != nil {
		return Registration{}, fmt.Errorf("registration %q of %q: path: %w", r.Binding, r.AOR, err)
	}
	if len(r.Path) == 0 {
		r.Path = nil // no Path reads back as nil, however it was given
	}
	r.CSeq = uint32(cseq) // CHECK keeps it in range
	r.Expires = fromMillis(expires)
	r.UpdatedAt = fromMillis(updated)
	return r, nil
}
