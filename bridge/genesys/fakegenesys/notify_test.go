package fakegenesys

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type presenceEvent struct {
	Source             string `json:"source"`
	PresenceDefinition struct {
		ID             string `json:"id"`
		SystemPresence string `json:"systemPresence"`
	} `json:"presenceDefinition"`
	Primary      bool   `json:"primary"`
	Message      string `json:"message"`
	ModifiedDate string `json:"modifiedDate"`
}

type routingEvent struct {
	ID            string `json:"id"`
	RoutingStatus struct {
		Status    string `json:"status"`
		StartTime string `json:"startTime"`
	} `json:"routingStatus"`
}

func presenceTopic(id string) string { return "v2.users." + id + ".presence" }
func routingTopic(id string) string  { return "v2.users." + id + ".routingStatus" }
func activityTopic(id string) string { return "v2.users." + id + ".activity" }

func (w *wsClient) presenceEvent(user string) presenceEvent {
	w.t.Helper()
	m := w.expect("presence event of "+user, topicIs(presenceTopic(user)))
	if m.Version != "2" || !isGUID(m.Metadata.CorrelationID) {
		w.t.Fatalf("event envelope %s", m.raw)
	}
	var ev presenceEvent
	m.body(w.t, &ev)
	return ev
}

func (w *wsClient) routingEvent(user string) routingEvent {
	w.t.Helper()
	m := w.expect("routingStatus event of "+user, topicIs(routingTopic(user)))
	var ev routingEvent
	m.body(w.t, &ev)
	if ev.ID != user {
		w.t.Fatalf("routing event for %s: %s", user, m.raw)
	}
	return ev
}

