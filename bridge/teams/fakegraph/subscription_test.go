package fakegraph

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestSubscriptionCreate(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, true)
	tok := e.userToken(svc)
	r, sj := e.subscribe(tok, e.subBody(rc, 10*time.Minute, alice, bob))
	wantStatus(t, r, http.StatusCreated)
	if !isGUID(sj.ID) || sj.ApplicationID != appID || sj.CreatorID != svcID || sj.ChangeType != "updated" ||
		sj.ClientState == nil || *sj.ClientState != "secret-client-state" || sj.NotificationURL != rc.notifyURL() ||
		sj.LifecycleNotificationURL == nil || *sj.LifecycleNotificationURL != rc.lifecycleURL() ||
		sj.LatestSupportedTLSVersion != "v1_2" || sj.NotificationContentType != "application/json" ||
		!strings.Contains(sj.Resource, alice) {
		t.Fatalf("subscription %+v", sj)
	}
	exp, err := time.Parse(time.RFC3339Nano, sj.ExpirationDateTime)
	if err != nil {
		t.Fatal(err)
	}
	if want := e.clock.Now().Add(45 * time.Minute); !exp.Equal(want) {
		t.Fatalf("10 min request expires at %s, want raised to %s", exp, want)
	}
	// Both URLs were validated, each with a token needing URL-encoding.
	rc.mu.Lock()
	vals := append([]string(nil), rc.validations...)
	rc.mu.Unlock()
	if len(vals) != 2 {
		t.Fatalf("%d validations, want 2", len(vals))
	}
	for _, v := range vals {
		if url.QueryEscape(v) == v {
			t.Fatalf("validation token %q needs no encoding", v)
		}
	}
	subs := e.fg.Subscriptions()
	if len(subs) != 1 || subs[0].ID != sj.ID || subs[0].Account != svc || len(subs[0].UserIDs) != 2 || subs[0].NotificationURL != rc.notifyURL() {
		t.Fatalf("Subscriptions() = %+v", subs)
	}
	// The single-user resource form, without a leading slash, by another account.
	body := e.subBody(rc, 50*time.Minute)
	body["resource"] = "communications/presences/" + carol
	r, sj2 := e.subscribe(e.userToken(svc2), body)
	wantStatus(t, r, http.StatusCreated)
	if exp, _ := time.Parse(time.RFC3339Nano, sj2.ExpirationDateTime); !exp.Equal(e.clock.Now().Add(50 * time.Minute)) {
		t.Fatalf("50 min request expires at %s", sj2.ExpirationDateTime)
	}
}

func TestSubscriptionHandshakeFailures(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ValidationTimeout = time.Second })
	tok := e.userToken(svc)
	for _, mode := range []string{"wrong", "encoded", "json", "status500", "slow"} {
		t.Run(mode, func(t *testing.T) {
			rc := newReceiver(t, true)
			rc.set(func(rc *receiver) { rc.validation = mode })
			start := time.Now()
			r, _ := e.subscribe(tok, e.subBody(rc, time.Hour, alice))
			wantStatus(t, r, http.StatusBadRequest)
			if ge := r.graphErr(t); !strings.Contains(ge.Message, "validation") {
				t.Fatalf("%+v", ge)
			}
			if mode == "slow" && time.Since(start) > 2500*time.Millisecond {
				t.Fatalf("slow receiver held the create for %s; the deadline is 1 s", time.Since(start))
			}
			if n := len(e.fg.Subscriptions()); n != 0 {
				t.Fatalf("%d subscriptions after a failed handshake", n)
			}
		})
	}
	// Lifecycle URL validated too: a broken one fails the create.
	good, bad := newReceiver(t, true), newReceiver(t, true)
	bad.set(func(rc *receiver) { rc.validation = "wrong" })
	body := e.subBody(good, time.Hour, alice)
	body["lifecycleNotificationUrl"] = bad.lifecycleURL()
	r, _ := e.subscribe(tok, body)
	wantStatus(t, r, http.StatusBadRequest)
	if ge := r.graphErr(t); !strings.Contains(ge.Message, "lifecycleNotificationUrl") {
		t.Fatalf("%+v", ge)
	}
	if d := e.fg.Deliveries(); d.ValidationsFailed != 6 {
		t.Fatalf("deliveries %+v, want 6 failed validations", d)
	}
}

