package fakegenesys

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type defEntity struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	LanguageLabels map[string]string `json:"languageLabels"`
	SystemPresence string            `json:"systemPresence"`
	Deactivated    bool              `json:"deactivated"`
	DivisionID     string            `json:"divisionId"`
	SelfURI        string            `json:"selfUri"`
}

func TestDefinitions(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do(http.MethodGet, "/api/v2/presence/definitions?localeCode=en_US", nil)
	wantStatus(t, r, http.StatusOK)
	var list struct {
		Entities                               []defEntity
		PageSize, PageNumber, Total, PageCount int
	}
	r.json(t, &list)
	if list.Total != 11 || len(list.Entities) != 11 || list.PageCount != 1 || list.PageNumber != 1 {
		t.Fatalf("listing: total %d, %d entities, page %d/%d", list.Total, len(list.Entities), list.PageNumber, list.PageCount)
	}
	byID := map[string]defEntity{}
	for _, d := range list.Entities {
		byID[d.ID] = d
	}
	for id, sp := range map[string]string{
		AvailableID: "Available", AwayID: "Away", BusyID: "Busy", OfflineID: "Offline", IdleID: "Idle",
		MealID: "Meal", TrainingID: "Training", MeetingID: "Meeting", BreakID: "Break", OnQueueID: "On Queue",
	} {
		d := byID[id]
		if d.SystemPresence != sp || d.Name != sp || d.Type != "System" || d.LanguageLabels["en_US"] != sp || d.DivisionID != "*" || d.SelfURI != "/api/v2/presence/definitions/"+id {
			t.Errorf("system definition %s: %+v", id, d)
		}
	}
	lunch := byID[lunchID]
	if lunch.Name != "Lunch" || lunch.Type != "User" || lunch.SystemPresence != "Meal" || lunch.LanguageLabels["en_US"] != "Lunch" || lunch.Deactivated {
		t.Fatalf("secondary definition: %+v", lunch)
	}
	if _, ok := byID[retiredID]; ok {
		t.Fatal("deactivated definition listed without deactivated=true")
	}

	r = e.do(http.MethodGet, "/api/v2/presence/definitions?deactivated=true", nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &list)
	if len(list.Entities) != 1 || list.Entities[0].ID != retiredID || list.Entities[0].SystemPresence != "Break" || !list.Entities[0].Deactivated {
		t.Fatalf("deactivated listing %s", r.body)
	}
	r.apiErrIfNot(t, e.do(http.MethodGet, "/api/v2/presence/definitions?deactivated=maybe", nil), http.StatusBadRequest)

	r = e.do(http.MethodGet, "/api/v2/presence/definitions/"+lunchID, nil)
	wantStatus(t, r, http.StatusOK)
	var one defEntity
	r.json(t, &one)
	if one.ID != lunchID || one.SystemPresence != "Meal" {
		t.Fatalf("get definition %s", r.body)
	}
	r.apiErrIfNot(t, e.do(http.MethodGet, "/api/v2/presence/definitions/"+newGUID(), nil), http.StatusNotFound)

	// The deprecated path pages.
	r = e.do(http.MethodGet, "/api/v2/presencedefinitions?pageSize=4&pageNumber=3", nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &list)
	if list.Total != 11 || list.PageCount != 3 || len(list.Entities) != 3 || list.Entities[2].ID != lunchID {
		t.Fatalf("deprecated listing page 3: %s", r.body)
	}
	r.apiErrIfNot(t, e.do(http.MethodGet, "/api/v2/presencedefinitions?pageSize=0", nil), http.StatusBadRequest)
	r.apiErrIfNot(t, e.do(http.MethodPost, "/api/v2/presence/definitions", map[string]string{}), http.StatusMethodNotAllowed)
	// Authentication comes before routing.
	r.apiErrIfNot(t, e.doTok(http.MethodGet, "/api/v2/nothing", "", nil), http.StatusUnauthorized)
	r.apiErrIfNot(t, e.do(http.MethodGet, "/api/v2/nothing", nil), http.StatusNotFound)
}

