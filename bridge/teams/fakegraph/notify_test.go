package fakegraph

import (
	"errors"
	"net/http"
	"testing"
	"time"
)

func TestNotificationsOnPresenceChange(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, true)
	r, sj := e.subscribe(e.userToken(svc), e.subBody(rc, time.Hour, alice, bob))
	wantStatus(t, r, http.StatusCreated)
	app := e.appToken()

	wantStatus(t, e.setPresence(app, alice, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall", "expirationDuration": "PT1H"}), http.StatusOK)
	waitFor(t, "a notification", func() bool { return len(rc.notifications()) == 1 })
	n := rc.notifications()[0]
	if n.SubscriptionID != sj.ID || n.ClientState == nil || *n.ClientState != "secret-client-state" || n.ChangeType != "updated" ||
		n.TenantID != tenantID || n.OrganizationID != tenantID || n.Resource != "communications/presences/"+alice ||
		n.ResourceData["id"] != alice || n.ResourceData["@odata.id"] != "users/"+alice+"/presence" ||
		n.ResourceData["@odata.type"] != "#microsoft.graph.presence" || n.SubscriptionExpirationDateTime != sj.ExpirationDateTime {
		t.Fatalf("notification %+v (subscription %+v)", n, sj)
	}
	for _, id := range []string{n.SubscriptionID, n.TenantID, n.OrganizationID} {
		if !isGUID(id) {
			t.Fatalf("%q is not a GUID", id)
		}
	}

	// The same state again is no change; a user not covered gives nothing;
	// the Teams client joining a meeting does.
	wantStatus(t, e.setPresence(app, alice, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall", "expirationDuration": "PT1H"}), http.StatusOK)
	wantStatus(t, e.setPresence(app, carol, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall"}), http.StatusOK)
	if err := e.fg.SetClient(bob, "Busy", "InAMeeting"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob's notification", func() bool { return len(rc.notifications()) >= 2 })
	time.Sleep(50 * time.Millisecond)
	notes := rc.notifications()
	if len(notes) != 2 || notes[1].ResourceData["id"] != bob {
		t.Fatalf("notifications %+v", notes)
	}

	// A fade on the clock is a change too, published by Sweep.
	wantStatus(t, e.setPresence(app, bob, map[string]any{"sessionId": appID, "availability": "Available", "activity": "Available", "expirationDuration": "PT1H"}), http.StatusOK)
	if err := e.fg.ClearClient(bob); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bob available", func() bool { return len(rc.notifications()) == 3 })
	e.clock.Advance(FadeAfter)
	e.fg.Sweep()
	waitFor(t, "bob's fade", func() bool { return len(rc.notifications()) == 4 })
	if n := rc.notifications()[3]; n.ResourceData["id"] != bob {
		t.Fatalf("fade notification %+v", n)
	}
	if av, ac, _ := e.fg.Presence(bob); av != "Available" || ac != "AvailableInactive" {
		t.Fatalf("bob %s/%s", av, ac)
	}
	waitFor(t, "the deliveries counted", func() bool { return e.fg.Deliveries().Delivered == 4 })
	if d := e.fg.Deliveries(); d.Delivered != 4 || d.Failed != 0 {
		t.Fatalf("deliveries %+v", d)
	}
}

func TestNotificationRetry(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, true)
	r, _ := e.subscribe(e.userToken(svc), e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)
	rc.set(func(rc *receiver) { rc.failNext = 2 })
	if err := e.fg.SetClient(alice, "DoNotDisturb", "DoNotDisturb"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "delivery after two 500s", func() bool { return len(rc.notifications()) == 1 })
	// The receiver has it before the fake has counted its 2xx.
	waitFor(t, "the delivery counted", func() bool { return e.fg.Deliveries().Delivered == 1 })
	if d := e.fg.Deliveries(); d.Delivered != 1 || d.Retries != 2 || d.Posts != 3 {
		t.Fatalf("deliveries %+v", d)
	}

	// A receiver that never takes it: given up after MaxAttempts (4).
	rc.set(func(rc *receiver) { rc.failNext = 100 })
	if err := e.fg.SetClient(alice, "Available", "Available"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "giving up", func() bool { return e.fg.Deliveries().Failed == 1 })
	if d := e.fg.Deliveries(); d.Posts != 7 {
		t.Fatalf("deliveries %+v, want 4 more posts", d)
	}
}

func TestSlowReceiverDoesNotBlockAPI(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.DeliveryTimeout = 200 * time.Millisecond; o.RetryDelay = time.Hour })
	rc := newReceiver(t, true)
	r, _ := e.subscribe(e.userToken(svc), e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)
	rc.set(func(rc *receiver) { rc.failNext = 1000 })
	app := e.appToken()
	start := time.Now()
	for i := range 20 {
		av, ac := "Busy", "InACall"
		if i%2 == 1 {
			av, ac = "Away", "Away"
		}
		wantStatus(t, e.setPresence(app, alice, map[string]any{"sessionId": appID, "availability": av, "activity": ac}), http.StatusOK)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("20 setPresence took %s with a failing receiver", d)
	}
	// Close must not wait out the hour-long retry delay.
	start = time.Now()
	e.fg.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Close took %s", d)
	}
}

func TestLifecycleEvents(t *testing.T) {
	e := newEnv(t, nil)
	rc := newReceiver(t, true)
	tok := e.userToken(svc)
	r, sj := e.subscribe(tok, e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)

	if err := e.fg.Lifecycle(sj.ID, EventReauthorizationRequired); err != nil {
		t.Fatal(err)
	}
	if s := e.fg.Subscriptions(); len(s) != 1 || !s[0].NeedsReauthorization {
		t.Fatalf("after reauthorizationRequired: %+v", s)
	}
	wantStatus(t, e.raw(http.MethodPost, "/v1.0/subscriptions/"+sj.ID+"/reauthorize", tok, "", "", nil), http.StatusNoContent)
	if s := e.fg.Subscriptions(); s[0].NeedsReauthorization {
		t.Fatal("reauthorize did not clear the flag")
	}
	if err := e.fg.Lifecycle(sj.ID, EventMissed); err != nil {
		t.Fatal(err)
	}
	if err := e.fg.Lifecycle(sj.ID, EventSubscriptionRemoved); err != nil {
		t.Fatal(err)
	}
	ev := rc.lifecycleEvents()
	if len(ev) != 3 {
		t.Fatalf("lifecycle events %+v", ev)
	}
	for i, want := range []string{"reauthorizationRequired", "missed", "subscriptionRemoved"} {
		if ev[i].LifecycleEvent != want || ev[i].SubscriptionID != sj.ID || ev[i].TenantID != tenantID ||
			ev[i].ClientState == nil || *ev[i].ClientState != "secret-client-state" || ev[i].SubscriptionExpirationDateTime == "" {
			t.Fatalf("event %d = %+v, want %s", i, ev[i], want)
		}
	}
	// Removed: gone for Graph, and the receiver may subscribe again at once.
	wantStatus(t, e.do(http.MethodGet, "/v1.0/subscriptions/"+sj.ID, tok, nil), http.StatusNotFound)
	r, sj2 := e.subscribe(tok, e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)

	if err := e.fg.Lifecycle(newGUID(), EventMissed); !errors.Is(err, ErrUnknownSubscription) {
		t.Fatalf("unknown subscription: %v", err)
	}
	if err := e.fg.Lifecycle(sj2.ID, "not valid!"); err == nil {
		t.Fatal("invalid event name accepted")
	}
	rc.set(func(rc *receiver) { rc.failNext = 100 })
	if err := e.fg.Lifecycle(sj2.ID, EventMissed); err == nil {
		t.Fatal("undelivered lifecycle event reported no error")
	}
	if d := e.fg.Deliveries(); d.LifecycleDelivered != 3 || d.LifecycleFailed != 1 {
		t.Fatalf("deliveries %+v", d)
	}

	body := e.subBody(rc, time.Hour, bob)
	delete(body, "lifecycleNotificationUrl")
	r, sj3 := e.subscribe(e.userToken(svc2), body)
	wantStatus(t, r, http.StatusCreated)
	if err := e.fg.Lifecycle(sj3.ID, EventMissed); !errors.Is(err, ErrNoLifecycleURL) {
		t.Fatalf("no lifecycle URL: %v", err)
	}
}