func TestSubscriptionRules(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, true)
	tok := e.userToken(svc)
	many := make([]string, 651)
	for i := range many {
		many[i] = fmt.Sprintf("00000000-0000-4000-9000-%012d", i)
	}
	for name, tc := range map[string]struct {
		mutate func(map[string]any)
		token  string
		status int
		msg    string
	}{
		"app-only token": {func(map[string]any) {}, e.appToken(), 403, "Application permission is not supported"},
		"over 60 minutes": {func(b map[string]any) {
			b["expirationDateTime"] = e.clock.Now().Add(61 * time.Minute).Format(time.RFC3339)
		}, tok, 400, "60 minutes"},
		"in the past": {func(b map[string]any) { b["expirationDateTime"] = e.clock.Now().Add(-time.Minute).Format(time.RFC3339) }, tok, 400, "past"},
		"no expiry":   {func(b map[string]any) { delete(b, "expirationDateTime") }, tok, 400, "expirationDateTime"},
		"changeType":  {func(b map[string]any) { b["changeType"] = "created,updated" }, tok, 400, "changeType"},
		"651 ids":     {func(b map[string]any) { b["resource"] = e.subBody(rc, time.Hour, many...)["resource"] }, tok, 400, "650"},
		"non-GUID id": {func(b map[string]any) {
			b["resource"] = "/communications/presences?$filter=id in ('alice@contoso.example')"
		}, tok, 400, "GUID"},
		"other resource":   {func(b map[string]any) { b["resource"] = "/users" }, tok, 400, "presence"},
		"http url":         {func(b map[string]any) { b["notificationUrl"] = "http://127.0.0.1:1/notify" }, tok, 400, "https"},
		"clientState 129":  {func(b map[string]any) { b["clientState"] = strings.Repeat("x", 129) }, tok, 400, "128"},
		"unknown property": {func(b map[string]any) { b["colour"] = "red" }, tok, 400, "colour"},
		"rich":             {func(b map[string]any) { b["includeResourceData"] = true }, tok, 400, "encryptionCertificate"},
	} {
		t.Run(name, func(t *testing.T) {
			body := e.subBody(rc, time.Hour, alice)
			tc.mutate(body)
			r, _ := e.subscribe(tc.token, body)
			wantStatus(t, r, tc.status)
			if ge := r.graphErr(t); !strings.Contains(ge.Message, tc.msg) {
				t.Fatalf("message %q lacks %q", ge.Message, tc.msg)
			}
		})
	}
	if n := len(e.fg.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions after refusals", n)
	}
	// exactly 650 ids and exactly 60 minutes are fine.
	r, _ := e.subscribe(tok, e.subBody(rc, 60*time.Minute, many[:650]...))
	wantStatus(t, r, http.StatusCreated)
}

func TestSubscriptionConflicts(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, true)
	tok := e.userToken(svc)
	r, first := e.subscribe(tok, e.subBody(rc, time.Hour, alice, bob))
	wantStatus(t, r, http.StatusCreated)

	// Same resource again (ids in another case): 409 duplicate.
	r, _ = e.subscribe(tok, e.subBody(rc, time.Hour, strings.ToUpper(alice), bob))
	wantStatus(t, r, http.StatusConflict)
	if ge := r.graphErr(t); !strings.Contains(ge.Message, "already exists for the requested combination") {
		t.Fatalf("%+v", ge)
	}
	// Another resource, same account and app: one per app per user.
	r, _ = e.subscribe(tok, e.subBody(rc, time.Hour, carol))
	wantStatus(t, r, http.StatusConflict)
	if ge := r.graphErr(t); !strings.Contains(ge.Message, "one presence subscription per application per user") {
		t.Fatalf("%+v", ge)
	}
	// Another account of the same app may subscribe; another app too,
	// even to the same resource.
	r, _ = e.subscribe(e.userToken(svc2), e.subBody(rc, time.Hour, carol))
	wantStatus(t, r, http.StatusCreated)
	tok2, err := e.fg.DelegatedToken(svc, app2ID)
	if err != nil {
		t.Fatal(err)
	}
	r, _ = e.subscribe(tok2, e.subBody(rc, time.Hour, alice, bob))
	wantStatus(t, r, http.StatusCreated)

	// After a delete the account may subscribe again.
	wantStatus(t, e.do(http.MethodDelete, "/v1.0/subscriptions/"+first.ID, tok, nil), http.StatusNoContent)
	r, _ = e.subscribe(tok, e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)
}

