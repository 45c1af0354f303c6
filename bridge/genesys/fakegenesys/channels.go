package fakegenesys

import (
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
)

// channel is a notification channel: its topics, its expiry and the
// socket connected to it, if any.
type channel struct {
	id       string
	clientID string // the OAuth client that created it
	token    string // the access token that created it (includechannels=token)
	created  time.Time
	expires  time.Time
	lastUsed time.Time // creation, REST calls and socket connects; picks the channel a 21st replaces
	topics   map[string]bool
	order    []string // topics in subscription order, for answers
	sock     *socket
}

// ChannelInfo describes a channel for tests.
type ChannelInfo struct {
	ID        string    `json:"id"`
	ClientID  string    `json:"clientId"`
	Topics    []string  `json:"topics"`
	Connected bool      `json:"connected"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
}

type channelJSON struct {
	ConnectURI string `json:"connectUri"`
	ID         string `json:"id"`
	Expires    string `json:"expires"`
}

type channelTopic struct {
	ID              string   `json:"id"`
	State           string   `json:"state,omitempty"`
	RejectionReason string   `json:"rejectionReason,omitempty"`
	SelfURI         string   `json:"selfUri,omitempty"`
	Missing         []string `json:"missingPermissions,omitempty"`
}

type topicListing struct {
	Entities []channelTopic `json:"entities"`
}

// connectURI points at the fake itself, as the client reached it: ws over
// http, wss over https.
func connectURI(r *http.Request, id string) string {
	scheme := "ws"
	if r.TLS != nil {
		scheme = "wss"
	}
	return scheme + "://" + r.Host + "/channels/" + id
}

func (ch *channel) json(r *http.Request) channelJSON {
	return channelJSON{ConnectURI: connectURI(r, ch.id), ID: ch.id, Expires: isoTime(ch.expires)}
}

func (s *Server) createChannel(c *call) *apiError {
	// The body is empty; whatever a client sends is read and ignored.
	_, _ = io.Copy(io.Discard, http.MaxBytesReader(c.w, c.r.Body, MaxRequestBytes))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(c.now)
	var mine []*channel
	for _, ch := range s.channels {
		if ch.clientID == c.tok.clientID {
			mine = append(mine, ch)
		}
	}
	if len(mine) >= MaxChannels {
		// "The new channel replaces the oldest channel that does not have
		// an active connection", or the oldest of all when every one has.
		victim := slices.MinFunc(mine, func(a, b *channel) int {
			if (a.sock == nil) != (b.sock == nil) {
				if a.sock == nil {
					return -1
				}
				return 1
			}
			if c := a.lastUsed.Compare(b.lastUsed); c != 0 {
				return c
			}
			return a.created.Compare(b.created)
		})
		s.log.Info("channel limit reached; replacing a channel", "client", c.tok.clientID, "replaced", victim.id, "connected", victim.sock != nil)
		s.removeChannelLocked(victim, websocket.StatusNormalClosure, "channel replaced by a newer channel (20-channel limit)")
	}
	ch := &channel{
		id:       newChannelID(),
		clientID: c.tok.clientID,
		token:    c.token,
		created:  c.now,
		expires:  c.now.Add(s.opt.ChannelLifetime),
		lastUsed: c.now,
		topics:   make(map[string]bool),
	}
	s.channels[ch.id] = ch
	writeJSON(c.w, http.StatusOK, ch.json(c.r))
	return nil
}

// listChannels serves GET /api/v2/notifications/channels: the channels of
// the calling token, or with includechannels=oauthclient of its client.
func (s *Server) listChannels(c *call) *apiError {
	scope := c.r.URL.Query().Get("includechannels")
	if scope != "" && scope != "token" && scope != "oauthclient" {
		return badRequest("includechannels must be token or oauthclient, got %q.", scope)
	}
	s.mu.Lock()
	s.sweepLocked(c.now)
	var list []*channel
	for _, ch := range s.channels {
		if ch.clientID == c.tok.clientID && (scope == "oauthclient" || ch.token == c.token) {
			list = append(list, ch)
		}
	}
	slices.SortFunc(list, func(a, b *channel) int { return a.created.Compare(b.created) })
	out := struct {
		Entities []channelJSON `json:"entities"`
	}{Entities: []channelJSON{}}
	for _, ch := range list {
		out.Entities = append(out.Entities, ch.json(c.r))
	}
	s.mu.Unlock()
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// channelLocked finds a live channel of the caller's client. Expired
// channels are removed on the way, so they answer 404 even before the
// sweeper sees them.
func (s *Server) channelLocked(c *call, id string) (*channel, *apiError) {
	ch, ok := s.channels[id]
	if ok {
		s.expireIfDueLocked(ch, c.now)
		ch, ok = s.channels[id]
	}
	if !ok || ch.clientID != c.tok.clientID {
		return nil, notFound("Channel %s not found: it never existed, expired, or was replaced under the %d-channel limit.", id, MaxChannels)
	}
	ch.lastUsed = c.now
	return ch, nil
}

func (s *Server) headChannel(c *call, id string) *apiError {
	s.mu.Lock()
	_, aerr := s.channelLocked(c, id)
	s.mu.Unlock()
	if aerr != nil {
		// HEAD answers have no body.
		c.w.WriteHeader(aerr.status)
		return nil
	}
	c.w.WriteHeader(http.StatusOK)
	return nil
}

func (ch *channel) listing() topicListing {
	out := topicListing{Entities: []channelTopic{}}
	for _, t := range ch.order {
		out.Entities = append(out.Entities, channelTopic{ID: t, State: "Permitted", SelfURI: topicSelfURI(t)})
	}
	return out
}

func topicSelfURI(topic string) string {
	if rest, ok := strings.CutPrefix(topic, "v2.users."); ok {
		if id, _, ok := strings.Cut(rest, "."); ok {
			return "/api/v2/users/" + id
		}
	}
	return ""
}

func (s *Server) getSubscriptions(c *call, id string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, aerr := s.channelLocked(c, id)
	if aerr != nil {
		return aerr
	}
	writeJSON(c.w, http.StatusOK, ch.listing())
	return nil
}

func (s *Server) deleteSubscriptions(c *call, id string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, aerr := s.channelLocked(c, id)
	if aerr != nil {
		return aerr
	}
	ch.topics, ch.order = make(map[string]bool), nil
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

// topicSuffixes are the user topics the fake can publish.
var topicSuffixes = []string{"presence", "routingStatus", "activity"}

// checkTopicLocked returns the canonical form of a topic, or why it is
// rejected.
func (s *Server) checkTopicLocked(topic string) (string, string) {
	rest, ok := strings.CutPrefix(topic, "v2.users.")
	if !ok {
		return "", fmt.Sprintf("Topic %q is not available to this client: fakegenesys serves v2.users.{id}.presence, .routingStatus and .activity only.", topic)
	}
	if strings.ContainsAny(rest, "?&") {
		return "", fmt.Sprintf("Topic %q uses the combined-topic syntax, which fakegenesys does not support; subscribe to each topic.", topic)
	}
	id, suffix, ok := strings.Cut(rest, ".")
	if !ok || !slices.Contains(topicSuffixes, suffix) {
		return "", fmt.Sprintf("Topic %q is not a known topic; use v2.users.{id}.presence, .routingStatus or .activity (case matters).", topic)
	}
	u, ok := s.users[strings.ToLower(id)]
	if !ok {
		return "", fmt.Sprintf("Topic %q names user %s, who is not in this organization.", topic, id)
	}
	return "v2.users." + u.ID + "." + suffix, ""
}

type topicRequest struct {
	ID      string `json:"id"`
	SelfURI string `json:"selfUri"`
}

// putSubscriptions serves PUT (replace) and POST (add) of a channel's
// subscriptions. Topics that cannot be had are answered Rejected rather
// than failing the request; going over MaxTopics fails it with no change.
// Either resubscription extends the channel by ChannelLifetime.
func (s *Server) putSubscriptions(c *call, id string, replace bool) *apiError {
	var req []topicRequest
	if aerr := c.decode(&req, false); aerr != nil {
		return aerr
	}
	if _, err := parseBoolParam(c, "ignoreErrors"); err != nil {
		return err
	}
	if len(req) > MaxTopics {
		return badRequest("The request lists %d topics; a channel can have at most %d.", len(req), MaxTopics)
	}
	topics := make([]string, len(req))
	for i, t := range req {
		topics[i] = t.ID
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, aerr := s.channelLocked(c, id)
	if aerr != nil {
		return aerr
	}
	rejected, aerr := s.subscribeLocked(ch, topics, replace, c.now)
	if aerr != nil {
		return aerr
	}
	out := ch.listing()
	out.Entities = append(out.Entities, rejected...)
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

// subscribeLocked replaces or extends ch's topics and its expiry. It is
// all or nothing about MaxTopics; unknown topics are returned rejected.
func (s *Server) subscribeLocked(ch *channel, topics []string, replace bool, now time.Time) ([]channelTopic, *apiError) {
	var rejected []channelTopic
	var add []string
	for _, t := range topics {
		canon, reason := s.checkTopicLocked(t)
		if reason != "" {
			rejected = append(rejected, channelTopic{ID: t, State: "Rejected", RejectionReason: reason})
			continue
		}
		add = append(add, canon)
	}
	next, order := make(map[string]bool), []string(nil)
	if !replace {
		next, order = maps.Clone(ch.topics), slices.Clone(ch.order)
	}
	for _, t := range add {
		if !next[t] {
			next[t] = true
			order = append(order, t)
		}
	}
	if len(next) > MaxTopics {
		return nil, badRequest("The channel would have %d topics; each channel (WebSocket) is limited to %d.", len(next), MaxTopics)
	}
	ch.topics, ch.order = next, order
	ch.expires = now.Add(s.opt.ChannelLifetime)
	return rejected, nil
}

// expireIfDueLocked removes ch if its expiry has passed on the clock.
func (s *Server) expireIfDueLocked(ch *channel, now time.Time) {
	if now.Before(ch.expires) {
		return
	}
	s.log.Info("channel expired", "channel", ch.id, "expires", ch.expires)
	s.removeChannelLocked(ch, websocket.StatusNormalClosure, "channel expired")
}

func (s *Server) removeChannelLocked(ch *channel, code websocket.StatusCode, reason string) {
	delete(s.channels, ch.id)
	if ch.sock != nil {
		ch.sock.stop(false, code, reason)
		ch.sock = nil
	}
}

// Channels returns every live channel, oldest first.
func (s *Server) Channels() []ChannelInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ChannelInfo, 0, len(s.channels))
	for _, ch := range s.channels {
		out = append(out, ChannelInfo{ID: ch.id, ClientID: ch.clientID, Topics: slices.Clone(ch.order), Connected: ch.sock != nil && ch.sock.live(), Created: ch.created, Expires: ch.expires})
	}
	slices.SortFunc(out, func(a, b ChannelInfo) int {
		if c := a.Created.Compare(b.Created); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// ExpireChannels makes every channel expire now: their sockets are closed
// and their REST calls answer 404. It returns how many there were.
func (s *Server) ExpireChannels() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := len(s.channels)
	for _, ch := range s.channels {
		ch.expires = now
		s.expireIfDueLocked(ch, now)
	}
	return n
}
