package fakegenesys

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// The ids of the ten system (primary) presence definitions. They are the
// same in every organization (CLOUD-APIS.md 5.2), which is why the fake
// hard-codes them; a client should still resolve them at startup.
const (
	AvailableID = "6a3af858-942f-489d-9700-5f9bcdcdae9b"
	AwayID      = "5e5c5c66-ea97-4e7f-ac41-6424784829f2"
	BusyID      = "31fe3bac-dea6-44b7-bed7-47f91660a1a0"
	OfflineID   = "ccf3c10a-aa2c-4845-8e8d-f59fa48c58e5"
	IdleID      = "7ffa01cd-7866-4ad7-8faa-31e11b42f51f"
	MealID      = "3fd96123-badb-4f69-bc03-1b1ccc6d8014"
	TrainingID  = "d2390a99-8546-bad9-8f0a-219548e8aeb0"
	MeetingID   = "bbdff279-7ae1-48ea-bade-7831d7234c64"
	BreakID     = "227b37e2-f1d0-4dd0-8f50-badd7cf6d158"
	OnQueueID   = "e08eaf1b-ee47-4fa9-a231-1200e284798f"
)

// OnQueue is the systemPresence of the On Queue definition in REST answers.
const OnQueue = "On Queue"

// homeDivisionID is the division user-created definitions live in. System
// definitions report "*" (every division), as real ones do.
const homeDivisionID = "5e6c7d8e-0000-4000-8000-00000000d1f0"

// systemPresences maps the notification form (upper snake) to the REST
// form (title case). The REST form is what GET answers carry; events carry
// the other one. Mixing them up is the casing trap of CLOUD-APIS.md 0.6.
var systemPresences = map[string]string{
	"AVAILABLE": "Available",
	"AWAY":      "Away",
	"BUSY":      "Busy",
	"OFFLINE":   "Offline",
	"IDLE":      "Idle",
	"MEAL":      "Meal",
	"TRAINING":  "Training",
	"MEETING":   "Meeting",
	"BREAK":     "Break",
	"ON_QUEUE":  OnQueue,
}

// upperSnake turns "On Queue" into "ON_QUEUE".
func upperSnake(title string) string {
	return strings.ToUpper(strings.ReplaceAll(title, " ", "_"))
}

// titleSystemPresence accepts either form (and any case) and returns the
// REST form, or "" for something that is not a system presence.
func titleSystemPresence(s string) string {
	return systemPresences[upperSnake(strings.TrimSpace(s))]
}

// Definition is a presence definition of the organization.
type Definition struct {
	ID string `json:"id"` // a GUID
	// Name is the en_US label the Genesys client shows ("Lunch").
	Name string `json:"name"`
	// SystemPresence is the primary status the definition belongs to, in
	// either form: "On Queue" or "ON_QUEUE".
	SystemPresence string `json:"systemPresence"`
	// Deactivated definitions are listed only on request and cannot be
	// set.
	Deactivated bool `json:"deactivated"`
}

// SystemDefinitions returns the ten system definitions the fake always has.
func SystemDefinitions() []Definition {
	return []Definition{
		{ID: AvailableID, Name: "Available", SystemPresence: "Available"},
		{ID: AwayID, Name: "Away", SystemPresence: "Away"},
		{ID: BusyID, Name: "Busy", SystemPresence: "Busy"},
		{ID: OfflineID, Name: "Offline", SystemPresence: "Offline"},
		{ID: IdleID, Name: "Idle", SystemPresence: "Idle"},
		{ID: MealID, Name: "Meal", SystemPresence: "Meal"},
		{ID: TrainingID, Name: "Training", SystemPresence: "Training"},
		{ID: MeetingID, Name: "Meeting", SystemPresence: "Meeting"},
		{ID: BreakID, Name: "Break", SystemPresence: "Break"},
		{ID: OnQueueID, Name: OnQueue, SystemPresence: OnQueue},
	}
}

