package sip

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gosip "github.com/emiago/sipgo/sip"
)

// RegistrationRecord is one registered contact of an extension, as the
// store keeps it.
type RegistrationRecord struct {
	AOR       string // extension number
	Binding   string // key within the AOR: "+sip.instance|reg-id", or the Contact URI
	Contact   string
	Path      []string
	CallID    string
	CSeq      uint32
	Expires   time.Time
	Source    string // where the REGISTER came from: the phone's flow
	Transport string
	UserAgent string
	UpdatedAt time.Time
}

// RegistrationStore keeps bindings across restarts.
type RegistrationStore interface {
	PutRegistrations(ctx context.Context, regs []RegistrationRecord) error
	DeleteRegistrations(ctx context.Context, aor string, bindings []string) error
	Registrations(ctx context.Context) ([]RegistrationRecord, error)
	DeleteExpiredRegistrations(ctx context.Context, now time.Time) ([]RegistrationRecord, error)
}

// RegistrarOptions turn on REGISTER (edge-proxy mode).
type RegistrarOptions struct {
	Store       RegistrationStore
	Min         time.Duration // shorter non-zero intervals get 423
	Max         time.Duration // longer ones are shortened
	Default     time.Duration // when the REGISTER names none
	MaxBindings int           // contacts per extension
}

// registrar holds every extension's bindings in memory; the store has a
// copy for the next start, written before the 200.
type registrar struct {
	opt RegistrarOptions
	mu  sync.Mutex
	aor map[string]map[string]RegistrationRecord
	// Indexes for the proxy: the AORs registered from a source address,
	// and each binding by its contact (user, host, port).
	bySource  map[string][]string
	byContact map[string]RegistrationRecord
}

func newRegistrar(opt RegistrarOptions) *registrar {
	if opt.Min <= 0 {
		opt.Min = 60 * time.Second
	}
	if opt.Max < opt.Min {
		opt.Max = 3600 * time.Second
	}
	if opt.Default <= 0 || opt.Default > opt.Max {
		opt.Default = opt.Max
	}
	if opt.MaxBindings <= 0 {
		opt.MaxBindings = 10
	}
	return &registrar{opt: opt, aor: map[string]map[string]RegistrationRecord{},
		bySource: map[string][]string{}, byContact: map[string]RegistrationRecord{}}
}

// Bindings returns an extension's live contacts, newest first.
func (s *Server) Bindings(aor string) []RegistrationRecord {
	if s.reg == nil {
		return nil
	}
	return s.reg.list(aor, time.Now())
}

func (r *registrar) list(aor string, now time.Time) []RegistrationRecord {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]RegistrationRecord, 0, len(r.aor[aor]))
	for _, b := range r.aor[aor] {
		if b.Expires.After(now) {
			b.Path = slices.Clone(b.Path)
			out = append(out, b)
		}
	}
	slices.SortFunc(out, func(a, b RegistrationRecord) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	return out
}

