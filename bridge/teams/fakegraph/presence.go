package fakegraph

import (
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// Presence timing and limits from the Graph documentation.
const (
	// FadeAfter is how long an Available app session stays Available
	// without a refresh; it then shows Available/AvailableInactive, and
	// after twice as long Away/Away.
	FadeAfter = 5 * time.Minute

	minSessionDuration = 5 * time.Minute
	maxSessionDuration = 4 * time.Hour
	defaultSessionTTL  = 5 * time.Minute

	// ClientSessionID names the session SetClient controls: the user's own
	// Teams client.
	ClientSessionID = "teams-client"
)

// Session kinds reported in Session.Kind.
const (
	KindApp    = "app"
	KindClient = "client"
)

type pair struct{ availability, activity string }

func (p pair) String() string { return p.availability + "/" + p.activity }

// setPresencePairs are the only combinations setPresence accepts.
var setPresencePairs = []pair{
	{"Available", "Available"},
	{"Busy", "InACall"},
	{"Busy", "InAConferenceCall"},
	{"Away", "Away"},
	{"DoNotDisturb", "Presenting"},
}

// preferredPairs are the only combinations setUserPreferredPresence accepts.
var preferredPairs = []pair{
	{"Available", "Available"},
	{"Busy", "Busy"},
	{"DoNotDisturb", "DoNotDisturb"},
	{"BeRightBack", "BeRightBack"},
	{"Away", "Away"},
	{"Offline", "OffWork"},
}

// availabilityRank orders sessions: DoNotDisturb > Busy > Available > Away
// as documented; the values only a Teams client produces slot in between.
var availabilityRank = map[string]int{
	"DoNotDisturb":    9,
	"Focusing":        8,
	"Busy":            7,
	"BusyIdle":        6,
	"Available":       5,
	"AvailableIdle":   4,
	"BeRightBack":     3,
	"Away":            2,
	"Offline":         1,
	"PresenceUnknown": 0,
}

// clientActivities are the activities Graph reports, which a Teams client
// session may show.
var clientActivities = []string{
	"Available", "Away", "BeRightBack", "Busy", "DoNotDisturb", "Focusing", "InACall",
	"InAConferenceCall", "Inactive", "InAMeeting", "Offline", "OffWork", "OutOfOffice",
	"PresenceUnknown", "Presenting", "UrgentInterruptionsOnly",
}

// canonical returns the spelling of v in list, matched without regard to
// case as Graph matches enum values.
func canonical(v string, list []string) (string, bool) {
	for _, x := range list {
		if strings.EqualFold(x, v) {
			return x, true
		}
	}
	return "", false
}

func canonicalPair(av, ac string, pairs []pair) (pair, bool) {
	for _, p := range pairs {
		if strings.EqualFold(p.availability, av) && strings.EqualFold(p.activity, ac) {
			return p, true
		}
	}
	return pair{}, false
}

func pairList(pairs []pair) string {
	s := make([]string, len(pairs))
	for i, p := range pairs {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

type session struct {
	id        string
	kind      string
	set       pair
	expires   time.Time // zero: never (the Teams client)
	refreshed time.Time
}

// effective applies the documented fade of an Available app session that is
// not refreshed.
func (ss *session) effective(now time.Time) pair {
	if ss.kind == KindApp && ss.set.availability == "Available" {
		switch idle := now.Sub(ss.refreshed); {
		case idle >= 2*FadeAfter:
			return pair{"Away", "Away"}
		case idle >= FadeAfter:
			return pair{"Available", "AvailableInactive"}
		}
	}
	return ss.set
}

type preferred struct {
	set     pair
	expires time.Time
}

type statusMessage struct {
	content, contentType string
	expiry               *dateTimeTimeZone
	expires              time.Time // zero: never
	published            time.Time
}

type user struct {
	User
	sessions map[string]*session
	pref     *preferred
	status   *statusMessage

	// The last published aggregate and its sequence number.
	availability, activity string
	seq                    uint64
}

// aggregate drops what has expired and computes the user's presence:
// user-preferred wins while at least one session exists; otherwise the
// highest session by availabilityRank, the most recently refreshed among
// equals; no session at all is Offline/Offline.
func (u *user) aggregate(now time.Time) pair {
	for id, ss := range u.sessions {
		if !ss.expires.IsZero() && !now.Before(ss.expires) {
			delete(u.sessions, id)
		}
	}
	if u.pref != nil && !now.Before(u.pref.expires) {
		u.pref = nil
	}
	if u.status != nil && !u.status.expires.IsZero() && !now.Before(u.status.expires) {
		u.status = nil
	}
	if len(u.sessions) == 0 {
		return pair{"Offline", "Offline"}
	}
	if u.pref != nil {
		return u.pref.set
	}
	var best *session
	var bestP pair
	for _, ss := range u.sessions {
		p := ss.effective(now)
		if best == nil {
			best, bestP = ss, p
			continue
		}
		r, br := availabilityRank[p.availability], availabilityRank[bestP.availability]
		switch {
		case r > br,
			r == br && ss.refreshed.After(best.refreshed),
			r == br && ss.refreshed.Equal(best.refreshed) && ss.id < best.id:
			best, bestP = ss, p
		}
	}
	return bestP
}

// publishLocked recomputes u's presence and, when availability or activity
// changed, gives it a new sequence number and notifies subscribers.
func (s *Server) publishLocked(u *user, now time.Time) {
	p := u.aggregate(now)
	if p.availability == u.availability && p.activity == u.activity {
		return
	}
	s.seq++
	u.availability, u.activity, u.seq = p.availability, p.activity, s.seq
	s.log.Debug("presence changed", "user", u.ID, "availability", p.availability, "activity", p.activity, "seq", u.seq)
	s.notifyLocked(u, now)
}

func formatSeq(n uint64) string { return fmt.Sprintf("%020d", n) }

// Session is one presence session of a user, for assertions.
type Session struct {
	ID   string // the app's client id, or ClientSessionID
	Kind string // KindApp or KindClient
	// Availability and Activity are as set; Effective* apply the fade.
	Availability, Activity                   string
	EffectiveAvailability, EffectiveActivity string
	LastRefresh                              time.Time
	Expires                                  time.Time // zero for the Teams client
}

// Preferred is a user-preferred presence, for assertions.
type Preferred struct {
	Availability, Activity string
	Expires                time.Time
}

func (s *Server) userLocked(idOrUPN string) *user {
	if u, ok := s.users[strings.ToLower(idOrUPN)]; ok {
		return u
	}
	return s.byUPN[strings.ToLower(idOrUPN)]
}

// Presence returns a user's aggregated presence and its sequence number, or
// empty strings for an unknown user.
func (s *Server) Presence(user string) (availability, activity, seq string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return "", "", ""
	}
	s.publishLocked(u, s.now())
	return u.availability, u.activity, formatSeq(u.seq)
}

// Sessions returns a user's live sessions sorted by id.
func (s *Server) Sessions(user string) []Session {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return nil
	}
	now := s.now()
	s.publishLocked(u, now)
	out := make([]Session, 0, len(u.sessions))
	for _, ss := range u.sessions {
		e := ss.effective(now)
		out = append(out, Session{
			ID: ss.id, Kind: ss.kind,
			Availability: ss.set.availability, Activity: ss.set.activity,
			EffectiveAvailability: e.availability, EffectiveActivity: e.activity,
			LastRefresh: ss.refreshed, Expires: ss.expires,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// AppSession returns the session an application (by client id) holds on a
// user, with its expiry.
func (s *Server) AppSession(user, clientID string) (Session, bool) {
	for _, ss := range s.Sessions(user) {
		if ss.Kind == KindApp && ss.ID == clientID {
			return ss, true
		}
	}
	return Session{}, false
}

// PreferredPresence returns a user's preferred presence if one is set.
func (s *Server) PreferredPresence(user string) (Preferred, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return Preferred{}, false
	}
	s.publishLocked(u, s.now())
	if u.pref == nil {
		return Preferred{}, false
	}
	return Preferred{Availability: u.pref.set.availability, Activity: u.pref.set.activity, Expires: u.pref.expires}, true
}

// SetClient sets the session of the user's own Teams client, as when the
// user joins a meeting (Busy/InAMeeting) or sets Do not disturb. Any
// availability and activity Graph reports are accepted; the session never
// expires or fades until ClearClient.
func (s *Server) SetClient(user, availability, activity string) error {
	av, ok := canonical(availability, slices.Collect(maps.Keys(availabilityRank)))
	if !ok {
		return fmt.Errorf("set client presence of %s: unknown availability %q", user, availability)
	}
	ac, ok := canonical(activity, clientActivities)
	if !ok {
		return fmt.Errorf("set client presence of %s: unknown activity %q", user, activity)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return fmt.Errorf("set client presence of %s: %w", user, ErrUnknownUser)
	}
	now := s.now()
	u.sessions[ClientSessionID] = &session{id: ClientSessionID, kind: KindClient, set: pair{av, ac}, refreshed: now}
	s.publishLocked(u, now)
	return nil
}

// ClearClient removes the Teams client session, as when the user quits
// Teams.
func (s *Server) ClearClient(user string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return fmt.Errorf("clear client presence of %s: %w", user, ErrUnknownUser)
	}
	delete(u.sessions, ClientSessionID)
	s.publishLocked(u, s.now())
	return nil
}

// resolveLocked finds the user a path names: an object id, a UPN, or the
// signed-in user for /me (who == "").
func (s *Server) resolveLocked(c *call, who string) (*user, *apiError) {
	if who == "" {
		if !c.tok.delegated() {
			return nil, badRequest("/me request is only valid with delegated authentication flow.")
		}
		if u := s.users[c.tok.userID]; u != nil {
			return u, nil
		}
		return nil, userNotFound(c.tok.userID)
	}
	if u := s.userLocked(who); u != nil {
		return u, nil
	}
	return nil, userNotFound(who)
}

// userProperties are the user properties $select may name; the fake knows
// values for id, displayName, userPrincipalName and mail, others are null.
var userProperties = []string{
	"id", "displayName", "userPrincipalName", "mail", "givenName", "surname",
	"jobTitle", "mobilePhone", "officeLocation", "preferredLanguage", "businessPhones",
	"accountEnabled", "department",
}

var defaultUserProperties = []string{
	"businessPhones", "displayName", "givenName", "jobTitle", "mail", "mobilePhone",
	"officeLocation", "preferredLanguage", "surname", "userPrincipalName", "id",
}

func (s *Server) getUser(c *call, who string) *apiError {
	props := defaultUserProperties
	selected := false
	q := c.r.URL.Query()
	sel := q.Get("$select")
	if sel == "" {
		sel = q.Get("select") // Graph v1.0 takes query options without the $ too
	}
	if sel != "" {
		props, selected = nil, true
		for _, p := range strings.Split(sel, ",") {
			name, ok := canonical(strings.TrimSpace(p), userProperties)
			if !ok {
				return badRequest("Could not find a property named '%s' on type 'microsoft.graph.user'.", strings.TrimSpace(p))
			}
			props = append(props, name)
		}
	}
	s.mu.Lock()
	u, aerr := s.resolveLocked(c, who)
	var uu User
	if u != nil {
		uu = u.User
	}
	s.mu.Unlock()
	if aerr != nil {
		return aerr
	}
	ctx := "https://graph.microsoft.com/v1.0/$metadata#users/$entity"
	if selected {
		ctx = "https://graph.microsoft.com/v1.0/$metadata#users(" + strings.Join(props, ",") + ")/$entity"
	}
	out := map[string]any{"@odata.context": ctx}
	for _, p := range props {
		switch p {
		case "id":
			out[p] = uu.ID
		case "displayName":
			out[p] = uu.DisplayName
		case "userPrincipalName", "mail":
			out[p] = uu.UPN
		case "businessPhones":
			out[p] = []string{}
		case "accountEnabled":
			out[p] = true
		default:
			out[p] = nil
		}
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

type presenceJSON struct {
	Context             string             `json:"@odata.context,omitempty"`
	ID                  string             `json:"id"`
	Availability        string             `json:"availability"`
	Activity            string             `json:"activity"`
	StatusMessage       *statusMessageJSON `json:"statusMessage"`
	OutOfOfficeSettings outOfOffice        `json:"outOfOfficeSettings"`
	SequenceNumber      string             `json:"sequenceNumber"`
}

type outOfOffice struct {
	Message       *string `json:"message"`
	IsOutOfOffice bool    `json:"isOutOfOffice"`
}

type statusMessageJSON struct {
	Message           itemBody          `json:"message"`
	ExpiryDateTime    *dateTimeTimeZone `json:"expiryDateTime"`
	PublishedDateTime string            `json:"publishedDateTime"`
}

type itemBody struct {
	OdataType   *string `json:"@odata.type,omitempty"`
	Content     string  `json:"content"`
	ContentType string  `json:"contentType"`
}

type dateTimeTimeZone struct {
	OdataType *string `json:"@odata.type,omitempty"`
	DateTime  string  `json:"dateTime"`
	TimeZone  string  `json:"timeZone"`
}

func presenceOf(u *user) presenceJSON {
	p := presenceJSON{
		ID:             u.ID,
		Availability:   u.availability,
		Activity:       u.activity,
		SequenceNumber: formatSeq(u.seq),
	}
	if u.status != nil {
		p.StatusMessage = &statusMessageJSON{
			Message:           itemBody{Content: u.status.content, ContentType: u.status.contentType},
			ExpiryDateTime:    u.status.expiry,
			PublishedDateTime: graphTime(u.status.published),
		}
	}
	return p
}

// graphTime formats a time the way Graph writes DateTimeOffset values.
func graphTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func (s *Server) getPresence(c *call, who string, byID bool) *apiError {
	s.mu.Lock()
	var u *user
	var aerr *apiError
	if byID && !isGUID(who) {
		aerr = badRequest("Invalid id '%s': presences are addressed by user object id (GUID).", who)
	} else {
		u, aerr = s.resolveLocked(c, who)
	}
	var p presenceJSON
	if u != nil {
		s.publishLocked(u, c.now)
		p = presenceOf(u)
	}
	s.mu.Unlock()
	if aerr != nil {
		return aerr
	}
	if byID {
		p.Context = "https://graph.microsoft.com/v1.0/$metadata#communications/presences/$entity"
	} else {
		p.Context = "https://graph.microsoft.com/v1.0/$metadata#users('" + u.ID + "')/presence/$entity"
	}
	writeJSON(c.w, http.StatusOK, p)
	return nil
}

func (s *Server) getPresencesByUserID(c *call) *apiError {
	var body struct {
		OdataType *string   `json:"@odata.type"`
		IDs       *[]string `json:"ids"`
	}
	if aerr := c.decode(&body, false); aerr != nil {
		return aerr
	}
	if body.IDs == nil || len(*body.IDs) == 0 {
		return badRequest("The parameter 'ids' is required and must list at least one user id.")
	}
	ids := *body.IDs
	if len(ids) > MaxIDs {
		return badRequest("The number of ids (%d) exceeds the maximum of %d per request.", len(ids), MaxIDs)
	}
	for _, id := range ids {
		if !isGUID(id) {
			return badRequest("Invalid id '%s': ids must be user object ids (GUIDs).", id)
		}
	}
	out := make([]presenceJSON, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	s.mu.Lock()
	for _, id := range ids {
		id = strings.ToLower(id)
		u := s.users[id]
		if u == nil || seen[id] {
			continue
		}
		seen[id] = true
		s.publishLocked(u, c.now)
		out = append(out, presenceOf(u))
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(microsoft.graph.presence)",
		"value":          out,
	})
	return nil
}

// writeOK answers an action with 200 and no body, as Graph does.
func writeOK(c *call) {
	c.w.Header().Set("Content-Length", "0")
	c.w.WriteHeader(http.StatusOK)
}

// writableLocked resolves a user whose presence the caller may change: an
// app-only token may change anyone's (Presence.ReadWrite.All), a delegated
// one only the signed-in user's (Presence.ReadWrite).
func (s *Server) writableLocked(c *call, who string) (*user, *apiError) {
	u, aerr := s.resolveLocked(c, who)
	if aerr != nil {
		return nil, aerr
	}
	if c.tok.delegated() && u.ID != c.tok.userID {
		return nil, forbidden("Delegated Presence.ReadWrite lets %s change only their own presence, not %s's.", c.tok.account, u.UPN)
	}
	return u, nil
}

func (s *Server) setPresence(c *call, who string) *apiError {
	var body struct {
		OdataType          *string `json:"@odata.type"`
		SessionID          *string `json:"sessionId"`
		Availability       *string `json:"availability"`
		Activity           *string `json:"activity"`
		ExpirationDuration *string `json:"expirationDuration"`
	}
	if aerr := c.decode(&body, false); aerr != nil {
		return aerr
	}
	if body.SessionID == nil || *body.SessionID == "" {
		return badRequest("The parameter 'sessionId' is required: it must be the application (client) id of the caller.")
	}
	if body.Availability == nil || body.Activity == nil {
		return badRequest("The parameters 'availability' and 'activity' are required.")
	}
	p, ok := canonicalPair(*body.Availability, *body.Activity, setPresencePairs)
	if !ok {
		return badRequest("Invalid combination of availability '%s' and activity '%s' for setPresence; the supported combinations are %s.",
			*body.Availability, *body.Activity, pairList(setPresencePairs))
	}
	ttl := defaultSessionTTL
	if body.ExpirationDuration != nil {
		d, err := parseISODuration(*body.ExpirationDuration)
		if err != nil {
			return badRequest("Invalid expirationDuration: %v; use an ISO-8601 duration such as PT1H.", err)
		}
		if d < minSessionDuration || d > maxSessionDuration {
			return badRequest("expirationDuration %s is out of range: it must be from PT5M to PT4H.", *body.ExpirationDuration)
		}
		ttl = d
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if *body.SessionID != c.tok.clientID {
		return badRequest("The sessionId '%s' must be the application (client) id of the caller, '%s'.", *body.SessionID, c.tok.clientID)
	}
	u, aerr := s.writableLocked(c, who)
	if aerr != nil {
		return aerr
	}
	// Setting again with the same session id replaces and refreshes it.
	u.sessions[c.tok.clientID] = &session{id: c.tok.clientID, kind: KindApp, set: p, expires: c.now.Add(ttl), refreshed: c.now}
	s.publishLocked(u, c.now)
	writeOK(c)
	return nil
}

func (s *Server) clearPresence(c *call, who string) *apiError {
	var body struct {
		OdataType *string `json:"@odata.type"`
		SessionID *string `json:"sessionId"`
	}
	if aerr := c.decode(&body, false); aerr != nil {
		return aerr
	}
	if body.SessionID == nil || *body.SessionID == "" {
		return badRequest("The parameter 'sessionId' is required: it must be the application (client) id of the caller.")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if *body.SessionID != c.tok.clientID {
		return badRequest("The sessionId '%s' must be the application (client) id of the caller, '%s'.", *body.SessionID, c.tok.clientID)
	}
	u, aerr := s.writableLocked(c, who)
	if aerr != nil {
		return aerr
	}
	s.publishLocked(u, c.now) // drops an expired session first
	if ss, ok := u.sessions[c.tok.clientID]; !ok || ss.kind != KindApp {
		return errorf(http.StatusNotFound, "NotFound", "The presence session '%s' does not exist for user '%s'.", *body.SessionID, u.ID)
	}
	delete(u.sessions, c.tok.clientID)
	s.publishLocked(u, c.now)
	writeOK(c)
	return nil
}

func (s *Server) setUserPreferredPresence(c *call, who string) *apiError {
	var body struct {
		OdataType          *string `json:"@odata.type"`
		Availability       *string `json:"availability"`
		Activity           *string `json:"activity"`
		ExpirationDuration *string `json:"expirationDuration"`
	}
	if aerr := c.decode(&body, false); aerr != nil {
		return aerr
	}
	if body.Availability == nil || body.Activity == nil {
		return badRequest("The parameters 'availability' and 'activity' are required.")
	}
	p, ok := canonicalPair(*body.Availability, *body.Activity, preferredPairs)
	if !ok {
		return badRequest("Invalid combination of availability '%s' and activity '%s' for setUserPreferredPresence; the supported combinations are %s.",
			*body.Availability, *body.Activity, pairList(preferredPairs))
	}
	// Documented defaults: 1 day for DoNotDisturb and Busy, 7 days otherwise.
	ttl := 7 * 24 * time.Hour
	if p.availability == "DoNotDisturb" || p.availability == "Busy" {
		ttl = 24 * time.Hour
	}
	if body.ExpirationDuration != nil {
		d, err := parseISODuration(*body.ExpirationDuration)
		if err != nil {
			return badRequest("Invalid expirationDuration: %v; use an ISO-8601 duration such as PT8H.", err)
		}
		if d <= 0 {
			return badRequest("expirationDuration %s must be positive.", *body.ExpirationDuration)
		}
		ttl = d
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, aerr := s.writableLocked(c, who)
	if aerr != nil {
		return aerr
	}
	u.pref = &preferred{set: p, expires: c.now.Add(ttl)}
	s.publishLocked(u, c.now)
	writeOK(c)
	return nil
}

func (s *Server) clearUserPreferredPresence(c *call, who string) *apiError {
	var body struct {
		OdataType *string `json:"@odata.type"`
	}
	if aerr := c.decode(&body, true); aerr != nil {
		return aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, aerr := s.writableLocked(c, who)
	if aerr != nil {
		return aerr
	}
	u.pref = nil
	s.publishLocked(u, c.now)
	writeOK(c)
	return nil
}

func (s *Server) setStatusMessage(c *call, who string) *apiError {
	var body struct {
		OdataType     *string `json:"@odata.type"`
		StatusMessage *struct {
			OdataType         *string           `json:"@odata.type"`
			Message           *itemBody         `json:"message"`
			ExpiryDateTime    *dateTimeTimeZone `json:"expiryDateTime"`
			PublishedDateTime *string           `json:"publishedDateTime"`
		} `json:"statusMessage"`
	}
	if aerr := c.decode(&body, false); aerr != nil {
		return aerr
	}
	if body.StatusMessage == nil || body.StatusMessage.Message == nil {
		return badRequest("The parameter 'statusMessage' with a 'message' is required.")
	}
	m := body.StatusMessage.Message
	ct, ok := canonical(m.ContentType, []string{"text", "html"})
	if !ok {
		return badRequest("Invalid contentType '%s': use text or html.", m.ContentType)
	}
	sm := &statusMessage{content: m.Content, contentType: ct, published: c.now}
	if e := body.StatusMessage.ExpiryDateTime; e != nil {
		t, err := parseDateTimeTimeZone(e.DateTime, e.TimeZone)
		if err != nil {
			return badRequest("Invalid expiryDateTime: %v.", err)
		}
		sm.expiry = &dateTimeTimeZone{DateTime: e.DateTime, TimeZone: e.TimeZone}
		sm.expires = t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, aerr := s.writableLocked(c, who)
	if aerr != nil {
		return aerr
	}
	if m.Content == "" {
		u.status = nil
	} else {
		u.status = sm
	}
	writeOK(c)
	return nil
}

// parseDateTimeTimeZone reads Graph's dateTimeTimeZone. Zones other than
// IANA names and UTC (Windows names such as "Pacific Standard Time") are
// taken as UTC, since the fake has no Windows zone table.
func parseDateTimeTimeZone(dt, tz string) (time.Time, error) {
	loc := time.UTC
	if tz != "" && !strings.EqualFold(tz, "UTC") {
		if l, err := time.LoadLocation(tz); err == nil {
			loc = l
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, dt, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("dateTime %q is not of the form 2006-01-02T15:04:05", dt)
}