func TestChannelEvents(t *testing.T) {
	e := newEnv(t, nil)
	chID, uri := e.createChannel(e.tok)
	if !strings.HasPrefix(chID, "streaming-0-") || uri != "ws://"+strings.TrimPrefix(e.ts.URL, "http://")+"/channels/"+chID {
		t.Fatalf("channel %s connectUri %s", chID, uri)
	}
	stranger := newGUID()
	r, ents := e.subscribe(http.MethodPut, chID, presenceTopic(alice), routingTopic(alice), presenceTopic(stranger), "v2.users."+bob+".conversations", "v2.users."+bob+"?presence&routingStatus")
	wantStatus(t, r, http.StatusOK)
	if len(ents) != 5 || ents[0].State != "Permitted" || ents[1].State != "Permitted" {
		t.Fatalf("subscription answer %s", r.body)
	}
	for _, rej := range ents[2:] {
		if rej.State != "Rejected" || rej.RejectionReason == "" {
			t.Fatalf("want rejected: %s", r.body)
		}
	}
	if !strings.Contains(ents[2].RejectionReason, stranger) {
		t.Fatalf("rejection reason for an unknown user: %q", ents[2].RejectionReason)
	}
	ws := e.dial(uri)
	waitFor(t, "the socket to attach", func() bool { return e.fg.Channels()[0].Connected })

	// A PATCH: upper snake case in the event, title case in REST.
	e.clock.Advance(time.Second)
	wantStatus(t, e.patch(alice, map[string]any{"presenceDefinition": map[string]string{"id": BusyID}, "primary": true, "message": "call"}), http.StatusOK)
	ev := ws.presenceEvent(alice)
	if ev.PresenceDefinition.ID != BusyID || ev.PresenceDefinition.SystemPresence != "BUSY" || ev.Source != "PURECLOUD" || !ev.Primary ||
		ev.Message != "call" || ev.ModifiedDate != "2026-11-22T09:00:01.000Z" {
		t.Fatalf("presence event %+v", ev)
	}

	// The agent goes On Queue in the Genesys client.
	if err := e.fg.SetPresence(alice, "On Queue"); err != nil {
		t.Fatal(err)
	}
	if ev := ws.presenceEvent(alice); ev.PresenceDefinition.SystemPresence != "ON_QUEUE" || ev.PresenceDefinition.ID != OnQueueID {
		t.Fatalf("On Queue event %+v", ev)
	}
	if rev := ws.routingEvent(alice); rev.RoutingStatus.Status != Idle || rev.RoutingStatus.StartTime != "2026-11-22T09:00:01.000Z" {
		t.Fatalf("routing event %+v", rev)
	}
	if err := e.fg.SetPresence(alice, "Lunch"); err != nil {
		t.Fatal(err)
	}
	if ev := ws.presenceEvent(alice); ev.PresenceDefinition.SystemPresence != "MEAL" || ev.PresenceDefinition.ID != lunchID {
		t.Fatalf("Lunch event %+v", ev)
	}
	if rev := ws.routingEvent(alice); rev.RoutingStatus.Status != OffQueue {
		t.Fatalf("routing event after leaving queue %+v", rev)
	}
	// bob is not subscribed; activity is not subscribed.
	wantStatus(t, e.patch(bob, defBody(AwayID)), http.StatusOK)
	ws.expectNone(100*time.Millisecond, func(m wsMsg) bool { return !m.isHeartbeat() })

	// POST adds; activity arrives once subscribed.
	r, ents = e.subscribe(http.MethodPost, chID, activityTopic(bob))
	wantStatus(t, r, http.StatusOK)
	if len(ents) != 3 || ents[2].ID != activityTopic(bob) {
		t.Fatalf("after POST: %s", r.body)
	}
	if err := e.fg.SetRoutingStatus(bob, Communicating); err != nil {
		t.Fatal(err)
	}
	m := ws.expect("activity event", topicIs(activityTopic(bob)))
	var act struct {
		ID            string
		RoutingStatus struct{ Status string }
		Presence      struct {
			PresenceDefinition struct{ ID, SystemPresence string }
		}
	}
	m.body(t, &act)
	if act.ID != bob || act.RoutingStatus.Status != Communicating || act.Presence.PresenceDefinition.SystemPresence != "AWAY" {
		t.Fatalf("activity event %s", m.raw)
	}

	r = e.do(http.MethodGet, "/api/v2/notifications/channels/"+chID+"/subscriptions", nil)
	wantStatus(t, r, http.StatusOK)
	if !strings.Contains(string(r.body), activityTopic(bob)) || strings.Contains(string(r.body), "Rejected") {
		t.Fatalf("GET subscriptions %s", r.body)
	}
	wantStatus(t, e.do(http.MethodDelete, "/api/v2/notifications/channels/"+chID+"/subscriptions", nil), http.StatusNoContent)
	if got := e.fg.Channels()[0].Topics; len(got) != 0 {
		t.Fatalf("topics after DELETE %v", got)
	}
	wantStatus(t, e.patch(alice, defBody(AvailableID)), http.StatusOK)
	ws.expectNone(100*time.Millisecond, func(m wsMsg) bool { return !m.isHeartbeat() })

	// Another client cannot see the channel.
	tok2, err := e.fg.Token(client2ID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.doTok(http.MethodGet, "/api/v2/notifications/channels/"+chID+"/subscriptions", tok2, nil), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+chID, nil), http.StatusOK)
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/streaming-0-nope", nil), http.StatusNotFound)
	r, _ = e.subscribe(http.MethodPut, "streaming-0-nope", presenceTopic(alice))
	wantStatus(t, r, http.StatusNotFound)
	r.apiErr(t)

	st := e.fg.Stats()
	if st.Events != 6 || st.Requests[OpSocketConnect] != 1 || st.Requests[OpSubscriptionsReplace] != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestHeartbeatPingAndSocketSubscribe(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.Heartbeat = 20 * time.Millisecond })
	chID, uri := e.createChannel(e.tok)
	ws := e.dial(uri)
	ws.expect("heartbeat", wsMsg.isHeartbeat)
	ws.expect("second heartbeat", wsMsg.isHeartbeat)

	ws.send(map[string]string{"message": "ping"})
	m := ws.expect("pong", func(m wsMsg) bool { return m.TopicName == "channel.metadata" && !m.isHeartbeat() })
	if string(m.raw) != `{"topicName":"channel.metadata","eventBody":{"message":"pong"}}` {
		t.Fatalf("pong %s", m.raw)
	}

	ws.send(map[string]any{"message": "subscribe", "topics": []string{presenceTopic(carol)}, "correlationId": "c-1"})
	m = ws.expect("subscribe reply", func(m wsMsg) bool { return m.Result != "" })
	if m.Result != "200" || m.Status != "subscribed" || m.CorrelationID != "c-1" {
		t.Fatalf("subscribe reply %s", m.raw)
	}
	if got := e.fg.Channels()[0].Topics; len(got) != 1 || got[0] != presenceTopic(carol) {
		t.Fatalf("topics %v", got)
	}
	if err := e.fg.SetPresence(carol, "Meeting"); err != nil {
		t.Fatal(err)
	}
	if ev := ws.presenceEvent(carol); ev.PresenceDefinition.SystemPresence != "MEETING" {
		t.Fatalf("event %+v", ev)
	}

	ws.send(map[string]any{"message": "subscribe", "topics": []string{presenceTopic(newGUID())}, "correlationId": "c-2"})
	m = ws.expect("failed subscribe reply", func(m wsMsg) bool { return m.Result != "" })
	if m.Result != "400" || m.Status != "failure" || m.CorrelationID != "c-2" || m.Message == "" {
		t.Fatalf("bad subscribe reply %s", m.raw)
	}
	ws.send(map[string]string{"message": "dance"})
	m = ws.expect("error reply", func(m wsMsg) bool { return m.Result != "" })
	if m.Result != "400" || !strings.Contains(m.Message, "dance") {
		t.Fatalf("unknown message reply %s", m.raw)
	}
	if st := e.fg.Stats(); st.Heartbeats < 2 {
		t.Fatalf("heartbeats %d", st.Heartbeats)
	}
	_ = chID
}