// restore loads the stored bindings at start.
func (r *registrar) restore(ctx context.Context) (int, error) {
	regs, err := r.opt.Store.Registrations(ctx)
	if err != nil {
		return 0, fmt.Errorf("restore registrations: %w", err)
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range regs {
		if !b.Expires.After(now) {
			continue
		}
		next := maps.Clone(r.aor[b.AOR])
		if next == nil {
			next = map[string]RegistrationRecord{}
		}
		next[b.Binding] = b
		r.set(b.AOR, next)
		n++
	}
	return n, nil
}

// sweep forgets expired bindings, in memory and in the store.
func (r *registrar) sweep(ctx context.Context, now time.Time) error {
	r.mu.Lock()
	expired := false
	for aor, m := range r.aor {
		next := maps.Clone(m)
		for k, b := range m {
			if !b.Expires.After(now) {
				delete(next, k)
				expired = true
			}
		}
		if len(next) != len(m) {
			r.set(aor, next)
		}
	}
	r.mu.Unlock()
	if !expired {
		return nil
	}
	_, err := r.opt.Store.DeleteExpiredRegistrations(ctx, now)
	return err
}

// onRegister is the registrar (RFC 3261 10.3), with Path (RFC 3327) and
// the binding key of SIP outbound (RFC 5626).
func (s *Server) onRegister(req *gosip.Request, tx gosip.ServerTransaction) error {
	if s.reg == nil {
		return fail(405, "Registration is off (proxy.mode is not edge-proxy)", s.allowHeader())
	}
	to, cid, cseq := req.To(), req.CallID(), req.CSeq()
	if to == nil || cid == nil || cseq == nil {
		return fail(400, "Missing To, Call-ID or CSeq")
	}
	aor := to.Address.User
	if !s.trusted(req.Source()) {
		user, serr := s.authenticate(req)
		if serr != nil {
			return serr
		}
		if user != aor {
			return fail(403, "Extensions may register only themselves")
		}
	}
	acct, ok := s.opt.Directory.Account(aor)
	if !ok {
		return fail(404, "Unknown extension")
	}
	aor = acct.Number
	hdrSecs, hdrPresent, ok := expires(req)
	if !ok {
		return fail(400, "Expires is not a number")
	}
	contacts := contactsOf(req)
	now := time.Now()
	r := s.reg
	callID := strings.Clone(cid.Value())

	type change struct {
		rec    RegistrationRecord
		remove bool
	}
	var changes []change
	wildcard := false
	for _, c := range contacts {
		if c.Address.Wildcard {
			wildcard = true
		}
	}
	if wildcard {
		if len(contacts) != 1 || !hdrPresent || hdrSecs != 0 {
			return fail(400, "Contact: * needs Expires: 0 and no other Contact")
		}
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.aor[aor]
	if wildcard {
		for k, b := range cur {
			if b.CallID == callID && cseq.SeqNo <= b.CSeq {
				return fail(500, "CSeq not higher than the binding's last REGISTER")
			}
			changes = append(changes, change{rec: RegistrationRecord{AOR: aor, Binding: k}, remove: true})
		}
	}
	for _, c := range contacts {
		if wildcard {
			break
		}
		secs := int64(r.opt.Default / time.Second)
		if hdrPresent {
			secs = hdrSecs
		}
		if v, ok := c.Params.Get("expires"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil || n < 0 {
				return fail(400, "Contact expires parameter is not a number")
			}
			secs = n
		}
		if secs != 0 && secs < int64(r.opt.Min/time.Second) {
			return fail(423, "Interval Too Brief", gosip.NewHeader("Min-Expires", strconv.FormatInt(int64(r.opt.Min/time.Second), 10)))
		}
		secs = min(secs, int64(r.opt.Max/time.Second))
		key := bindingKey(c)
		if old, ok := cur[key]; ok && old.CallID == callID && cseq.SeqNo <= old.CSeq {
			return fail(500, "CSeq not higher than the binding's last REGISTER")
		}
		if secs == 0 {
			changes = append(changes, change{rec: RegistrationRecord{AOR: aor, Binding: key}, remove: true})
			continue
		}
		var path []string
		for _, h := range req.GetHeaders("Path") {
			path = append(path, strings.Clone(h.Value()))
		}
		changes = append(changes, change{rec: RegistrationRecord{
			AOR: aor, Binding: key, Contact: contactValue(c), Path: path,
			CallID: callID, CSeq: cseq.SeqNo, Expires: now.Add(time.Duration(secs) * time.Second),
			Source: req.Source(), Transport: transportName(req.Transport()),
			UserAgent: strings.Clone(header(req, "User-Agent", "")), UpdatedAt: now,
		}})
	}

	// What the AOR's bindings become, checked before anything is written.
	next := make(map[string]RegistrationRecord, len(cur)+len(changes))
	for k, b := range cur {
		if b.Expires.After(now) {
			next[k] = b
		}
	}
	var puts []RegistrationRecord
	var dels []string
	for _, c := range changes {
		if c.remove {
			delete(next, c.rec.Binding)
			dels = append(dels, c.rec.Binding)
			continue
		}
		next[c.rec.Binding] = c.rec
		puts = append(puts, c.rec)
	}
	if len(next) > r.opt.MaxBindings {
		return fail(403, fmt.Sprintf("Too many registered contacts (at most %d)", r.opt.MaxBindings))
	}
	// Answered means stored: a restart must not lose a phone's binding.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if len(dels) > 0 {
		if err := r.opt.Store.DeleteRegistrations(ctx, aor, dels); err != nil {
			return &StatusError{Code: 500, Reason: "Could not store the registration", Err: err}
		}
	}
	if len(puts) > 0 {
		if err := r.opt.Store.PutRegistrations(ctx, puts); err != nil {
			return &StatusError{Code: 500, Reason: "Could not store the registration", Err: err}
		}
	}
	r.set(aor, next)

	res := gosip.NewResponseFromRequest(req, 200, "OK", nil)
	keys := make([]string, 0, len(next))
	for k := range next {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b := next[k]
		left := int64(math.Ceil(b.Expires.Sub(now).Seconds()))
		res.AppendHeader(gosip.NewHeader("Contact", b.Contact+";expires="+strconv.FormatInt(left, 10)))
	}
	if supports(req, "path") {
		for _, h := range req.GetHeaders("Path") {
			res.AppendHeader(gosip.NewHeader("Path", h.Value()))
		}
	}
	if supports(req, "outbound") && slices.ContainsFunc(contacts, func(c *gosip.ContactHeader) bool { return c.Params.Has("reg-id") }) {
		res.AppendHeader(gosip.NewHeader("Require", "outbound"))
	}
	res.AppendHeader(gosip.NewHeader("Date", now.UTC().Format(time.RFC1123)))
	return tx.Respond(res)
}

// contactsOf returns the request's Contact entries, long or compact form.
func contactsOf(req *gosip.Request) []*gosip.ContactHeader {
	var out []*gosip.ContactHeader
	for _, name := range []string{"Contact", "m"} {
		for _, h := range req.GetHeaders(name) {
			if c, ok := h.(*gosip.ContactHeader); ok {
				out = append(out, c)
			}
		}
	}
	return out
}

// bindingKey identifies a binding within its AOR: the instance and flow of
// an outbound client (RFC 5626 6), else the Contact URI.
func bindingKey(c *gosip.ContactHeader) string {
	inst, _ := c.Params.Get("+sip.instance")
	regID, _ := c.Params.Get("reg-id")
	if inst != "" && regID != "" {
		return strings.Trim(inst, `"`) + "|" + regID
	}
	return c.Address.String()
}

// contactValue is the Contact as stored and returned: the URI and the
// header parameters other than expires (which the 200 states afresh).
func contactValue(c *gosip.ContactHeader) string {
	var b strings.Builder
	b.WriteByte('<')
	b.WriteString(c.Address.String())
	b.WriteByte('>')
	for _, p := range c.Params {
		if strings.EqualFold(p.K, "expires") {
			continue
		}
		b.WriteByte(';')
		b.WriteString(p.K)
		if p.V != "" {
			b.WriteByte('=')
			b.WriteString(p.V)
		}
	}
	return b.String()
}

// supports reports whether the request's Supported header names ext.
func supports(req *gosip.Request, ext string) bool {
	for _, name := range []string{"Supported", "k"} {
		for _, h := range req.GetHeaders(name) {
			for _, v := range strings.Split(h.Value(), ",") {
				if strings.EqualFold(strings.TrimSpace(v), ext) {
					return true
				}
			}
		}
	}
	return false
}

// set replaces an AOR's bindings and keeps the indexes in step; r.mu held.
func (r *registrar) set(aor string, next map[string]RegistrationRecord) {
	for _, b := range r.aor[aor] {
		if l := slices.DeleteFunc(r.bySource[b.Source], func(a string) bool { return a == aor }); len(l) == 0 {
			delete(r.bySource, b.Source)
		} else {
			r.bySource[b.Source] = l
		}
		if c, ok := uriOf(b.Contact); ok {
			if old, ok := r.byContact[contactKey(c)]; ok && old.AOR == aor {
				delete(r.byContact, contactKey(c))
			}
		}
	}
	if len(next) == 0 {
		delete(r.aor, aor)
		return
	}
	r.aor[aor] = next
	for _, b := range next {
		if !slices.Contains(r.bySource[b.Source], aor) {
			r.bySource[b.Source] = append(r.bySource[b.Source], aor)
		}
		if c, ok := uriOf(b.Contact); ok {
			r.byContact[contactKey(c)] = b
		}
	}
}

func contactKey(u gosip.Uri) string {
	port := u.Port
	if port == 0 {
		port = 5060
	}
	return u.User + "@" + strings.ToLower(strings.Trim(u.Host, "[]")) + ":" + strconv.Itoa(port)
}

// aorOf names the extension with a live binding registered from a source
// address (the phone's flow), or "". A phone with several lines registers
// them all from one address: the From user picks among them.
func (r *registrar) aorOf(source, fromUser string) string {
	if r == nil || source == "" {
		return ""
	}
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	found := ""
	for _, aor := range r.bySource[source] {
		live := false
		for _, b := range r.aor[aor] {
			live = live || (b.Source == source && b.Expires.After(now))
		}
		if !live {
			continue
		}
		if aor == fromUser {
			return aor
		}
		if found == "" {
			found = aor
		}
	}
	return found
}

// byContactURI finds the live binding whose contact is u (user, host and
// port), so in-dialog requests to a phone use its flow.
func (r *registrar) byContactURI(u gosip.Uri) (RegistrationRecord, bool) {
	if r == nil {
		return RegistrationRecord{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.byContact[contactKey(u)]
	if !ok || !b.Expires.After(time.Now()) {
		return RegistrationRecord{}, false
	}
	return b, true
}
