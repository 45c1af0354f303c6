package fakegenesys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

const (
	// sendQueue bounds the messages waiting for one socket. A client
	// that falls this far behind is disconnected, as a real server would
	// do with a consumer that does not read.
	sendQueue    = 1024
	writeTimeout = 5 * time.Second
	// readLimit fits a subscribe message with MaxTopics topics.
	readLimit = MaxRequestBytes
)

type outMsg struct {
	b          []byte
	closeAfter time.Duration // > 0: close the socket this long after writing b
}

// socket is one WebSocket on a channel. Its handler goroutine reads; one
// writer goroutine it owns does every write, so messages keep their order
// and no write happens under Server.mu.
type socket struct {
	conn *websocket.Conn
	out  chan outMsg

	quit     chan struct{} // closed once by stop
	stopOnce sync.Once
	hard     bool // set before quit is closed
	code     websocket.StatusCode
	reason   string

	done chan struct{} // closed when the writer has returned

	// closing is set before the first close frame or teardown, so a
	// client that has seen its socket end never finds it still counted
	// as connected (its handler may not have detached it yet).
	closing atomic.Bool
}

// live reports whether the socket is not being closed.
func (k *socket) live() bool { return !k.closing.Load() }

// enqueue queues m without blocking; false means the queue was full and
// the socket is being dropped.
func (k *socket) enqueue(m outMsg) bool {
	select {
	case k.out <- m:
		return true
	default:
		k.stop(true, 0, "")
		return false
	}
}

// stop asks the writer to close the socket: hard without a close frame,
// otherwise with code and reason. Only the first request counts.
func (k *socket) stop(hard bool, code websocket.StatusCode, reason string) {
	k.stopOnce.Do(func() {
		k.closing.Store(true)
		k.hard, k.code, k.reason = hard, code, reason
		close(k.quit)
	})
}

// serveSocket is the streaming service's /channels/{id}. Unknown and
// expired channels are refused with 404 before the upgrade. The handler
// goroutine is counted in s.wg so Close waits for it.
func (s *Server) serveSocket(w http.ResponseWriter, r *http.Request, id string) {
	ctxID := newGUID()
	fail := func(e *apiError) {
		s.mu.Lock()
		s.stats.recordOther(OpSocketConnect)
		s.mu.Unlock()
		w.Header().Set("ININ-Correlation-Id", ctxID)
		writeAPIError(w, ctxID, e)
	}
	if r.Method != http.MethodGet {
		fail(errorf(http.StatusMethodNotAllowed, "method.not.allowed", "A channel is opened with a GET WebSocket upgrade, not %s.", r.Method))
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		fail(errorf(http.StatusServiceUnavailable, "service.unavailable", "fakegenesys is shutting down."))
		return
	}
	if aerr := s.liveChannelLocked(id); aerr != nil {
		s.mu.Unlock()
		fail(aerr)
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	defer s.wg.Done()

	// Browsers connect from other origins; the real service lets them.
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	s.mu.Lock()
	s.stats.recordOther(OpSocketConnect)
	s.mu.Unlock()
	if err != nil {
		s.log.Info("websocket upgrade failed", "channel", id, "err", err)
		return
	}
	conn.SetReadLimit(readLimit)
	k := &socket{conn: conn, out: make(chan outMsg, sendQueue), quit: make(chan struct{}), done: make(chan struct{})}

	s.mu.Lock()
	ch, aerr := s.attachLocked(id, k)
	s.mu.Unlock()
	if aerr != nil {
		// The channel went away during the upgrade.
		_ = conn.Close(websocket.StatusNormalClosure, "channel not found")
		return
	}
	s.log.Info("socket connected", "channel", ch.id)

	go s.writeLoop(k)
	s.readLoop(k, ch)
	k.stop(true, 0, "")
	<-k.done

	s.mu.Lock()
	if ch.sock == k {
		ch.sock = nil
		ch.lastUsed = s.now()
	}
	s.mu.Unlock()
	s.log.Info("socket disconnected", "channel", ch.id)
}

// liveChannelLocked checks that channel id exists and has not expired.
func (s *Server) liveChannelLocked(id string) *apiError {
	if ch, ok := s.channels[id]; ok {
		s.expireIfDueLocked(ch, s.now())
	}
	if _, ok := s.channels[id]; !ok || s.closed {
		return notFound("Channel %s not found: it never existed, expired, or was replaced under the %d-channel limit.", id, MaxChannels)
	}
	return nil
}

// attachLocked makes k the channel's socket. "Each channel can only be
// used by one WebSocket at a time": the previous one is disconnected.
func (s *Server) attachLocked(id string, k *socket) (*channel, *apiError) {
	if aerr := s.liveChannelLocked(id); aerr != nil {
		return nil, aerr
	}
	ch := s.channels[id]
	if old := ch.sock; old != nil {
		s.log.Info("second socket on a channel; disconnecting the first", "channel", id)
		old.stop(false, websocket.StatusNormalClosure, "another WebSocket connected to this channel")
	}
	ch.sock = k
	ch.lastUsed = s.now()
	return ch, nil
}

// writeLoop owns every write to the socket and its close.
func (s *Server) writeLoop(k *socket) {
	defer close(k.done)
	defer k.closing.Store(true)
	hb := time.NewTicker(s.opt.Heartbeat)
	defer hb.Stop()
	var closeTimer *time.Timer
	var closeAt <-chan time.Time
	defer func() {
		if closeTimer != nil {
			closeTimer.Stop()
		}
	}()
	write := func(b []byte) bool {
		ctx, cancel := context.WithTimeout(s.ctx, writeTimeout)
		defer cancel()
		if err := k.conn.Write(ctx, websocket.MessageText, b); err != nil {
			k.closing.Store(true)
			_ = k.conn.CloseNow()
			return false
		}
		return true
	}
	for {
		select {
		case <-s.ctx.Done():
			k.closing.Store(true)
			_ = k.conn.CloseNow()
			return
		case <-k.quit:
			if k.hard {
				_ = k.conn.CloseNow()
			} else {
				_ = k.conn.Close(k.code, k.reason)
			}
			return
		case <-closeAt:
			k.closing.Store(true)
			_ = k.conn.Close(websocket.StatusGoingAway, "socket closing for maintenance")
			return
		case m := <-k.out:
			if !write(m.b) {
				return
			}
			if m.closeAfter > 0 && closeTimer == nil {
				closeTimer = time.NewTimer(m.closeAfter)
				closeAt = closeTimer.C
			}
		case <-hb.C:
			if !write(heartbeatMessage) {
				return
			}
			s.mu.Lock()
			s.stats.heartbeats++
			s.mu.Unlock()
		}
	}
}

// clientMessage is what a client may send on the socket.
type clientMessage struct {
	Message       string   `json:"message"`
	Topics        []string `json:"topics"`
	CorrelationID string   `json:"correlationId,omitempty"`
}

type socketReply struct {
	Result        string `json:"result"`
	Status        string `json:"status"`
	Message       string `json:"message,omitempty"`
	CorrelationID string `json:"correlationId,omitempty"`
}

// readLoop answers the client's messages until the socket closes.
func (s *Server) readLoop(k *socket, ch *channel) {
	for {
		typ, b, err := k.conn.Read(s.ctx)
		if err != nil {
			if st := websocket.CloseStatus(err); st == -1 && !errors.Is(err, context.Canceled) {
				s.log.Debug("socket read ended", "channel", ch.id, "err", err)
			}
			return
		}
		var reply []byte
		if typ != websocket.MessageText {
			reply = mustJSON(socketReply{Result: "400", Status: "error", Message: "binary messages are not understood; send JSON text"})
		} else {
			reply = s.handleClientMessage(ch, b)
		}
		if !k.enqueue(outMsg{b: reply}) {
			return
		}
	}
}

func (s *Server) handleClientMessage(ch *channel, b []byte) []byte {
	var m clientMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return mustJSON(socketReply{Result: "400", Status: "error", Message: fmt.Sprintf("message is not valid JSON: %v", err)})
	}
	switch m.Message {
	case "ping":
		return pongMessage
	case "subscribe":
		return s.socketSubscribe(ch, m)
	}
	return mustJSON(socketReply{Result: "400", Status: "error", CorrelationID: m.CorrelationID,
		Message: fmt.Sprintf("message %q is not understood; send ping or subscribe", m.Message)})
}

