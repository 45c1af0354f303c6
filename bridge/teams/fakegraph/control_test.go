package fakegraph

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func (e *env) control(method, path, body string) resp {
	e.t.Helper()
	req, err := http.NewRequest(method, e.ts.URL+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	return e.send(req)
}

func TestControlAPI(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, true)
	r, sj := e.subscribe(e.userToken(svc), e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)

	r = e.control(http.MethodPost, "/_fake/users/alice@contoso.example/client", `{"availability":"Busy","activity":"InAMeeting"}`)
	wantStatus(t, r, http.StatusOK)
	var p ctlPresence
	r.json(t, &p)
	if p.ID != alice || p.Availability != "Busy" || p.Activity != "InAMeeting" || len(p.Sessions) != 1 || p.Sessions[0].Kind != KindClient {
		t.Fatalf("presence after client set: %s", r.body)
	}
	waitFor(t, "notification of the meeting", func() bool { return len(rc.notifications()) == 1 })

	wantStatus(t, e.setPresence(e.appToken(), alice, map[string]any{"sessionId": appID, "availability": "DoNotDisturb", "activity": "Presenting", "expirationDuration": "PT1H"}), http.StatusOK)
	r = e.control(http.MethodGet, "/_fake/users/"+alice+"/presence", "")
	wantStatus(t, r, http.StatusOK)
	p = ctlPresence{}
	r.json(t, &p)
	if p.Availability != "DoNotDisturb" || len(p.Sessions) != 2 || p.Sessions[0].ID != appID || !p.Sessions[0].Expires.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("presence report %s", r.body)
	}

	r = e.control(http.MethodDelete, "/_fake/users/"+alice+"/client", "")
	wantStatus(t, r, http.StatusOK)
	wantStatus(t, e.control(http.MethodPost, "/_fake/users/"+alice+"/client", `{"availability":"Sleepy","activity":"Away"}`), http.StatusBadRequest)
	wantStatus(t, e.control(http.MethodPost, "/_fake/users/nobody/client", `{"availability":"Busy","activity":"Busy"}`), http.StatusNotFound)
	wantStatus(t, e.control(http.MethodPost, "/_fake/users/"+alice+"/client", `{"availability":"Busy"`), http.StatusBadRequest)

	wantStatus(t, e.control(http.MethodPost, "/_fake/subscriptions/"+sj.ID+"/lifecycle?event=missed", ""), http.StatusNoContent)
	if ev := rc.lifecycleEvents(); len(ev) != 1 || ev[0].LifecycleEvent != "missed" {
		t.Fatalf("lifecycle %+v", ev)
	}
	wantStatus(t, e.control(http.MethodPost, "/_fake/subscriptions/"+newGUID()+"/lifecycle?event=missed", ""), http.StatusNotFound)
	wantStatus(t, e.control(http.MethodPost, "/_fake/subscriptions/"+sj.ID+"/lifecycle", ""), http.StatusBadRequest)

	var subs []SubscriptionInfo
	r = e.control(http.MethodGet, "/_fake/subscriptions", "")
	r.json(t, &subs)
	if len(subs) != 1 || subs[0].ID != sj.ID || subs[0].UserIDs[0] != alice {
		t.Fatalf("subscriptions %s", r.body)
	}

	wantStatus(t, e.control(http.MethodPost, "/_fake/throttle?n=1&retry_after=4", ""), http.StatusNoContent)
	r = e.do(http.MethodGet, "/v1.0/users/"+alice+"/presence", e.appToken(), nil)
	if r.status != http.StatusTooManyRequests || r.header.Get("Retry-After") != "4" {
		t.Fatalf("after /_fake/throttle: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	wantStatus(t, e.control(http.MethodPost, "/_fake/unavailable?n=1&retry_after=500ms", ""), http.StatusNoContent)
	r = e.do(http.MethodGet, "/v1.0/users/"+alice+"/presence", e.appToken(), nil)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") != "1" {
		t.Fatalf("after /_fake/unavailable: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	wantStatus(t, e.control(http.MethodPost, "/_fake/throttle?n=x", ""), http.StatusBadRequest)

	e.clock.Advance(time.Minute)
	r = e.control(http.MethodGet, "/_fake/stats", "")
	wantStatus(t, r, http.StatusOK)
	var st struct {
		Total          int            `json:"total"`
		TotalPerMinute float64        `json:"totalPerMinute"`
		Requests       map[string]int `json:"requests"`
		Throttled      int            `json:"throttled"`
		Deliveries     Deliveries     `json:"deliveries"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil {
		t.Fatal(err)
	}
	if st.Total != 4 || st.TotalPerMinute != 4 || st.Requests[OpSubscriptionsCreate] != 1 || st.Throttled != 1 || st.Deliveries.LifecycleDelivered != 1 {
		t.Fatalf("stats %s", r.body)
	}

	wantStatus(t, e.control(http.MethodPost, "/_fake/subscriptions/expire", ""), http.StatusNoContent)
	if n := len(e.fg.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions after /_fake/subscriptions/expire", n)
	}
	wantStatus(t, e.control(http.MethodGet, "/_fake/nothing", ""), http.StatusNotFound)
	r = e.control(http.MethodGet, "/_fake/users", "")
	var users []ctlPresence
	r.json(t, &users)
	if len(users) != 4 {
		t.Fatalf("users %s", r.body)
	}
}