// apiErrIfNot checks got's status and ErrorBody. (r is unused; the
// receiver keeps call sites short.)
func (resp) apiErrIfNot(t *testing.T, got resp, status int) ErrorBody {
	t.Helper()
	wantStatus(t, got, status)
	return got.apiErr(t)
}

type apiUserJSON struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	State    string `json:"state"`
	SelfURI  string `json:"selfUri"`
	Presence *struct {
		Source             string `json:"source"`
		PresenceDefinition struct {
			ID             string `json:"id"`
			SystemPresence string `json:"systemPresence"`
		} `json:"presenceDefinition"`
	} `json:"presence"`
	RoutingStatus *struct {
		UserID    string `json:"userId"`
		Status    string `json:"status"`
		StartTime string `json:"startTime"`
	} `json:"routingStatus"`
}

func TestSearchByEmail(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.fg.SetPresence(bob, "On Queue"); err != nil {
		t.Fatal(err)
	}
	search := func(body any) resp {
		return e.do(http.MethodPost, "/api/v2/users/search", body)
	}
	r := search(map[string]any{
		"query":    []map[string]any{{"type": "EXACT", "fields": []string{"email"}, "value": "Bob@Contoso.example"}},
		"expand":   []string{"presence", "routingStatus"},
		"pageSize": 25, "pageNumber": 1,
	})
	wantStatus(t, r, http.StatusOK)
	var res struct {
		Total, PageCount, PageSize, PageNumber int
		Results                                []apiUserJSON
	}
	r.json(t, &res)
	if res.Total != 1 || res.PageCount != 1 || res.PageSize != 25 || len(res.Results) != 1 {
		t.Fatalf("search: %s", r.body)
	}
	u := res.Results[0]
	if u.ID != bob || u.Email != "bob@contoso.example" || u.Name != "Bob Sales" || u.State != "active" || u.SelfURI != "/api/v2/users/"+bob {
		t.Fatalf("user %+v", u)
	}
	if u.Presence == nil || u.Presence.PresenceDefinition.ID != OnQueueID || u.Presence.PresenceDefinition.SystemPresence != "On Queue" || u.Presence.Source != "PURECLOUD" {
		t.Fatalf("expanded presence %s", r.body)
	}
	if u.RoutingStatus == nil || u.RoutingStatus.Status != Idle || u.RoutingStatus.UserID != bob {
		t.Fatalf("expanded routingStatus %s", r.body)
	}

	// Without expand there is no presence; several values match any.
	r = search(map[string]any{"query": []map[string]any{{"type": "EXACT", "fields": []string{"email"}, "values": []string{"alice@contoso.example", "carol@contoso.example"}}}})
	wantStatus(t, r, http.StatusOK)
	res.Results = nil
	r.json(t, &res)
	if res.Total != 2 || len(res.Results) != 2 || res.Results[0].Presence != nil || res.Results[0].RoutingStatus != nil {
		t.Fatalf("two-value search: %s", r.body)
	}

	// No match: total 0 and no results property at all.
	r = search(map[string]any{"query": []map[string]any{{"type": "EXACT", "fields": []string{"email"}, "value": "nobody@contoso.example"}}})
	wantStatus(t, r, http.StatusOK)
	var raw map[string]json.RawMessage
	r.json(t, &raw)
	if string(raw["total"]) != "0" || raw["results"] != nil {
		t.Fatalf("empty search: %s", r.body)
	}

	for name, body := range map[string]any{
		"CONTAINS":       map[string]any{"query": []map[string]any{{"type": "CONTAINS", "fields": []string{"email"}, "value": "bob"}}},
		"bogus type":     map[string]any{"query": []map[string]any{{"type": "FUZZY", "fields": []string{"email"}, "value": "bob"}}},
		"no type":        map[string]any{"query": []map[string]any{{"fields": []string{"email"}, "value": "bob"}}},
		"no query":       map[string]any{"pageSize": 25},
		"no value":       map[string]any{"query": []map[string]any{{"type": "EXACT", "fields": []string{"email"}}}},
		"unknown field":  map[string]any{"query": []map[string]any{{"type": "EXACT", "fields": []string{"email"}, "value": "x"}}, "pagesize": 5},
		"big pageSize":   map[string]any{"query": []map[string]any{{"type": "EXACT", "fields": []string{"email"}, "value": "x"}}, "pageSize": 101},
		"bad field name": map[string]any{"query": []map[string]any{{"type": "EXACT", "fields": []string{"mail"}, "value": "x"}}},
	} {
		r := search(body)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400: %s", name, r.status, r.body)
			continue
		}
		if b := r.apiErr(t); b.Code != "bad.request" {
			t.Errorf("%s: %+v", name, b)
		}
	}
	r = e.raw(http.MethodPost, "/api/v2/users/search", map[string]string{"Authorization": "Bearer " + e.tok}, `{"query":[]}`)
	wantStatus(t, r, http.StatusUnsupportedMediaType)
	r.apiErr(t)
}