func TestSecondSocketKicksFirst(t *testing.T) {
	e := newEnv(t, nil)
	chID, uri := e.createChannel(e.tok)
	e.subscribe(http.MethodPut, chID, presenceTopic(alice))
	first := e.dial(uri)
	waitFor(t, "first socket", func() bool { return e.fg.Channels()[0].Connected })
	second := e.dial(uri)
	code, reason := closeReason(first.closed())
	if code != websocket.StatusNormalClosure || !strings.Contains(reason, "another WebSocket") {
		t.Fatalf("first socket closed with %d %q", code, reason)
	}
	wantStatus(t, e.patch(alice, defBody(BusyID)), http.StatusOK)
	if ev := second.presenceEvent(alice); ev.PresenceDefinition.SystemPresence != "BUSY" {
		t.Fatalf("event on second socket %+v", ev)
	}
	if chs := e.fg.Channels(); len(chs) != 1 || !chs[0].Connected {
		t.Fatalf("channels %+v", chs)
	}
}

func TestTopicLimit(t *testing.T) {
	// 334 users x 3 topics = 1002 permitted topics to play with.
	var users []User
	for i := range 334 {
		users = append(users, User{ID: fmt.Sprintf("10000000-0000-4000-8000-%012d", i), Email: fmt.Sprintf("u%d@contoso.example", i)})
	}
	e := newEnv(t, func(o *Options) { o.Users = append(o.Users, users...) })
	var topics []string
	for _, u := range users {
		topics = append(topics, presenceTopic(u.ID), routingTopic(u.ID), activityTopic(u.ID))
	}
	chID, _ := e.createChannel(e.tok)

	r, _ := e.subscribe(http.MethodPut, chID, topics[:1001]...)
	wantStatus(t, r, http.StatusBadRequest)
	if b := r.apiErr(t); !strings.Contains(b.Message, "1000") {
		t.Fatalf("1,001 topics: %+v", b)
	}
	if n := len(e.fg.Channels()[0].Topics); n != 0 {
		t.Fatalf("a refused PUT left %d topics", n)
	}
	r, ents := e.subscribe(http.MethodPut, chID, topics[:1000]...)
	wantStatus(t, r, http.StatusOK)
	if len(ents) != 1000 {
		t.Fatalf("%d entities", len(ents))
	}
	// Adding one more goes over; a rejected one does not count.
	r, _ = e.subscribe(http.MethodPost, chID, topics[1000])
	wantStatus(t, r, http.StatusBadRequest)
	r, ents = e.subscribe(http.MethodPost, chID, topics[999], presenceTopic(newGUID()))
	wantStatus(t, r, http.StatusOK)
	if len(ents) != 1001 || ents[1000].State != "Rejected" {
		t.Fatalf("duplicate + rejected: %d entities", len(ents))
	}
	// Replacing with fewer works.
	r, ents = e.subscribe(http.MethodPut, chID, topics[1000:]...)
	wantStatus(t, r, http.StatusOK)
	if len(ents) != 2 {
		t.Fatalf("%d entities after replace", len(ents))
	}
}