// socketSubscribe adds topics like POST …/subscriptions, but all or
// nothing: the reply has no per-topic states, so a rejected topic fails
// the whole message rather than vanish silently.
func (s *Server) socketSubscribe(ch *channel, m clientMessage) []byte {
	failure := func(result, msg string) []byte {
		return mustJSON(socketReply{Result: result, Status: "failure", Message: msg, CorrelationID: m.CorrelationID})
	}
	if len(m.Topics) == 0 {
		return failure("400", "subscribe needs a non-empty topics array")
	}
	if len(m.Topics) > MaxTopics {
		return failure("400", fmt.Sprintf("%d topics requested; a channel can have at most %d", len(m.Topics), MaxTopics))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if cur, ok := s.channels[ch.id]; ok {
		s.expireIfDueLocked(cur, now)
	}
	if s.channels[ch.id] != ch {
		return failure("404", fmt.Sprintf("channel %s not found: expired or replaced", ch.id))
	}
	var reasons []string
	for _, t := range m.Topics {
		if _, reason := s.checkTopicLocked(t); reason != "" {
			reasons = append(reasons, reason)
		}
	}
	if len(reasons) > 0 {
		return failure("400", strings.Join(reasons, " "))
	}
	if _, aerr := s.subscribeLocked(ch, m.Topics, false, now); aerr != nil {
		return failure("400", aerr.message)
	}
	ch.lastUsed = now
	return mustJSON(socketReply{Result: "200", Status: "subscribed", CorrelationID: m.CorrelationID})
}

// SocketClosing sends v2.system.socket_closing on the socket of channel
// id, or of every channel when id is "", and closes each one
// SocketClosingDelay later, as the service does before maintenance. The
// channels stay valid. It returns how many sockets were told.
func (s *Server) SocketClosing(channelID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ch := range s.channels {
		if ch.sock != nil && (channelID == "" || ch.id == channelID) {
			if ch.sock.enqueue(outMsg{b: closingMessage, closeAfter: s.opt.SocketClosingDelay}) {
				n++
			}
		}
	}
	return n
}

// DropSockets closes every socket at once without a close frame or
// message, like a network failure. The channels stay valid. It returns
// how many sockets there were.
func (s *Server) DropSockets() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, ch := range s.channels {
		if ch.sock != nil {
			if ch.sock.live() {
				n++
			}
			ch.sock.stop(true, 0, "")
			ch.sock = nil
		}
	}
	return n
}
