package genesys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/blfgw/blfgw/bridge/internal/work"
	"github.com/blfgw/blfgw/presence"
)

// event is a notification as it arrives on the WebSocket.
type event struct {
	TopicName string          `json:"topicName"`
	EventBody json.RawMessage `json:"eventBody"`
}

// streamLoop keeps one notification channel for a group of at most 500
// users (two topics each): it opens the channel, subscribes, connects,
// reconciles with a bulk read, and reads events until the socket drops,
// goes silent, or Genesys says it is closing; then it starts again.
func (b *Bridge) streamLoop(ctx context.Context, n int, ids []string) {
	failures := 0
	for ctx.Err() == nil {
		err := b.stream(ctx, n, ids)
		b.mu.Lock()
		wasUp := b.channels[n] != nil && b.channels[n].connected
		b.channels[n] = &channelState{users: len(ids)}
		b.mu.Unlock()
		if ctx.Err() != nil {
			return
		}
		b.st.reconnects.Add(1)
		// Only failures in a row back off further: a channel that was up
		// and then dropped starts again from the shortest wait, or a
		// gateway up for weeks would wait minutes after each rare drop.
		if wasUp {
			failures = 0
		}
		wait := 100 * time.Millisecond // socket_closing: a new channel at once
		if !errors.Is(err, errClosing) {
			failures++
			wait = work.Backoff(failures)
			b.log.Warn("genesys: notification channel lost; reconnecting", "channel", n, "in", wait.Round(time.Millisecond), "err", err)
		} else {
			b.log.Info("genesys: notification channel closing; opening a new one", "channel", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

var errClosing = errors.New("genesys: the socket is closing (v2.system.socket_closing)")

func (b *Bridge) stream(ctx context.Context, n int, ids []string) error {
	ch, err := b.api.PostNotificationsChannels(ctx)
	if err != nil {
		return err
	}
	topics := make([]string, 0, 2*len(ids))
	for _, id := range ids {
		topics = append(topics, "v2.users."+id+".presence", "v2.users."+id+".routingStatus")
	}
	res, err := b.api.PutNotificationsChannelSubscriptions(ctx, ch.ID, topics)
	if err != nil {
		return err
	}
	for _, t := range res {
		if strings.EqualFold(t.State, "Rejected") {
			b.log.Warn("genesys: topic rejected", "topic", t.ID, "reason", t.RejectionReason)
		}
	}
	// On the way out: close the socket, cancel, then wait for the reader
	// and the reconcile (defers run last first).
	var wg sync.WaitGroup
	defer wg.Wait()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, _, err := websocket.Dial(sctx, ch.ConnectURI, &websocket.DialOptions{HTTPClient: b.opt.DialClient})
	if err != nil {
		return fmt.Errorf("genesys: connecting to the channel: %w", err)
	}
	defer conn.CloseNow()
	conn.SetReadLimit(1 << 20)
	b.mu.Lock()
	b.channels[n] = &channelState{id: ch.ID, users: len(ids), connected: true}
	b.mu.Unlock()
	b.log.Info("genesys: notification channel up", "channel", n, "users", len(ids), "topics", len(topics))

	// Whatever changed while the socket was down.
	wg.Go(func() { b.reconcile(sctx, ids) })

	resub := time.NewTimer(b.opt.Resubscribe)
	defer resub.Stop()
	silence := b.opt.Heartbeat * 5 / 2
	msgs := make(chan []byte)
	errs := make(chan error, 1)
	wg.Go(func() {
		for {
			_, data, err := conn.Read(sctx)
			if err != nil {
				errs <- err
				return
			}
			select {
			case msgs <- data:
			case <-sctx.Done():
				return
			}
		}
	})
	watchdog := time.NewTimer(silence)
	defer watchdog.Stop()
	for {
		select {
		case <-ctx.Done():
			_ = conn.Close(websocket.StatusNormalClosure, "shutting down")
			return ctx.Err()
		case err := <-errs:
			return fmt.Errorf("genesys: reading the channel: %w", err)
		case <-watchdog.C:
			return fmt.Errorf("genesys: no heartbeat for %s", silence)
		case <-resub.C:
			// A channel lives 24 h; putting its topics again extends it.
			if _, err := b.api.PutNotificationsChannelSubscriptions(ctx, ch.ID, topics); err != nil {
				return fmt.Errorf("genesys: resubscribing: %w", err)
			}
			resub.Reset(b.opt.Resubscribe)
		case data := <-msgs:
			watchdog.Reset(silence)
			var e event
			if err := json.Unmarshal(data, &e); err != nil {
				b.log.Warn("genesys: unreadable notification", "err", err)
				continue
			}
			if e.TopicName == "v2.system.socket_closing" {
				return errClosing
			}
			b.event(e)
		}
	}
}

// event applies one presence or routing status notification.
func (b *Bridge) event(e event) {
	rest, ok := strings.CutPrefix(e.TopicName, "v2.users.")
	if !ok {
		return // channel.metadata: heartbeats and pongs
	}
	id, kind, ok := strings.Cut(rest, ".")
	if !ok {
		return
	}
	id = strings.ToLower(id)
	b.st.events.Add(1)
	switch kind {
	case "presence":
		var body struct {
			PresenceDefinition PresenceDefinitionRef `json:"presenceDefinition"`
			ModifiedDate       time.Time             `json:"modifiedDate"`
		}
		if json.Unmarshal(e.EventBody, &body) != nil {
			return
		}
		b.update(id, &body.PresenceDefinition, body.ModifiedDate, nil, time.Time{})
	case "routingStatus":
		var body struct {
			RoutingStatus RoutingStatus `json:"routingStatus"`
		}
		if json.Unmarshal(e.EventBody, &body) != nil {
			return
		}
		b.update(id, nil, time.Time{}, &body.RoutingStatus.Status, body.RoutingStatus.StartTime)
	}
}

// reconcile reads every user of a channel in batches after a (re)connect.
func (b *Bridge) reconcile(ctx context.Context, ids []string) {
	for len(ids) > 0 && ctx.Err() == nil {
		chunk := ids[:min(len(ids), maxUsers)]
		users, err := b.api.GetUsers(ctx, chunk)
		if err != nil {
			b.log.Warn("genesys: reconciling after a reconnect", "users", len(chunk), "err", err)
			return
		}
		for _, u := range users {
			var def *PresenceDefinitionRef
			var mod time.Time
			if u.Presence != nil {
				def, mod = &u.Presence.PresenceDefinition, u.Presence.ModifiedDate
			}
			var routing *string
			var since time.Time
			if u.RoutingStatus != nil {
				routing, since = &u.RoutingStatus.Status, u.RoutingStatus.StartTime
			}
			b.update(strings.ToLower(u.ID), def, mod, routing, since)
		}
		ids = ids[len(chunk):]
	}
}

// update records what Genesys says about a user and hands it to
// presence, unless it is the bridge's own write coming back.
func (b *Bridge) update(id string, def *PresenceDefinitionRef, mod time.Time, routing *string, since time.Time) {
	b.mu.Lock()
	u := b.byID[id]
	if u == nil {
		b.mu.Unlock()
		return
	}
	system := ""
	if def != nil && mod.Before(u.presenceMod) {
		// Older than what was applied (or undated after a dated one): a
		// reconcile read that an event overtook.
		def = nil
	}
	if routing != nil && since.Before(u.routingAt) {
		routing = nil
	}
	if def == nil && routing == nil {
		b.mu.Unlock()
		return
	}
	if def != nil && !mod.IsZero() {
		u.presenceMod = mod
	}
	if routing != nil && !since.IsZero() {
		u.routingAt = since
	}
	if def != nil {
		if def.ID == u.wrote && (u.patching || (!u.wroteMod.IsZero() && absDur(mod.Sub(u.wroteMod)) < 2*time.Second)) {
			// The PATCH the bridge sent, notified back.
			b.st.echoes.Add(1)
			b.log.Debug("genesys: own write notified back", "user", id, "presence", def.ID)
			u.presenceID = def.ID
			if routing == nil {
				b.mu.Unlock()
				return
			}
			def = nil
		} else {
			u.presenceID = def.ID
			system = def.SystemPresence
		}
	}
	if routing != nil {
		u.routing = *routing
	}
	presenceID, status, exts := u.presenceID, u.routing, append([]string(nil), u.exts...)
	wrote := u.wrote
	b.mu.Unlock()
	if presenceID == "" {
		return
	}
	if def == nil && presenceID == wrote {
		// A routing change while the bridge's own presence stands: the
		// lamp shows the routing status alone.
		presenceID = ""
	}
	name, sys := "", ""
	if presenceID != "" {
		name, sys = b.nameOf(presenceID, system)
	}
	state, note := b.opt.Map(name, sys, status)
	detail := name
	if status != "" && status != "OFF_QUEUE" {
		detail += "/" + status
	}
	b.log.Debug("genesys: state", "user", id, "presence", name, "routing", status, "lamp", state)
	c := presence.Cloud{Source: presence.SourceGenesys, State: state, Note: note, Detail: detail, Since: time.Now()}
	for _, ext := range exts {
		b.opt.Hub.SetCloud(ext, c)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}