func TestChannelExpiry(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.ChannelLifetime = time.Hour })
	chID, uri := e.createChannel(e.tok)
	r := e.do(http.MethodGet, "/api/v2/notifications/channels", nil)
	if !strings.Contains(string(r.body), `"expires":"2026-11-22T10:00:00.000Z"`) {
		t.Fatalf("channel listing %s", r.body)
	}
	e.subscribe(http.MethodPut, chID, presenceTopic(alice))
	ws := e.dial(uri)
	waitFor(t, "socket", func() bool { return e.connected(chID) })

	// Resubscribing extends the channel by the lifetime from now.
	e.clock.Advance(50 * time.Minute)
	r, _ = e.subscribe(http.MethodPost, chID, routingTopic(alice))
	wantStatus(t, r, http.StatusOK)
	if exp := e.fg.Channels()[0].Expires; !exp.Equal(e.clock.Now().Add(time.Hour)) {
		t.Fatalf("expiry %v after resubscribe", exp)
	}
	e.clock.Advance(59 * time.Minute)
	e.fg.Sweep()
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+chID, nil), http.StatusOK)

	e.clock.Advance(time.Minute)
	e.fg.Sweep()
	code, reason := closeReason(ws.closed())
	if code != websocket.StatusNormalClosure || reason != "channel expired" {
		t.Fatalf("socket closed with %d %q", code, reason)
	}
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+chID, nil), http.StatusNotFound)
	r = e.do(http.MethodGet, "/api/v2/notifications/channels/"+chID+"/subscriptions", nil)
	wantStatus(t, r, http.StatusNotFound)
	r.apiErr(t)
	_, res, err := dialWS(t, uri, e.client)
	if err == nil || res == nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("dial to an expired channel: %v %v", err, res)
	}

	// Expiry without a sweep: the REST call itself sees it.
	ch2, _ := e.createChannel(e.tok)
	e.clock.Advance(time.Hour)
	wantStatus(t, e.do(http.MethodGet, "/api/v2/notifications/channels/"+ch2+"/subscriptions", nil), http.StatusNotFound)

	// ExpireChannels.
	ch3, uri3 := e.createChannel(e.tok)
	ws3 := e.dial(uri3)
	waitFor(t, "socket", func() bool { return e.connected(ch3) })
	if n := e.fg.ExpireChannels(); n != 1 {
		t.Fatalf("ExpireChannels = %d", n)
	}
	if code, _ := closeReason(ws3.closed()); code != websocket.StatusNormalClosure {
		t.Fatalf("ExpireChannels closed with %d", code)
	}
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+ch3, nil), http.StatusNotFound)
	_, res, err = dialWS(t, "ws://"+strings.TrimPrefix(e.ts.URL, "http://")+"/channels/streaming-0-unknown", e.client)
	if err == nil || res == nil || res.StatusCode != http.StatusNotFound {
		t.Fatalf("dial to an unknown channel: %v %v", err, res)
	}
}

func TestSocketClosingAndDrop(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.SocketClosingDelay = 150 * time.Millisecond })
	chA, uriA := e.createChannel(e.tok)
	chB, uriB := e.createChannel(e.tok)
	a, b := e.dial(uriA), e.dial(uriB)
	waitFor(t, "both sockets", func() bool { return e.connected(chA) && e.connected(chB) })

	if n := e.fg.SocketClosing(chA); n != 1 {
		t.Fatalf("SocketClosing(chA) = %d", n)
	}
	start := time.Now()
	m := a.expect("socket_closing", topicIs("v2.system.socket_closing"))
	if !strings.Contains(string(m.EventBody), "message") {
		t.Fatalf("socket_closing %s", m.raw)
	}
	code, _ := closeReason(a.closed())
	if code != websocket.StatusGoingAway {
		t.Fatalf("closed with %d after socket_closing", code)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("closed %v after socket_closing; want the delay", d)
	}
	// The channel stays usable: reconnect.
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+chA, nil), http.StatusOK)
	a2 := e.dial(uriA)
	waitFor(t, "reconnect", func() bool { return e.connected(chA) })

	if n := e.fg.DropSockets(); n != 2 {
		t.Fatalf("DropSockets = %d", n)
	}
	for _, w := range []*wsClient{a2, b} {
		err := w.closed()
		if code, _ := closeReason(err); code != -1 {
			t.Fatalf("dropped socket got a close frame %d: %v", code, err)
		}
	}
	waitFor(t, "channels to show no socket", func() bool { return !e.connected(chA) && !e.connected(chB) })
	if n := e.fg.SocketClosing(""); n != 0 {
		t.Fatalf("SocketClosing with no sockets = %d", n)
	}
}