type userPresenceJSON struct {
	ID                 string `json:"id"`
	Source             string `json:"source"`
	Primary            bool   `json:"primary"`
	PresenceDefinition struct {
		ID             string `json:"id"`
		SystemPresence string `json:"systemPresence"`
		SelfURI        string `json:"selfUri"`
	} `json:"presenceDefinition"`
	Message      string `json:"message"`
	ModifiedDate string `json:"modifiedDate"`
	SelfURI      string `json:"selfUri"`
}

func (e *env) getPresence(user string) userPresenceJSON {
	e.t.Helper()
	r := e.do(http.MethodGet, "/api/v2/users/"+user+"/presences/purecloud", nil)
	wantStatus(e.t, r, http.StatusOK)
	var p userPresenceJSON
	r.json(e.t, &p)
	return p
}

func (e *env) routing(user string) string {
	e.t.Helper()
	r := e.do(http.MethodGet, "/api/v2/users/"+user+"/routingstatus", nil)
	wantStatus(e.t, r, http.StatusOK)
	var rs struct{ UserID, Status, StartTime string }
	r.json(e.t, &rs)
	if !strings.EqualFold(rs.UserID, user) {
		e.t.Fatalf("routingstatus of %s answered for %s", user, rs.UserID)
	}
	return rs.Status
}

