package fakegenesys

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Routing statuses (CLOUD-APIS.md 5.4). A user is on queue exactly when
// the status is not OffQueue.
const (
	OffQueue      = "OFF_QUEUE"
	Idle          = "IDLE"
	Interacting   = "INTERACTING"
	NotResponding = "NOT_RESPONDING"
	Communicating = "COMMUNICATING"
)

func validRoutingStatus(s string) bool {
	switch s {
	case OffQueue, Idle, Interacting, NotResponding, Communicating:
		return true
	}
	return false
}

// user is a User with its presence (source PURECLOUD) and routing status.
type user struct {
	User
	def          *definition
	message      string
	primary      bool
	modified     time.Time
	routing      string
	routingStart time.Time
	patches      []Patch
}

// Patch is one PATCH of a user's PURECLOUD presence that reached the
// presence service (that is, it passed authentication and the rate
// limit), in arrival order.
type Patch struct {
	At     time.Time `json:"at"`              // on Options.Now
	Body   string    `json:"body"`            // as received
	Status int       `json:"status"`          // of the answer
	Error  string    `json:"error,omitempty"` // the message of a refusal
	// The user's state when the PATCH arrived, so a test can assert that
	// nothing was changed while the user was On Queue.
	BeforeDefinitionID   string `json:"beforeDefinitionId"`
	BeforeSystemPresence string `json:"beforeSystemPresence"` // title case
	BeforeRoutingStatus  string `json:"beforeRoutingStatus"`
	// The definition set, when Status is 200.
	DefinitionID   string `json:"definitionId,omitempty"`
	SystemPresence string `json:"systemPresence,omitempty"`
}

// AddUser adds an organization member, Offline and off queue.
func (s *Server) AddUser(u User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("add user: %w", err)
	}
	id := strings.ToLower(u.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; ok {
		return fmt.Errorf("add user %s: duplicate id: %w", id, ErrBadUser)
	}
	if _, ok := s.byEmail[strings.ToLower(u.Email)]; ok {
		return fmt.Errorf("add user %s: duplicate email %q: %w", id, u.Email, ErrBadUser)
	}
	if u.Name == "" {
		u.Name, _, _ = strings.Cut(u.Email, "@")
	}
	now := s.now()
	nu := &user{
		User:         User{ID: id, Email: u.Email, Name: u.Name},
		def:          s.defs[OfflineID],
		primary:      true,
		modified:     now,
		routing:      OffQueue,
		routingStart: now,
	}
	s.users[id] = nu
	s.byEmail[strings.ToLower(u.Email)] = nu
	s.userOrder = append(s.userOrder, nu)
	return nil
}

// userLocked finds a user by id or, for test hooks, email.
func (s *Server) userLocked(idOrEmail string) *user {
	k := strings.ToLower(strings.TrimSpace(idOrEmail))
	if u, ok := s.users[k]; ok {
		return u
	}
	return s.byEmail[k]
}

// Wire shapes.

type userPresence struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	Source             string                `json:"source"`
	Primary            bool                  `json:"primary"`
	PresenceDefinition presenceDefinitionRef `json:"presenceDefinition"`
	Message            string                `json:"message"`
	ModifiedDate       string                `json:"modifiedDate"`
	SelfURI            string                `json:"selfUri"`
}

type ucUserPresence struct {
	ID                 string                `json:"id"`
	Name               string                `json:"name"`
	UserID             string                `json:"userId"`
	Source             string                `json:"source"`
	PresenceDefinition presenceDefinitionRef `json:"presenceDefinition"`
	Message            string                `json:"message"`
	ModifiedDate       string                `json:"modifiedDate"`
	SelfURI            string                `json:"selfUri"`
}

type routingStatus struct {
	UserID    string `json:"userId"`
	Status    string `json:"status"`
	StartTime string `json:"startTime,omitempty"`
}

type apiUser struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	Email         string         `json:"email"`
	Username      string         `json:"username"`
	State         string         `json:"state"`
	Version       int            `json:"version"`
	Presence      *userPresence  `json:"presence,omitempty"`
	RoutingStatus *routingStatus `json:"routingStatus,omitempty"`
	SelfURI       string         `json:"selfUri"`
}

func (u *user) presence() userPresence {
	return userPresence{
		ID:                 u.ID,
		Name:               u.Name,
		Source:             "PURECLOUD",
		Primary:            u.primary,
		PresenceDefinition: u.def.ref(),
		Message:            u.message,
		ModifiedDate:       isoTime(u.modified),
		SelfURI:            "/api/v2/users/" + u.ID + "/presences",
	}
}