func TestSubscriptionRenewDeleteList(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, true)
	tok := e.userToken(svc)
	r, sj := e.subscribe(tok, e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)
	path := "/v1.0/subscriptions/" + sj.ID

	e.clock.Advance(30 * time.Minute)
	r = e.do(http.MethodPatch, path, tok, map[string]any{"expirationDateTime": e.clock.Now().Add(10 * time.Minute).Format(time.RFC3339)})
	wantStatus(t, r, http.StatusOK)
	var renewed subscriptionJSON
	r.json(t, &renewed)
	if exp, _ := time.Parse(time.RFC3339Nano, renewed.ExpirationDateTime); !exp.Equal(e.clock.Now().Add(45 * time.Minute)) {
		t.Fatalf("renewal expiry %s, want now+45m", renewed.ExpirationDateTime)
	}
	r = e.do(http.MethodPatch, path, tok, map[string]any{"expirationDateTime": e.clock.Now().Add(61 * time.Minute).Format(time.RFC3339)})
	wantStatus(t, r, http.StatusBadRequest)
	r.graphErr(t)
	r = e.do(http.MethodPatch, path, e.userToken(svc2), map[string]any{"expirationDateTime": e.clock.Now().Add(50 * time.Minute).Format(time.RFC3339)})
	wantStatus(t, r, http.StatusForbidden)
	r.graphErr(t)
	r = e.do(http.MethodPatch, path, e.appToken(), map[string]any{"expirationDateTime": e.clock.Now().Add(50 * time.Minute).Format(time.RFC3339)})
	wantStatus(t, r, http.StatusForbidden)
	r = e.do(http.MethodPatch, "/v1.0/subscriptions/"+newGUID(), tok, map[string]any{"expirationDateTime": e.clock.Now().Add(50 * time.Minute).Format(time.RFC3339)})
	wantStatus(t, r, http.StatusNotFound)
	r.graphErr(t)
	r = e.do(http.MethodPatch, path, tok, map[string]any{"resource": "/communications/presences/" + bob})
	wantStatus(t, r, http.StatusBadRequest)

	wantStatus(t, e.raw(http.MethodPost, path+"/reauthorize", tok, "", "", nil), http.StatusNoContent)

	var list struct {
		Value []subscriptionJSON `json:"value"`
	}
	r = e.do(http.MethodGet, "/v1.0/subscriptions", tok, nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &list)
	if len(list.Value) != 1 || list.Value[0].ID != sj.ID {
		t.Fatalf("list %s", r.body)
	}
	r = e.do(http.MethodGet, "/v1.0/subscriptions", e.userToken(svc2), nil)
	list.Value = nil
	r.json(t, &list)
	if len(list.Value) != 0 {
		t.Fatalf("another account sees %s", r.body)
	}

	wantStatus(t, e.do(http.MethodDelete, path, tok, nil), http.StatusNoContent)
	wantStatus(t, e.do(http.MethodGet, path, tok, nil), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodDelete, path, tok, nil), http.StatusNotFound)
}

func TestSubscriptionExpiry(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, true)
	tok := e.userToken(svc)
	r, sj := e.subscribe(tok, e.subBody(rc, 45*time.Minute, alice))
	wantStatus(t, r, http.StatusCreated)
	e.clock.Advance(45 * time.Minute)
	e.fg.Sweep()
	if n := len(e.fg.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions after expiry", n)
	}
	wantStatus(t, e.setPresence(e.appToken(), alice, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall"}), http.StatusOK)
	r = e.do(http.MethodPatch, "/v1.0/subscriptions/"+sj.ID, tok, map[string]any{"expirationDateTime": e.clock.Now().Add(time.Hour).Format(time.RFC3339)})
	wantStatus(t, r, http.StatusNotFound)
	time.Sleep(50 * time.Millisecond)
	if n := len(rc.notifications()); n != 0 {
		t.Fatalf("expired subscription got %d notifications", n)
	}
	// ExpireSubscriptions does the same at once.
	r, _ = e.subscribe(tok, e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)
	e.fg.ExpireSubscriptions()
	if n := len(e.fg.Subscriptions()); n != 0 {
		t.Fatalf("%d subscriptions after ExpireSubscriptions", n)
	}
}

func TestHTTPNotifyOnlyOnLoopbackWhenAllowed(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.AllowHTTPNotify = true })
	rc := newReceiver(t, false)
	tok := e.userToken(svc)
	r, _ := e.subscribe(tok, e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)
	body := e.subBody(rc, time.Hour, bob)
	body["notificationUrl"] = "http://gateway.example.com/notify"
	delete(body, "lifecycleNotificationUrl")
	r, _ = e.subscribe(e.userToken(svc2), body)
	wantStatus(t, r, http.StatusBadRequest)
	if ge := r.graphErr(t); !strings.Contains(ge.Message, "loopback") {
		t.Fatalf("%+v", ge)
	}
}