// Validate reports what would keep the fake from accepting d.
func (d Definition) Validate() error {
	if !isGUID(d.ID) {
		return fmt.Errorf("definition %q: id %q is not a GUID: %w", d.Name, d.ID, ErrBadDefinition)
	}
	if strings.TrimSpace(d.Name) == "" {
		return fmt.Errorf("definition %s: empty name: %w", d.ID, ErrBadDefinition)
	}
	if titleSystemPresence(d.SystemPresence) == "" {
		return fmt.Errorf("definition %s: systemPresence %q is not one of Available, Away, Busy, Offline, Idle, Meal, Training, Meeting, Break, On Queue: %w",
			d.ID, d.SystemPresence, ErrBadDefinition)
	}
	return nil
}

// definition is a Definition as the fake keeps it: canonical id and
// system presence.
type definition struct {
	id          string // lower case
	name        string
	system      string // title case
	isSystem    bool   // one of the ten; type "System" rather than "User"
	deactivated bool
}

func (d *definition) typ() string {
	if d.isSystem {
		return "System"
	}
	return "User"
}

func (d *definition) divisionID() string {
	if d.isSystem {
		return "*"
	}
	return homeDivisionID
}

// presenceDefinitionRef is the definition as it appears inside a user's
// presence in REST answers: title case.
type presenceDefinitionRef struct {
	ID             string `json:"id"`
	SystemPresence string `json:"systemPresence"`
	SelfURI        string `json:"selfUri"`
}

func (d *definition) ref() presenceDefinitionRef {
	return presenceDefinitionRef{ID: d.id, SystemPresence: d.system, SelfURI: "/api/v2/presencedefinitions/" + d.id}
}

// orgPresenceDefinition is Organizationpresencedefinition.
type orgPresenceDefinition struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	LanguageLabels map[string]string `json:"languageLabels"`
	SystemPresence string            `json:"systemPresence"`
	DivisionID     string            `json:"divisionId"`
	Deactivated    bool              `json:"deactivated"`
	SelfURI        string            `json:"selfUri"`
}

func (d *definition) org(selfPrefix string) orgPresenceDefinition {
	return orgPresenceDefinition{
		ID:             d.id,
		Name:           d.name,
		Type:           d.typ(),
		LanguageLabels: map[string]string{"en_US": d.name},
		SystemPresence: d.system,
		DivisionID:     d.divisionID(),
		Deactivated:    d.deactivated,
		SelfURI:        selfPrefix + d.id,
	}
}

type definitionListing struct {
	Entities   []orgPresenceDefinition `json:"entities"`
	PageSize   int                     `json:"pageSize"`
	PageNumber int                     `json:"pageNumber"`
	Total      int                     `json:"total"`
	PageCount  int                     `json:"pageCount"`
}

// addDefinitionLocked adds d; system marks one of the ten.
func (s *Server) addDefinitionLocked(d Definition, system bool) error {
	if err := d.Validate(); err != nil {
		return err
	}
	id := strings.ToLower(d.ID)
	if _, ok := s.defs[id]; ok {
		return fmt.Errorf("definition %s (%q): duplicate id: %w", id, d.Name, ErrBadDefinition)
	}
	nd := &definition{id: id, name: strings.TrimSpace(d.Name), system: titleSystemPresence(d.SystemPresence), isSystem: system, deactivated: d.Deactivated}
	s.defs[id] = nd
	s.defOrder = append(s.defOrder, nd)
	return nil
}

// activeDefinitionLocked returns the definition with id if it can be set.
func (s *Server) activeDefinitionLocked(id string) (*definition, error) {
	d, ok := s.defs[strings.ToLower(strings.TrimSpace(id))]
	switch {
	case !ok:
		return nil, fmt.Errorf("presence definition %q: %w", id, ErrUnknownDefinition)
	case d.deactivated:
		return nil, fmt.Errorf("presence definition %s (%q) is deactivated: %w", d.id, d.name, ErrUnknownDefinition)
	}
	return d, nil
}

// resolveDefinitionLocked finds what a test means by "Lunch", "On Queue",
// "ON_QUEUE" or an id: an id first, then an active definition's label
// (the system one wins a tie), then the system definition of a system
// presence.
func (s *Server) resolveDefinitionLocked(nameOrID string) (*definition, error) {
	if d, err := s.activeDefinitionLocked(nameOrID); err == nil {
		return d, nil
	} else if isGUID(strings.TrimSpace(nameOrID)) {
		return nil, err
	}
	want := strings.TrimSpace(nameOrID)
	var found *definition
	for _, d := range s.defOrder {
		if !d.deactivated && strings.EqualFold(d.name, want) && (found == nil || d.isSystem && !found.isSystem) {
			found = d
		}
	}
	if found != nil {
		return found, nil
	}
	if sp := titleSystemPresence(want); sp != "" {
		for _, d := range s.defOrder {
			if d.isSystem && d.system == sp && !d.deactivated {
				return d, nil
			}
		}
	}
	return nil, fmt.Errorf("presence %q is neither a definition id, an active definition's name nor a system presence: %w", nameOrID, ErrUnknownDefinition)
}