func TestChannelLimitEvicts(t *testing.T) {
	e := newEnv(t, nil)
	var ids, uris []string
	for range MaxChannels {
		e.clock.Advance(time.Second)
		id, uri := e.createChannel(e.tok)
		ids, uris = append(ids, id), append(uris, uri)
	}
	e.dial(uris[0])
	waitFor(t, "socket on the oldest channel", func() bool { return e.fg.Channels()[0].Connected })

	// The 21st replaces the oldest channel without a socket: the second.
	e.clock.Advance(time.Second)
	id21, _ := e.createChannel(e.tok)
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+ids[1], nil), http.StatusNotFound)
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+ids[0], nil), http.StatusOK)
	if n := len(e.fg.Channels()); n != MaxChannels {
		t.Fatalf("%d channels", n)
	}

	// Another client has its own 20.
	tok2, _ := e.fg.Token(client2ID)
	e.createChannel(tok2)
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+ids[2], nil), http.StatusOK)

	// With every channel connected, the least recently used one goes, and
	// its socket is closed.
	var socks []*wsClient
	live := append(append([]string{}, ids[0]), ids[2:]...)
	live = append(live, id21)
	for _, id := range live[1:] {
		e.clock.Advance(time.Second) // so connecting orders lastUsed
		socks = append(socks, e.dial("ws://"+strings.TrimPrefix(e.ts.URL, "http://")+"/channels/"+id))
		waitFor(t, "socket on "+id, func() bool {
			for _, c := range e.fg.Channels() {
				if c.ID == id {
					return c.Connected
				}
			}
			return false
		})
	}
	waitFor(t, "all connected", func() bool {
		for _, c := range e.fg.Channels() {
			if c.ClientID == clientID && !c.Connected {
				return false
			}
		}
		return true
	})
	e.clock.Advance(time.Second)
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+ids[0], nil), http.StatusOK) // touch the oldest
	e.createChannel(e.tok)
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+ids[0], nil), http.StatusOK)
	// ids[2] was connected before the others, so it was used least recently.
	wantStatus(t, e.do(http.MethodHead, "/api/v2/notifications/channels/"+ids[2], nil), http.StatusNotFound)
	if code, reason := closeReason(socks[0].closed()); code != websocket.StatusNormalClosure || !strings.Contains(reason, "20-channel") {
		t.Fatalf("evicted socket closed with %d %q", code, reason)
	}
}

func TestWSSOverTLS(t *testing.T) {
	e := newEnvWith(t, nil, httptest.NewTLSServer)
	chID, uri := e.createChannel(e.tok)
	if !strings.HasPrefix(uri, "wss://") {
		t.Fatalf("connectUri %s over TLS", uri)
	}
	e.subscribe(http.MethodPut, chID, presenceTopic(bob))
	ws := e.dial(uri)
	waitFor(t, "socket", func() bool { return e.fg.Channels()[0].Connected })
	if err := e.fg.SetPresence(bob, "Training"); err != nil {
		t.Fatal(err)
	}
	if ev := ws.presenceEvent(bob); ev.PresenceDefinition.SystemPresence != "TRAINING" {
		t.Fatalf("event %+v", ev)
	}
}

func TestCloseEndsSockets(t *testing.T) {
	clock := newClock()
	opt := testOptions(clock)
	opt.Heartbeat = 10 * time.Millisecond
	fg := New(opt)
	ts := httptest.NewServer(fg.Handler())
	defer ts.Close()
	tok, _ := fg.Token(clientID)
	e := &env{t: t, fg: fg, ts: ts, clock: clock, client: ts.Client(), tok: tok}
	_, uri := e.createChannel(tok)
	ws := e.dial(uri)
	ws.expect("heartbeat", wsMsg.isHeartbeat)

	done := make(chan struct{})
	go func() { fg.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	ws.closed()
	_, res, err := dialWS(t, uri, e.client)
	if err == nil || res == nil || res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after Close: %v %v", err, res)
	}
}

// waitFor polls cond until it holds or 5 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
