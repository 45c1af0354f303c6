package fakegenesys

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func httpRecord(h http.Handler, method, path, tok string) int {
	req := httptest.NewRequest(method, path, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func (e *env) control(method, path, body string) resp {
	e.t.Helper()
	return e.raw(method, path, nil, body)
}

func TestControlAPI(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SocketClosingDelay = 20 * time.Millisecond })
	chID, uri := e.createChannel(e.tok)
	e.subscribe(http.MethodPut, chID, presenceTopic(alice), routingTopic(alice))
	ws := e.dial(uri)
	waitFor(t, "socket", func() bool { return e.fg.Channels()[0].Connected })

	r := e.control(http.MethodPost, "/_fake/users/alice@contoso.example/presence", `{"presence":"On Queue"}`)
	wantStatus(t, r, http.StatusOK)
	var rep UserReport
	r.json(t, &rep)
	if rep.ID != alice || rep.SystemPresence != OnQueue || rep.PresenceDefinitionID != OnQueueID || rep.RoutingStatus != Idle {
		t.Fatalf("report %s", r.body)
	}
	if ev := ws.presenceEvent(alice); ev.PresenceDefinition.SystemPresence != "ON_QUEUE" {
		t.Fatalf("event %+v", ev)
	}
	ws.routingEvent(alice)

	r = e.control(http.MethodPost, "/_fake/users/"+alice+"/routingstatus", `{"status":"INTERACTING"}`)
	wantStatus(t, r, http.StatusOK)
	if rev := ws.routingEvent(alice); rev.RoutingStatus.Status != Interacting {
		t.Fatalf("routing event %+v", rev)
	}
	r = e.control(http.MethodPost, "/_fake/users/"+alice+"/presence", `{"presence":"Lunch","message":"sandwich"}`)
	wantStatus(t, r, http.StatusOK)
	r = e.control(http.MethodGet, "/_fake/users/"+alice+"/presence", "")
	wantStatus(t, r, http.StatusOK)
	r.json(t, &rep)
	if rep.PresenceName != "Lunch" || rep.SystemPresence != "Meal" || rep.Message != "sandwich" || rep.RoutingStatus != OffQueue {
		t.Fatalf("report %s", r.body)
	}
	wantStatus(t, e.control(http.MethodPost, "/_fake/users/"+alice+"/presence", `{"presence":"Sleeping"}`), http.StatusBadRequest)
	wantStatus(t, e.control(http.MethodPost, "/_fake/users/"+alice+"/presence", `{"presense":"Busy"}`), http.StatusBadRequest)
	wantStatus(t, e.control(http.MethodPost, "/_fake/users/nobody/presence", `{"presence":"Busy"}`), http.StatusNotFound)
	wantStatus(t, e.control(http.MethodPost, "/_fake/users/"+alice+"/routingstatus", `{"status":"ON_QUEUE"}`), http.StatusBadRequest)

	wantStatus(t, e.patch(alice, defBody(AwayID)), http.StatusOK)
	r = e.control(http.MethodGet, "/_fake/users/"+alice+"/patches", "")
	wantStatus(t, r, http.StatusOK)
	var ps []Patch
	r.json(t, &ps)
	if len(ps) != 1 || ps[0].BeforeSystemPresence != "Meal" || ps[0].SystemPresence != "Away" {
		t.Fatalf("patches %s", r.body)
	}
	r = e.control(http.MethodGet, "/_fake/users", "")
	var users []UserReport
	r.json(t, &users)
	if len(users) != 3 || users[0].SystemPresence != "Away" || users[1].SystemPresence != "Offline" {
		t.Fatalf("users %s", r.body)
	}
	r = e.control(http.MethodGet, "/_fake/definitions", "")
	var defs []Definition
	r.json(t, &defs)
	if len(defs) != 12 || defs[9].SystemPresence != OnQueue || defs[11].ID != retiredID || !defs[11].Deactivated {
		t.Fatalf("definitions %s", r.body)
	}

	r = e.control(http.MethodGet, "/_fake/channels", "")
	var chs []ChannelInfo
	r.json(t, &chs)
	if len(chs) != 1 || chs[0].ID != chID || !chs[0].Connected || len(chs[0].Topics) != 2 || chs[0].ClientID != clientID {
		t.Fatalf("channels %s", r.body)
	}
	r = e.control(http.MethodPost, "/_fake/sockets/closing?channel="+chID, "")
	wantStatus(t, r, http.StatusOK)
	ws.expect("socket_closing", topicIs("v2.system.socket_closing"))
	ws.closed()
	ws = e.dial(uri)
	waitFor(t, "reconnect", func() bool { return e.fg.Channels()[0].Connected })
	r = e.control(http.MethodPost, "/_fake/sockets/drop", "")
	if r.status != http.StatusOK || string(r.body) != `{"sockets":1}` {
		t.Fatalf("drop: %d %s", r.status, r.body)
	}
	ws.closed()
	r = e.control(http.MethodPost, "/_fake/channels/expire", "")
	if string(r.body) != `{"expired":1}` {
		t.Fatalf("expire: %s", r.body)
	}
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+chID, nil), http.StatusNotFound)

	wantStatus(t, e.control(http.MethodPost, "/_fake/throttle?n=1&retry_after=7", ""), http.StatusNoContent)
	r = e.do(http.MethodGet, "/api/v2/presence/definitions", nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "7" {
		t.Fatalf("after /_fake/throttle: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	wantStatus(t, e.control(http.MethodPost, "/_fake/throttle?n=x", ""), http.StatusBadRequest)
	wantStatus(t, e.control(http.MethodPost, "/_fake/tokens/expire", ""), http.StatusNoContent)
	wantStatus(t, e.do(http.MethodGet, "/api/v2/presence/definitions", nil), http.StatusUnauthorized)

	e.clock.Advance(time.Minute)
	r = e.control(http.MethodGet, "/_fake/stats", "")
	wantStatus(t, r, http.StatusOK)
	var st struct {
		Total          int            `json:"total"`
		TotalPerMinute float64        `json:"totalPerMinute"`
		Requests       map[string]int `json:"requests"`
		Throttled      int            `json:"throttled"`
		Events         int            `json:"events"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	// channel create, PUT, PATCH, HEAD, 2 definitions GETs; events: On
	// Queue (presence, routing), INTERACTING, Lunch (presence, routing), Away.
	if st.Total != 6 || st.TotalPerMinute != 6 || st.Requests[OpChannelsCreate] != 1 || st.Requests[OpSocketConnect] != 2 || st.Throttled != 1 || st.Events != 6 {
		t.Fatalf("stats %s", r.body)
	}
	wantStatus(t, e.control(http.MethodPost, "/_fake/stats/reset", ""), http.StatusNoContent)
	if e.fg.Stats().Total != 0 {
		t.Fatal("stats not reset")
	}
	wantStatus(t, e.control(http.MethodPost, "/_fake/sweep", ""), http.StatusNoContent)
	wantStatus(t, e.control(http.MethodGet, "/_fake/nothing", ""), http.StatusNotFound)
	wantStatus(t, e.control(http.MethodGet, "/_fake/users/nobody/patches", ""), http.StatusNotFound)
}