func TestPresenceGetAndPatch(t *testing.T) {
	e := newEnv(t, nil)
	start := e.clock.Now()
	p := e.getPresence(alice)
	if p.Source != "PURECLOUD" || !p.Primary || p.PresenceDefinition.ID != OfflineID || p.PresenceDefinition.SystemPresence != "Offline" ||
		p.ModifiedDate != "2026-11-22T09:00:00.000Z" || p.SelfURI != "/api/v2/users/"+alice+"/presences" || p.PresenceDefinition.SelfURI != "/api/v2/presencedefinitions/"+OfflineID {
		t.Fatalf("initial presence %+v", p)
	}

	e.clock.Advance(90*time.Second + 250*time.Millisecond)
	r := e.patch(alice, defBody(BusyID))
	wantStatus(t, r, http.StatusOK)
	r.json(t, &p)
	if p.PresenceDefinition.ID != BusyID || p.PresenceDefinition.SystemPresence != "Busy" || p.ModifiedDate != "2026-11-22T09:01:30.250Z" {
		t.Fatalf("PATCH answer %s", r.body)
	}
	if got := e.getPresence(alice); got.PresenceDefinition.SystemPresence != "Busy" {
		t.Fatalf("GET after PATCH %+v", got)
	}

	// On Queue is title case in REST and moves routing to IDLE; leaving it
	// goes OFF_QUEUE.
	r = e.patch(alice, defBody(OnQueueID))
	wantStatus(t, r, http.StatusOK)
	r.json(t, &p)
	if p.PresenceDefinition.SystemPresence != "On Queue" {
		t.Fatalf("On Queue answer %s", r.body)
	}
	if st := e.routing(alice); st != Idle {
		t.Fatalf("routing after On Queue = %s, want IDLE", st)
	}
	if err := e.fg.SetRoutingStatus(alice, Interacting); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.patch(alice, defBody(lunchID)), http.StatusOK)
	if st := e.routing(alice); st != OffQueue {
		t.Fatalf("routing after leaving On Queue = %s, want OFF_QUEUE", st)
	}
	if id, sp, _ := e.fg.Presence(alice); id != lunchID || sp != "Meal" {
		t.Fatalf("Presence() = %s %s after Lunch", id, sp)
	}

	// Message alone.
	r = e.patch(alice, map[string]any{"message": "back at 2"})
	wantStatus(t, r, http.StatusOK)
	r.json(t, &p)
	if p.Message != "back at 2" || p.PresenceDefinition.ID != lunchID {
		t.Fatalf("message PATCH %s", r.body)
	}

	for name, tc := range map[string]struct {
		body   any
		status int
	}{
		"unknown definition":     {defBody(newGUID()), http.StatusBadRequest},
		"not a GUID":             {defBody("Available"), http.StatusBadRequest},
		"deactivated definition": {defBody(retiredID), http.StatusBadRequest},
		"empty object":           {map[string]any{}, http.StatusBadRequest},
		"definition without id":  {map[string]any{"presenceDefinition": map[string]any{}}, http.StatusBadRequest},
		"misspelt property":      {map[string]any{"presenceDefinitionId": AvailableID}, http.StatusBadRequest},
		"property in wrong case": {map[string]any{"presencedefinition": map[string]string{"id": AvailableID}}, http.StatusBadRequest},
		"nested wrong case":      {map[string]any{"presenceDefinition": map[string]string{"ID": AvailableID}}, http.StatusBadRequest},
	} {
		r := e.patch(alice, tc.body)
		if r.status != tc.status {
			t.Errorf("%s: %d %s", name, r.status, r.body)
			continue
		}
		if b := r.apiErr(t); b.Code != "bad.request" {
			t.Errorf("%s: %+v", name, b)
		}
	}
	r = e.raw(http.MethodPatch, "/api/v2/users/"+alice+"/presences/purecloud", map[string]string{"Authorization": "Bearer " + e.tok, "Content-Type": "application/json"}, "")
	wantStatus(t, r, http.StatusBadRequest)
	r.apiErr(t)
	if _, sp, _ := e.fg.Presence(alice); sp != "Meal" {
		t.Fatalf("a refused PATCH changed presence to %s", sp)
	}

	r = e.patch(newGUID(), defBody(BusyID))
	wantStatus(t, r, http.StatusNotFound)
	r.apiErr(t)
	wantStatus(t, e.do(http.MethodGet, "/api/v2/users/"+newGUID()+"/presences/purecloud", nil), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodGet, "/api/v2/users/"+alice+"/presences/microsoftteams", nil), http.StatusNotFound)

	// Every PATCH that reached the service is recorded with the state it
	// found.
	ps := e.fg.Patches(alice)
	if len(ps) != 13 {
		t.Fatalf("%d patches recorded, want 13: %+v", len(ps), ps)
	}
	if ps[0].Status != 200 || ps[0].BeforeSystemPresence != "Offline" || ps[0].SystemPresence != "Busy" || !ps[0].At.Equal(start.Add(90*time.Second+250*time.Millisecond)) ||
		!strings.Contains(ps[0].Body, BusyID) {
		t.Fatalf("first patch %+v", ps[0])
	}
	if ps[2].BeforeSystemPresence != OnQueue || ps[2].BeforeRoutingStatus != Interacting || ps[2].DefinitionID != lunchID {
		t.Fatalf("patch while On Queue %+v", ps[2])
	}
	for _, p := range ps[4:] {
		if p.Status != http.StatusBadRequest || p.Error == "" || p.DefinitionID != "" || p.BeforeSystemPresence != "Meal" {
			t.Fatalf("refused patch %+v", p)
		}
	}
	if st := e.fg.Stats(); st.Requests[OpPresencePatch] != 14 || st.Status[http.StatusBadRequest] != 9 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSetPresenceHook(t *testing.T) {
	e := newEnv(t, nil)
	for _, tc := range []struct{ in, id, sp string }{
		{"On Queue", OnQueueID, OnQueue},
		{"lunch", lunchID, "Meal"},
		{"MEAL", MealID, "Meal"},
		{"Meal", MealID, "Meal"},
		{AwayID, AwayID, "Away"},
		{"ON_QUEUE", OnQueueID, OnQueue},
	} {
		if err := e.fg.SetPresence("alice@contoso.example", tc.in); err != nil {
			t.Fatalf("SetPresence(%q): %v", tc.in, err)
		}
		if id, sp, _ := e.fg.Presence(alice); id != tc.id || sp != tc.sp {
			t.Fatalf("SetPresence(%q) gave %s %s, want %s %s", tc.in, id, sp, tc.id, tc.sp)
		}
	}
	if st, _ := e.fg.RoutingStatus(alice); st != Idle {
		t.Fatalf("routing %s after SetPresence On Queue", st)
	}
	for _, bad := range []string{"Old Break", retiredID, "Sleeping", newGUID()} {
		if err := e.fg.SetPresence(alice, bad); err == nil {
			t.Errorf("SetPresence(%q) succeeded", bad)
		}
	}
	if err := e.fg.SetPresence("nobody", "Busy"); err == nil {
		t.Error("SetPresence of an unknown user succeeded")
	}
	if err := e.fg.SetRoutingStatus(alice, "BUSY"); err == nil {
		t.Error("SetRoutingStatus BUSY succeeded")
	}
	if st, _ := e.fg.RoutingStatus(newGUID()); st != OffQueue {
		t.Errorf("RoutingStatus of an unknown user = %s", st)
	}
}

func TestRoutingStatusEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	stranger := newGUID()
	r := e.do(http.MethodGet, "/api/v2/users/"+stranger+"/routingstatus", nil)
	wantStatus(t, r, http.StatusOK)
	var rs struct{ UserID, Status string }
	r.json(t, &rs)
	if rs.UserID != stranger || rs.Status != OffQueue {
		t.Fatalf("unknown user: %s", r.body)
	}
	if err := e.fg.SetRoutingStatus(carol, Communicating); err != nil {
		t.Fatal(err)
	}
	if st := e.routing(carol); st != Communicating {
		t.Fatalf("routing %s", st)
	}
}

func TestBulkLimits(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.fg.SetPresence(carol, "Busy"); err != nil {
		t.Fatal(err)
	}
	ids := func(n int, known ...string) string {
		var q []string
		for _, k := range known {
			q = append(q, "id="+k)
		}
		for len(q) < n {
			q = append(q, "id="+newGUID())
		}
		return strings.Join(q, "&")
	}
	r := e.do(http.MethodGet, "/api/v2/users/presences/purecloud/bulk?"+ids(50, alice, carol), nil)
	wantStatus(t, r, http.StatusOK)
	var bulk []struct {
		ID, UserID, Source, Message, ModifiedDate string
		PresenceDefinition                        struct{ ID, SystemPresence string }
	}
	r.json(t, &bulk)
	if len(bulk) != 2 || bulk[0].UserID != alice || bulk[1].UserID != carol || bulk[1].PresenceDefinition.SystemPresence != "Busy" || bulk[1].Source != "PURECLOUD" {
		t.Fatalf("bulk of 50: %s", r.body)
	}
	r = e.do(http.MethodGet, "/api/v2/users/presences/purecloud/bulk?"+ids(51, alice), nil)
	wantStatus(t, r, http.StatusBadRequest)
	if b := r.apiErr(t); !strings.Contains(b.Message, "51") {
		t.Fatalf("51 ids: %+v", b)
	}
	r = e.do(http.MethodGet, "/api/v2/users/presences/purecloud/bulk?id="+alice+","+bob, nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &bulk)
	if len(bulk) != 2 {
		t.Fatalf("comma-separated ids: %s", r.body)
	}

	// Bulk users: at most 100 ids, expand, and paging.
	r = e.do(http.MethodGet, "/api/v2/users?"+ids(101), nil)
	wantStatus(t, r, http.StatusBadRequest)
	r.apiErr(t)
	r = e.do(http.MethodGet, "/api/v2/users?expand=routingStatus,presence&pageSize=2&"+ids(100, alice, bob, carol), nil)
	wantStatus(t, r, http.StatusOK)
	var list struct {
		Entities                               []apiUserJSON
		Total, PageCount, PageSize, PageNumber int
		NextURI                                string
	}
	r.json(t, &list)
	if list.Total != 3 || list.PageCount != 2 || len(list.Entities) != 2 || list.NextURI == "" {
		t.Fatalf("users page 1: %s", r.body)
	}
	if u := list.Entities[0]; u.ID != alice || u.Presence == nil || u.RoutingStatus == nil || u.RoutingStatus.Status != OffQueue {
		t.Fatalf("expanded user %s", r.body)
	}
	r = e.do(http.MethodGet, list.NextURI, nil)
	wantStatus(t, r, http.StatusOK)
	list.NextURI = ""
	r.json(t, &list)
	if len(list.Entities) != 1 || list.Entities[0].ID != carol || list.Entities[0].Presence.PresenceDefinition.SystemPresence != "Busy" || list.NextURI != "" {
		t.Fatalf("users page 2: %s", r.body)
	}
	r = e.do(http.MethodGet, "/api/v2/users/"+bob+"?expand=presence", nil)
	wantStatus(t, r, http.StatusOK)
	var one apiUserJSON
	r.json(t, &one)
	if one.Email != "bob@contoso.example" || one.Presence == nil || one.RoutingStatus != nil {
		t.Fatalf("user get %s", r.body)
	}
}

