package fakegenesys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"mime"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"
)

// Defaults of the real service that Options can shorten for tests.
const (
	DefaultTokenLifetime      = 86400 * time.Second
	DefaultHeartbeat          = 30 * time.Second
	DefaultChannelLifetime    = 24 * time.Hour
	DefaultRateLimit          = 300 // requests per minute per token
	DefaultSocketClosingDelay = time.Second
	DefaultSweepInterval      = time.Second

	// Limits of the platform the fake enforces.
	MaxChannels     = 20   // per OAuth client; a 21st replaces one
	MaxTopics       = 1000 // per channel
	MaxBulkPresence = 50   // ids per GET /api/v2/users/presences/purecloud/bulk
	MaxBulkUsers    = 100  // ids per GET /api/v2/users
	MaxRequestBytes = 512000

	rateWindow = time.Minute
)

// User is an organization member the fake knows.
type User struct {
	ID    string `json:"id"` // a GUID
	Email string `json:"email"`
	Name  string `json:"name"`
}

// Validate reports what would keep the fake from accepting u.
func (u User) Validate() error {
	if !isGUID(u.ID) {
		return fmt.Errorf("user %q: id %q is not a GUID: %w", u.Email, u.ID, ErrBadUser)
	}
	if _, domain, ok := strings.Cut(u.Email, "@"); !ok || domain == "" {
		return fmt.Errorf("user %s: email %q is not an address: %w", u.ID, u.Email, ErrBadUser)
	}
	return nil
}

// Options configures a Server. The zero value of each field means the real
// service's behaviour or a sane default, as noted.
type Options struct {
	// Clients are the OAuth clients (client credentials grant): client id
	// → client secret.
	Clients map[string]string
	// Users is the organization. Invalid or duplicate entries are logged
	// and skipped.
	Users []User
	// Definitions are added to the ten system definitions (ids as in
	// CLOUD-APIS.md 5.2), e.g. {ID: <guid>, Name: "Lunch",
	// SystemPresence: "Meal"} for a secondary presence. Invalid entries,
	// and entries reusing an id, are logged and skipped.
	Definitions []Definition
	// TokenLifetime is the access token lifetime (expires_in), at least a
	// second. Default 86400 s, the Genesys default for an OAuth client.
	TokenLifetime time.Duration
	// Now is the clock of token, channel and rate-limit expiry and of
	// every date the fake reports. Default time.Now.
	Now func() time.Time
	// Heartbeat is the real-time interval of the channel.metadata
	// heartbeat on each socket. Default 30 s; tests set milliseconds.
	Heartbeat time.Duration
	// ChannelLifetime is how long a notification channel lives after its
	// creation or its last (re)subscription. Default 24 h.
	ChannelLifetime time.Duration
	// RateLimit is the number of /api/v2 requests one access token may
	// make per minute (sliding, on Now). Default 300; negative disables.
	RateLimit int
	// SocketClosingDelay is the real time between the
	// v2.system.socket_closing message and the close. Genesys waits about
	// a minute; the default is 1 s so that tests and demos move on.
	SocketClosingDelay time.Duration
	// SweepInterval is how often, in real time, the fake looks for
	// channels that expired on Now. Default 1 s. Tests that move a fake
	// clock call Sweep instead of waiting.
	SweepInterval time.Duration
	// Log receives request and socket logs. Default: discarded.
	Log *slog.Logger
}

// Server is the fake. Create it with New, serve Handler, and Close it.
type Server struct {
	opt Options
	log *slog.Logger
	now func() time.Time

	ctx    context.Context // cancelled by Close; every socket lives in it
	cancel context.CancelFunc
	wg     sync.WaitGroup // the sweeper and every socket's handler

	// mu guards everything below. It is never held across network I/O:
	// sockets get their messages through buffered queues.
	mu         sync.Mutex
	closed     bool
	users      map[string]*user // by lower-case id
	byEmail    map[string]*user // by lower-case email
	userOrder  []*user
	defs       map[string]*definition // by lower-case id
	defOrder   []*definition
	tokens     map[string]*token
	channels   map[string]*channel
	rate       map[string]*rateLog // by access token
	throttleN  int
	throttleRA time.Duration
	stats      statsState

	control *http.ServeMux // the /_fake/ routes; immutable after New
}

// New returns a running Server. It starts the sweeper; Close stops it and
// every socket.
func New(opt Options) *Server {
	// The caller may keep changing its map; requests read it.
	opt.Clients = maps.Clone(opt.Clients)
	if opt.TokenLifetime < time.Second {
		opt.TokenLifetime = DefaultTokenLifetime
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Heartbeat <= 0 {
		opt.Heartbeat = DefaultHeartbeat
	}
	if opt.ChannelLifetime <= 0 {
		opt.ChannelLifetime = DefaultChannelLifetime
	}
	if opt.RateLimit == 0 {
		opt.RateLimit = DefaultRateLimit
	}
	if opt.SocketClosingDelay <= 0 {
		opt.SocketClosingDelay = DefaultSocketClosingDelay
	}
	if opt.SweepInterval <= 0 {
		opt.SweepInterval = DefaultSweepInterval
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		opt:      opt,
		log:      opt.Log.With("component", "fakegenesys"),
		now:      opt.Now,
		users:    make(map[string]*user),
		byEmail:  make(map[string]*user),
		defs:     make(map[string]*definition),
		tokens:   make(map[string]*token),
		channels: make(map[string]*channel),
		rate:     make(map[string]*rateLog),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.stats = newStats(s.now())
	for _, d := range SystemDefinitions() {
		_ = s.addDefinitionLocked(d, true) // valid by construction
	}
	for _, d := range opt.Definitions {
		if err := s.addDefinitionLocked(d, false); err != nil {
			s.log.Error("skipping presence definition", "err", err)
		}
	}
	for _, u := range opt.Users {
		if err := s.AddUser(u); err != nil {
			s.log.Error("skipping user", "err", err)
		}
	}
	s.control = s.controlMux()
	s.wg.Go(s.sweepLoop)
	return s
}

// Handler returns the fake's HTTP handler, for httptest.NewServer or
// http.Server. The login, platform API and streaming hosts of the real
// service are one origin here.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Close closes every socket, stops the sweeper and waits for all of them.
// Requests served afterwards still answer, but sockets are refused.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

func (s *Server) sweepLoop() {
	t := time.NewTicker(s.opt.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.Sweep()
		}
	}
}

// Sweep applies what the clock has caused since the last look: expired
// channels are removed and their sockets closed, old tokens forgotten.
// Tests call it after moving their clock.
func (s *Server) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
}