// Definitions returns every definition, system ones first, deactivated
// ones included. SystemPresence is in title case.
func (s *Server) Definitions() []Definition {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Definition, 0, len(s.defOrder))
	for _, d := range s.defOrder {
		out = append(out, Definition{ID: d.id, Name: d.name, SystemPresence: d.system, Deactivated: d.deactivated})
	}
	return out
}

func parseBoolParam(c *call, name string) (bool, *apiError) {
	v := c.r.URL.Query().Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, badRequest("Query parameter %s must be true or false, got %q.", name, v)
	}
	return b, nil
}

// listDefinitions serves GET /api/v2/presence/definitions. deactivated
// is a filter, as documented: false (the default) lists active
// definitions, true the deactivated ones.
func (s *Server) listDefinitions(c *call) *apiError {
	deact, aerr := parseBoolParam(c, "deactivated")
	if aerr != nil {
		return aerr
	}
	s.mu.Lock()
	ents := []orgPresenceDefinition{}
	for _, d := range s.defOrder {
		if d.deactivated == deact {
			ents = append(ents, d.org("/api/v2/presence/definitions/"))
		}
	}
	s.mu.Unlock()
	pc := 0
	if len(ents) > 0 {
		pc = 1
	}
	writeJSON(c.w, http.StatusOK, definitionListing{Entities: ents, PageSize: len(ents), PageNumber: 1, Total: len(ents), PageCount: pc})
	return nil
}

// listDefinitionsDeprecated serves the deprecated GET
// /api/v2/presencedefinitions, which pages (pageSize default 25) and
// filters with "deleted" instead of "deactivated".
func (s *Server) listDefinitionsDeprecated(c *call) *apiError {
	deleted, aerr := parseBoolParam(c, "deleted")
	if aerr != nil {
		return aerr
	}
	size, number, aerr := paging(c, 25, 100)
	if aerr != nil {
		return aerr
	}
	s.mu.Lock()
	var all []orgPresenceDefinition
	for _, d := range s.defOrder {
		if deleted || !d.deactivated {
			all = append(all, d.org("/api/v2/presencedefinitions/"))
		}
	}
	s.mu.Unlock()
	page, pc := pageOf(all, size, number)
	writeJSON(c.w, http.StatusOK, definitionListing{Entities: page, PageSize: size, PageNumber: number, Total: len(all), PageCount: pc})
	return nil
}

func (s *Server) getDefinition(c *call, id, selfPrefix string) *apiError {
	s.mu.Lock()
	d, ok := s.defs[strings.ToLower(id)]
	var out orgPresenceDefinition
	if ok {
		out = d.org(selfPrefix)
	}
	s.mu.Unlock()
	if !ok {
		return notFound("Presence definition %s not found.", id)
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// paging reads pageSize and pageNumber (1-based).
func paging(c *call, defSize, maxSize int) (size, number int, _ *apiError) {
	q := c.r.URL.Query()
	size, number = defSize, 1
	if v := q.Get("pageSize"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxSize {
			return 0, 0, badRequest("pageSize must be an integer from 1 to %d, got %q.", maxSize, v)
		}
		size = n
	}
	if v := q.Get("pageNumber"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1_000_000 {
			return 0, 0, badRequest("pageNumber must be an integer from 1 to 1000000, got %q.", v)
		}
		number = n
	}
	return size, number, nil
}

// pageOf returns page number (1-based) of all and the page count. A page
// past the end is empty, as the platform answers.
func pageOf[T any](all []T, size, number int) ([]T, int) {
	pc := (len(all) + size - 1) / size
	from := (number - 1) * size
	if from >= len(all) || from < 0 {
		return []T{}, pc
	}
	return all[from:min(from+size, len(all))], pc
}