// No input makes the fake answer 5xx (which would mean a panic or a bug).
func TestOddInputNever5xx(t *testing.T) {
	e := newEnv(t, nil)
	ch, _ := e.createChannel(e.tok)
	paths := []string{
		"/api/v2/users/search", "/api/v2/users/" + alice + "/presences/purecloud", "/api/v2/users/presences/purecloud/bulk?id=",
		"/api/v2/notifications/channels", "/api/v2/notifications/channels/" + ch + "/subscriptions", "/api/v2/notifications/channels/" + ch,
		"/api/v2/presence/definitions/%00", "/api/v2/users?pageNumber=99999999999999999999", "/api/v2//users", "/api/v2/",
		"/api/v2/users/" + alice + "/routingstatus", "/channels/" + ch, "/channels/", "/oauth/token", "/_fake/users/%25zz/presence", "/nothing",
	}
	bodies := []string{"", "null", "[]", "{}", `{"query":null}`, `[{"id":null}]`, `{"presenceDefinition":null}`, `{"presenceDefinition":{"id":7}}`,
		`[` + strings.Repeat(`{"id":"x"},`, 5) + `{}]`, "\x00\xff", `{"query":[{"type":"EXACT","fields":[],"values":[]}]}`, `{"a":` + strings.Repeat("[", 10000)}
	for _, p := range paths {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead} {
			for _, b := range bodies {
				r := e.raw(m, p, map[string]string{"Authorization": "Bearer " + e.tok, "Content-Type": "application/json"}, b)
				if r.status >= 500 {
					t.Fatalf("%s %s %q: %d %s", m, p, b, r.status, r.body)
				}
			}
		}
	}
}