func (s *Server) sweepLocked(now time.Time) {
	for _, ch := range s.channels {
		s.expireIfDueLocked(ch, now)
	}
	for k, t := range s.tokens {
		// Keep expired tokens a while so they answer "expired", not
		// "unknown".
		if now.Sub(t.expires) > time.Hour {
			delete(s.tokens, k)
			delete(s.rate, k)
		}
	}
}

// call is one platform API request on its way through serveAPI.
type call struct {
	w         http.ResponseWriter
	r         *http.Request
	now       time.Time
	contextID string
	token     string
	tok       *token
	op        string
	body      []byte // the request body, once decode has read it
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A bug in the fake must fail the test that hit it, not take the
		// server goroutine down silently.
		if v := recover(); v != nil {
			s.log.Error("panic serving request", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			http.Error(w, fmt.Sprintf("fakegenesys: internal error: %v", v), http.StatusInternalServerError)
		}
	}()
	p := r.URL.Path
	switch {
	case p == "/oauth/token":
		s.serveToken(w, r)
	case strings.HasPrefix(p, "/api/v2/"):
		s.serveAPI(w, r)
	case strings.HasPrefix(p, "/channels/"):
		s.serveSocket(w, r, strings.TrimPrefix(p, "/channels/"))
	case strings.HasPrefix(p, "/_fake/"):
		s.control.ServeHTTP(w, r)
	default:
		ctx := newGUID()
		w.Header().Set("ININ-Correlation-Id", ctx)
		writeAPIError(w, ctx, notFound("fakegenesys serves no %s %s.", r.Method, p))
	}
}

// statusWriter remembers the status a handler sent, for Stats.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) serveAPI(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &statusWriter{ResponseWriter: rw}
	c := &call{w: w, r: r, now: s.now(), contextID: newGUID()}
	// Real answers carry the id support asks for in this header.
	w.Header().Set("ININ-Correlation-Id", c.contextID)

	// Admission comes first, so an unknown path or method without a valid
	// token is 401, and counts against the rate limit with one.
	rt, rerr := route(r.Method, strings.TrimPrefix(r.URL.Path, "/api/v2"))
	c.op = rt.op
	aerr := s.admit(c)
	if aerr == nil {
		aerr = rerr
	}
	if aerr == nil {
		aerr = rt.handle(s, c)
	}
	if aerr != nil {
		writeAPIError(w, c.contextID, aerr)
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	s.mu.Lock()
	s.stats.record(c.op, status)
	s.mu.Unlock()
	s.log.Debug("api request", "op", c.op, "method", r.Method, "path", r.URL.Path, "status", status, "dur", time.Since(start))
}

// admit applies, in this order, an injected Throttle, authentication and
// the per-token rate limit.
func (s *Server) admit(c *call) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttleN > 0 {
		s.throttleN--
		return tooManyRequests(s.throttleRA)
	}
	v, tok, aerr := s.authenticateLocked(c)
	if aerr != nil {
		return aerr
	}
	c.token, c.tok = v, tok
	return s.rateLocked(v, c.now)
}

// decode reads a JSON body into dst, refusing what a strict reading of
// the API refuses: a body without the application/json content type, more
// than MaxRequestBytes, malformed JSON, properties the model does not
// have, and trailing data. An empty body is an error unless optional.
func (c *call) decode(dst any, optional bool) *apiError {
	b, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, MaxRequestBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return errorf(http.StatusRequestEntityTooLarge, "request.entity.too.large",
			"The request body exceeds %d bytes (request.bytes.max).", MaxRequestBytes)
	}
	if err != nil {
		return badRequest("Reading the request body failed: %v.", err)
	}
	c.body = b
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return badRequest("The request body is empty; %s needs a JSON body.", c.op)
	}
	ct := c.r.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "unsupported.media.type",
			"Content-Type %q is not supported; send the body as application/json.", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return badRequest("The request body has the property %s, which %s does not accept.", f, c.op)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("Invalid value for property '%s': expected %s, got JSON %s.", te.Field, te.Type, te.Value)
		}
		return badRequest("The request body is not valid JSON: %v.", err)
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		return badRequest("The request body has data after the JSON value.")
	}
	if err := exactKeys(b, dst); err != nil {
		return badRequest("The request body is not valid for %s: %v.", c.op, err)
	}
	return nil
}