func (u *user) routingStatus() routingStatus {
	return routingStatus{UserID: u.ID, Status: u.routing, StartTime: isoTime(u.routingStart)}
}

// expansions are the expand values the fake fills in; others are accepted
// and ignored, as they would only add fields the gateway does not read.
type expansions struct{ presence, routingStatus bool }

func parseExpand(vals []string) expansions {
	var e expansions
	for _, v := range vals {
		for p := range strings.SplitSeq(v, ",") {
			switch strings.TrimSpace(p) {
			case "presence":
				e.presence = true
			case "routingStatus":
				e.routingStatus = true
			}
		}
	}
	return e
}

func (u *user) api(e expansions) apiUser {
	a := apiUser{ID: u.ID, Name: u.Name, Email: u.Email, Username: u.Email, State: "active", Version: 1, SelfURI: "/api/v2/users/" + u.ID}
	if e.presence {
		p := u.presence()
		a.Presence = &p
	}
	if e.routingStatus {
		rs := u.routingStatus()
		a.RoutingStatus = &rs
	}
	return a
}

// multiParam returns the values of a multi-valued query parameter. The
// platform is a Java service that also splits comma-separated values, so
// id=a,b and id=a&id=b both work.
func multiParam(c *call, name string) []string {
	var out []string
	for _, v := range c.r.URL.Query()[name] {
		for p := range strings.SplitSeq(v, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
	}
	return out
}

func (s *Server) getUser(c *call, id string) *apiError {
	e := parseExpand(c.r.URL.Query()["expand"])
	s.mu.Lock()
	u, ok := s.users[strings.ToLower(id)]
	var out apiUser
	if ok {
		out = u.api(e)
	}
	s.mu.Unlock()
	if !ok {
		return notFound("User %s not found.", id)
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

type userListing struct {
	Entities   []apiUser `json:"entities"`
	PageSize   int       `json:"pageSize"`
	PageNumber int       `json:"pageNumber"`
	Total      int       `json:"total"`
	PageCount  int       `json:"pageCount"`
	FirstURI   string    `json:"firstUri"`
	SelfURI    string    `json:"selfUri"`
	NextURI    string    `json:"nextUri,omitempty"`
	LastURI    string    `json:"lastUri"`
}

// listUsers serves GET /api/v2/users, with id= for a bulk fetch of at most
// MaxBulkUsers. It pages (pageSize default 25) even with id=, so a client
// that asks for 100 ids without pageSize=100 gets 25 and a nextUri.
func (s *Server) listUsers(c *call) *apiError {
	ids := multiParam(c, "id")
	if len(ids) > MaxBulkUsers {
		return badRequest("The id parameter has %d values; at most %d users can be fetched at once.", len(ids), MaxBulkUsers)
	}
	size, number, aerr := paging(c, 25, 500)
	if aerr != nil {
		return aerr
	}
	e := parseExpand(c.r.URL.Query()["expand"])
	s.mu.Lock()
	var all []apiUser
	if len(ids) > 0 {
		seen := make(map[string]bool, len(ids))
		for _, id := range ids {
			k := strings.ToLower(id)
			if u, ok := s.users[k]; ok && !seen[k] {
				seen[k] = true
				all = append(all, u.api(e))
			}
		}
	} else {
		for _, u := range s.userOrder {
			all = append(all, u.api(e))
		}
	}
	s.mu.Unlock()
	page, pc := pageOf(all, size, number)
	q := c.r.URL.Query()
	uri := func(n int) string {
		q.Set("pageNumber", fmt.Sprint(n))
		q.Set("pageSize", fmt.Sprint(size))
		return "/api/v2/users?" + q.Encode()
	}
	out := userListing{Entities: page, PageSize: size, PageNumber: number, Total: len(all), PageCount: pc,
		FirstURI: uri(1), SelfURI: uri(number), LastURI: uri(max(pc, 1))}
	if number < pc {
		out.NextURI = uri(number + 1)
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// searchCriteria is Usersearchcriteria; every documented property is
// accepted so that strict decoding refuses only what the model lacks.
type searchCriteria struct {
	Type       string           `json:"type"`
	Fields     []string         `json:"fields"`
	Value      *string          `json:"value"`
	Values     []string         `json:"values"`
	Operator   string           `json:"operator"`
	Group      []searchCriteria `json:"group"`
	StartValue *string          `json:"startValue"`
	EndValue   *string          `json:"endValue"`
	DateFormat *string          `json:"dateFormat"`
}

type searchRequest struct {
	SortOrder                 string           `json:"sortOrder"`
	SortBy                    string           `json:"sortBy"`
	PageSize                  *int             `json:"pageSize"`
	PageNumber                *int             `json:"pageNumber"`
	Sort                      []any            `json:"sort"`
	Expand                    []string         `json:"expand"`
	Query                     []searchCriteria `json:"query"`
	Aggregations              []any            `json:"aggregations"`
	ReturnFields              []string         `json:"returnFields"`
	EnforcePermissions        *bool            `json:"enforcePermissions"`
	IntegrationPresenceSource string           `json:"integrationPresenceSource"`
}

type searchResponse struct {
	Total      int      `json:"total"`
	PageCount  int      `json:"pageCount"`
	PageSize   int      `json:"pageSize"`
	PageNumber int      `json:"pageNumber"`
	Types      []string `json:"types"`
	// Results is left out when nothing matched, as the real service
	// does; clients must not expect an empty array.
	Results []apiUser `json:"results,omitempty"`
}

var searchTypes = []string{"EXACT", "STARTS_WITH", "CONTAINS", "REGEX", "TERM", "TERMS", "REQUIRED_FIELDS", "MATCH_ALL", "DATE_RANGE", "LESS_THAN", "LESS_THAN_EQUAL_TO", "GREATER_THAN", "GREATER_THAN_EQUAL_TO", "RANGE", "QUERY_STRING", "SIMPLE_QUERY_STRING"}

// criterionMatcher checks one criterion and returns a predicate. Only
// EXACT on email, id or name is implemented; every other type is refused
// with a 400 that says so, rather than answered wrongly.
func criterionMatcher(q searchCriteria, i int) (func(*user) bool, *apiError) {
	known := false
	for _, t := range searchTypes {
		known = known || t == q.Type
	}
	switch {
	case q.Type == "":
		return nil, badRequest("query[%d].type is required (EXACT, STARTS_WITH, CONTAINS, ...).", i)
	case !known:
		return nil, badRequest("query[%d].type %q is not a valid search type; use one of %s.", i, q.Type, strings.Join(searchTypes, ", "))
	case q.Type != "EXACT":
		return nil, badRequest("query[%d].type %s is not supported by fakegenesys, which implements EXACT only.", i, q.Type)
	case len(q.Group) > 0:
		return nil, badRequest("query[%d].group is not supported by fakegenesys.", i)
	case q.Operator != "" && q.Operator != "AND":
		return nil, badRequest("query[%d].operator %q is not supported by fakegenesys (AND only).", i, q.Operator)
	case len(q.Fields) == 0:
		return nil, badRequest("query[%d].fields is required for type EXACT.", i)
	case q.Value == nil && len(q.Values) == 0:
		return nil, badRequest("query[%d] needs value or values for type EXACT.", i)
	}
	vals := q.Values
	if q.Value != nil {
		vals = append([]string{*q.Value}, vals...)
	}
	type getter func(*user) string
	var gets []getter
	for _, f := range q.Fields {
		switch f {
		case "email":
			gets = append(gets, func(u *user) string { return u.Email })
		case "id":
			gets = append(gets, func(u *user) string { return u.ID })
		case "name":
			gets = append(gets, func(u *user) string { return u.Name })
		default:
			return nil, badRequest("query[%d].fields: %q is not supported by fakegenesys (email, id, name).", i, f)
		}
	}
	return func(u *user) bool {
		for _, g := range gets {
			for _, v := range vals {
				if strings.EqualFold(g(u), strings.TrimSpace(v)) {
					return true
				}
			}
		}
		return false
	}, nil
}

func (s *Server) searchUsers(c *call) *apiError {
	var req searchRequest
	if aerr := c.decode(&req, false); aerr != nil {
		return aerr
	}
	if len(req.Query) == 0 {
		return badRequest("query is required: give at least one search criterion.")
	}
	if len(req.Query) > 10 {
		return badRequest("query has %d criteria; at most 10 are allowed.", len(req.Query))
	}
	size, number := 25, 1
	if req.PageSize != nil {
		if *req.PageSize < 1 || *req.PageSize > 100 {
			return badRequest("pageSize must be from 1 to 100, got %d.", *req.PageSize)
		}
		size = *req.PageSize
	}
	if req.PageNumber != nil {
		if *req.PageNumber < 1 || *req.PageNumber > 1_000_000 {
			return badRequest("pageNumber must be from 1 to 1000000, got %d.", *req.PageNumber)
		}
		number = *req.PageNumber
	}
	var preds []func(*user) bool
	for i, q := range req.Query {
		p, aerr := criterionMatcher(q, i)
		if aerr != nil {
			return aerr
		}
		preds = append(preds, p)
	}
	e := parseExpand(req.Expand)
	s.mu.Lock()
	var all []apiUser
	for _, u := range s.userOrder {
		ok := true
		for _, p := range preds {
			ok = ok && p(u)
		}
		if ok {
			all = append(all, u.api(e))
		}
	}
	s.mu.Unlock()
	page, pc := pageOf(all, size, number)
	out := searchResponse{Total: len(all), PageCount: pc, PageSize: size, PageNumber: number, Types: []string{"users"}}
	if len(page) > 0 {
		out.Results = page
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func (s *Server) getPresence(c *call, id string) *apiError {
	s.mu.Lock()
	u, ok := s.users[strings.ToLower(id)]
	var out userPresence
	if ok {
		out = u.presence()
	}
	s.mu.Unlock()
	if !ok {
		return notFound("User %s not found.", id)
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// patchBody is Userpresence as a PATCH body. Only primary,
// presenceDefinition.id and message mean anything; the other properties
// of the model are accepted and ignored, as the platform does.
type patchBody struct {
	ID                       *string          `json:"id"`
	Name                     *string          `json:"name"`
	Source                   *string          `json:"source"`
	SourceID                 *string          `json:"sourceId"`
	Primary                  *bool            `json:"primary"`
	PresenceDefinition       *patchDefinition `json:"presenceDefinition"`
	Message                  *string          `json:"message"`
	ModifiedDate             *string          `json:"modifiedDate"`
	SelfURI                  *string          `json:"selfUri"`
	FuturePresenceDefinition *patchDefinition `json:"futurePresenceDefinition"`
}

type patchDefinition struct {
	ID             *string `json:"id"`
	Name           *string `json:"name"`
	SystemPresence *string `json:"systemPresence"`
	SelfURI        *string `json:"selfUri"`
}

// patchPresence serves PATCH /api/v2/users/{id}/presences/purecloud and
// records every attempt in the user's Patches.
func (s *Server) patchPresence(c *call, id string) *apiError {
	var body patchBody
	aerr := c.decode(&body, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[strings.ToLower(id)]
	if !ok {
		return notFound("User %s not found.", id)
	}
	p := Patch{At: c.now, Body: string(c.body), BeforeDefinitionID: u.def.id, BeforeSystemPresence: u.def.system, BeforeRoutingStatus: u.routing}
	defer func() { u.patches = append(u.patches, p) }()
	fail := func(e *apiError) *apiError {
		p.Status, p.Error = e.status, e.message
		return e
	}
	if aerr != nil {
		return fail(aerr)
	}
	if body.Primary == nil && body.PresenceDefinition == nil && body.Message == nil {
		return fail(badRequest("The PATCH body sets nothing: give presenceDefinition.id, primary and/or message."))
	}
	var d *definition
	if body.PresenceDefinition != nil {
		if body.PresenceDefinition.ID == nil || *body.PresenceDefinition.ID == "" {
			return fail(badRequest("presenceDefinition.id is required when presenceDefinition is given."))
		}
		var err error
		if d, err = s.activeDefinitionLocked(*body.PresenceDefinition.ID); err != nil {
			return fail(badRequest("presenceDefinition.id %q is not an active presence definition of this organization (%v).", *body.PresenceDefinition.ID, err))
		}
	}
	if body.Primary != nil {
		u.primary = *body.Primary
	}
	s.applyPresenceLocked(u, d, body.Message, c.now)
	p.Status, p.DefinitionID, p.SystemPresence = http.StatusOK, u.def.id, u.def.system
	writeJSON(c.w, http.StatusOK, u.presence())
	return nil
}

// applyPresenceLocked sets a definition (nil: keep) and message (nil:
// keep), keeps the routing status consistent with On Queue, and emits
// the events. Going On Queue makes an off-queue user IDLE; leaving On
// Queue makes anyone OFF_QUEUE.
func (s *Server) applyPresenceLocked(u *user, d *definition, message *string, now time.Time) {
	if d != nil {
		u.def = d
	}
	if message != nil {
		u.message = *message
	}
	u.modified = now
	routingChanged := false
	switch {
	case u.def.system == OnQueue && u.routing == OffQueue:
		u.routing, u.routingStart, routingChanged = Idle, now, true
	case u.def.system != OnQueue && u.routing != OffQueue:
		u.routing, u.routingStart, routingChanged = OffQueue, now, true
	}
	s.emitPresenceLocked(u)
	if routingChanged {
		s.emitRoutingLocked(u)
	}
	s.emitActivityLocked(u)
}

func (s *Server) bulkPresence(c *call) *apiError {
	ids := multiParam(c, "id")
	if len(ids) > MaxBulkPresence {
		return badRequest("The id parameter has %d values; the limit is %d.", len(ids), MaxBulkPresence)
	}
	s.mu.Lock()
	out := []ucUserPresence{}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		k := strings.ToLower(id)
		u, ok := s.users[k]
		if !ok || seen[k] {
			continue // unknown users are left out, not an error
		}
		seen[k] = true
		p := u.presence()
		out = append(out, ucUserPresence{ID: u.ID, Name: u.Name, UserID: u.ID, Source: p.Source, PresenceDefinition: p.PresenceDefinition,
			Message: p.Message, ModifiedDate: p.ModifiedDate, SelfURI: p.SelfURI})
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// getRoutingStatus answers OFF_QUEUE for an unknown user, as documented,
// rather than 404.
func (s *Server) getRoutingStatus(c *call, id string) *apiError {
	s.mu.Lock()
	out := routingStatus{UserID: id, Status: OffQueue}
	if u, ok := s.users[strings.ToLower(id)]; ok {
		out = u.routingStatus()
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// Test hooks.

// SetPresence changes a user's presence as if the agent picked it in the
// Genesys client: definition is an id, an active definition's name
// ("Lunch") or a system presence ("On Queue", "ON_QUEUE"). It emits the
// events and moves the routing status on or off queue. user is an id or
// an email.
func (s *Server) SetPresence(user, definition string) error {
	return s.setPresence(user, definition, nil)
}

// setPresence is SetPresence that may also set the message; an empty
// defName keeps the definition.
func (s *Server) setPresence(who, defName string, message *string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(who)
	if u == nil {
		return fmt.Errorf("set presence of %q: %w", who, ErrUnknownUser)
	}
	var d *definition
	if defName != "" {
		var err error
		if d, err = s.resolveDefinitionLocked(defName); err != nil {
			return fmt.Errorf("set presence of %s: %w", u.ID, err)
		}
	}
	s.applyPresenceLocked(u, d, message, s.now())
	return nil
}

// Presence returns a user's definition id, its systemPresence in title
// case ("On Queue") and the modifiedDate. All are zero for an unknown
// user.
func (s *Server) Presence(user string) (defID, systemPresence string, modified time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return "", "", time.Time{}
	}
	return u.def.id, u.def.system, u.modified
}

// SetRoutingStatus sets a user's routing status (OFF_QUEUE, IDLE,
// INTERACTING, NOT_RESPONDING, COMMUNICATING) and emits the events. It
// leaves the presence alone, so a test can build a state the gateway must
// guard against, such as COMMUNICATING while not On Queue.
func (s *Server) SetRoutingStatus(user, status string) error {
	if !validRoutingStatus(status) {
		return fmt.Errorf("routing status %q: %w", status, ErrBadStatus)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return fmt.Errorf("set routing status of %q: %w", user, ErrUnknownUser)
	}
	u.routing, u.routingStart = status, s.now()
	s.emitRoutingLocked(u)
	s.emitActivityLocked(u)
	return nil
}

// RoutingStatus returns a user's routing status and since when; OFF_QUEUE
// and the zero time for an unknown user, as the API answers.
func (s *Server) RoutingStatus(user string) (status string, since time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return OffQueue, time.Time{}
	}
	return u.routing, u.routingStart
}

// Patches returns every PATCH of the user's presence so far, in order.
func (s *Server) Patches(user string) []Patch {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(user)
	if u == nil {
		return nil
	}
	return append([]Patch(nil), u.patches...)
}

// Users returns the organization's members.
func (s *Server) Users() []User {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]User, 0, len(s.userOrder))
	for _, u := range s.userOrder {
		out = append(out, u.User)
	}
	return out
}
