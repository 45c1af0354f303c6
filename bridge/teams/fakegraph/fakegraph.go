package fakegraph

import (
	"bytes"
	"compress/gzip"
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

// Defaults of the real services that Options can shorten for tests.
const (
	DefaultTokenLifetime     = 3599 * time.Second
	DefaultValidationTimeout = 10 * time.Second
	DefaultDeliveryTimeout   = 3 * time.Second
	DefaultRetryDelay        = 10 * time.Second
	DefaultMaxAttempts       = 5
	DefaultRateLimit         = 1500
	DefaultRateWindow        = 30 * time.Second
	DefaultSweepInterval     = time.Second

	// MaxIDs is Graph's limit of user ids per getPresencesByUserId request
	// and per presence subscription.
	MaxIDs = 650

	maxBody = 4 << 20 // decoded request bodies; 650 ids need about 27 KB
)

// User is a directory user the fake knows.
type User struct {
	ID          string `json:"id"` // object id, a GUID
	UPN         string `json:"upn"`
	DisplayName string `json:"displayName"`
}

// Options configures a Server. The zero value of each field means the real
// service's behaviour or a sane default, as noted.
type Options struct {
	// Tenant is the directory (tenant) id, a GUID. Empty: a random one.
	Tenant string
	// Apps are the app registrations: client id → client secret. Client
	// credentials are accepted in the form body or with HTTP Basic auth.
	Apps map[string]string
	// Accounts are the users who may sign in with grant_type=password
	// (ROPC): user principal name → password. An account whose name is the
	// UPN of one of Users acts as that user; any other gets a stable
	// derived object id.
	Accounts map[string]string
	// Users is the directory. Entries without a GUID id are logged and
	// skipped.
	Users []User
	// TokenLifetime is the access token lifetime. Default 3599 s.
	TokenLifetime time.Duration
	// Now is the clock for every expiry and window. Default time.Now.
	Now func() time.Time
	// HTTPClient sends validation requests and notifications. Default: a
	// client that verifies TLS and follows no redirects.
	HTTPClient *http.Client
	// AllowHTTPNotify lets subscriptions use http:// notification URLs on
	// loopback hosts. Real Graph accepts https only.
	AllowHTTPNotify bool
	// ValidationTimeout bounds the subscription validation handshake.
	// Default 10 s, as Graph.
	ValidationTimeout time.Duration
	// DeliveryTimeout is how long a notification receiver has to answer
	// 2xx. Default 3 s, as Graph.
	DeliveryTimeout time.Duration
	// RetryDelay is the wait before the first redelivery; it doubles for
	// each later one. Default 10 s; tests set milliseconds.
	RetryDelay time.Duration
	// MaxAttempts bounds deliveries of one notification batch, first try
	// included. Default 5.
	MaxAttempts int
	// RateLimit is the number of presence requests one application may
	// make per RateWindow. Default 1500; negative disables the limit.
	RateLimit int
	// RateWindow is the sliding window of RateLimit. Default 30 s.
	RateWindow time.Duration
	// SweepInterval is how often, in real time, the fake looks for
	// time-driven changes on its own. Default 1 s.
	SweepInterval time.Duration
	// Log receives request and delivery logs. Default: discarded.
	Log *slog.Logger
}

// Server is the fake. Create it with New, serve Handler, and Close it.
type Server struct {
	opt    Options
	log    *slog.Logger
	now    func() time.Time
	client *http.Client

	ctx    context.Context // cancelled by Close; parent of all outgoing work
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// mu guards everything below. It is never held across network I/O.
	// Lock order: mu, then a notifier's mu.
	mu         sync.Mutex
	closed     bool
	users      map[string]*user // by lower-case object id
	byUPN      map[string]*user // by lower-case UPN
	seq        uint64           // last sequenceNumber handed out
	tokens     map[string]*token
	refresh    map[string]refreshGrant
	subs       map[string]*subscription
	throttleN  int
	throttleRA time.Duration
	unavailN   int
	unavailRA  time.Duration
	rate       map[string]*rateLog // by client id
	stats      statsState
	deliveries Deliveries

	control *http.ServeMux // the /_fake/ routes; immutable after New
}

// New returns a running Server. It starts the sweeper goroutine; Close
// stops it and every notification worker.
func New(opt Options) *Server {
	// The caller may keep changing its maps; the fake reads them from
	// request goroutines.
	opt.Apps = maps.Clone(opt.Apps)
	opt.Accounts = maps.Clone(opt.Accounts)
	if opt.Tenant == "" {
		opt.Tenant = newGUID()
	}
	opt.Tenant = strings.ToLower(opt.Tenant)
	if opt.TokenLifetime <= 0 {
		opt.TokenLifetime = DefaultTokenLifetime
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.ValidationTimeout <= 0 {
		opt.ValidationTimeout = DefaultValidationTimeout
	}
	if opt.DeliveryTimeout <= 0 {
		opt.DeliveryTimeout = DefaultDeliveryTimeout
	}
	if opt.RetryDelay <= 0 {
		opt.RetryDelay = DefaultRetryDelay
	}
	if opt.MaxAttempts <= 0 {
		opt.MaxAttempts = DefaultMaxAttempts
	}
	if opt.RateLimit == 0 {
		opt.RateLimit = DefaultRateLimit
	}
	if opt.RateWindow <= 0 {
		opt.RateWindow = DefaultRateWindow
	}
	if opt.SweepInterval <= 0 {
		opt.SweepInterval = DefaultSweepInterval
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	client := opt.HTTPClient
	if client == nil {
		client = &http.Client{
			Timeout: 30 * time.Second,
			// Graph treats a redirect as a failed delivery.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	s := &Server{
		opt:     opt,
		log:     opt.Log.With("component", "fakegraph"),
		now:     opt.Now,
		client:  client,
		users:   make(map[string]*user),
		byUPN:   make(map[string]*user),
		tokens:  make(map[string]*token),
		refresh: make(map[string]refreshGrant),
		subs:    make(map[string]*subscription),
		rate:    make(map[string]*rateLog),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.control = s.controlMux()
	s.stats = newStats(s.now())
	for _, u := range opt.Users {
		if err := s.AddUser(u); err != nil {
			s.log.Error("skipping user", "err", err)
		}
	}
	s.wg.Go(s.sweepLoop)
	return s
}

// Tenant returns the tenant id the fake serves.
func (s *Server) Tenant() string { return s.opt.Tenant }

// Validate reports what would keep the fake from accepting u.
func (u User) Validate() error {
	if !isGUID(u.ID) {
		return fmt.Errorf("user %q: id %q is not a GUID", u.UPN, u.ID)
	}
	if u.UPN == "" {
		return fmt.Errorf("user %s: empty UPN", u.ID)
	}
	return nil
}

// AddUser adds a directory user.
func (s *Server) AddUser(u User) error {
	if err := u.Validate(); err != nil {
		return fmt.Errorf("add %w", err)
	}
	id := strings.ToLower(u.ID)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[id]; ok {
		return fmt.Errorf("add user %s: duplicate id", id)
	}
	if _, ok := s.byUPN[strings.ToLower(u.UPN)]; ok {
		return fmt.Errorf("add user %s: duplicate UPN %q", id, u.UPN)
	}
	s.seq++
	nu := &user{
		User:         User{ID: id, UPN: u.UPN, DisplayName: u.DisplayName},
		sessions:     make(map[string]*session),
		availability: "Offline",
		activity:     "Offline",
		seq:          s.seq,
	}
	s.users[id] = nu
	s.byUPN[strings.ToLower(u.UPN)] = nu
	return nil
}

// Handler returns the fake's HTTP handler, for httptest.NewTLSServer or
// http.Server.
func (s *Server) Handler() http.Handler { return http.HandlerFunc(s.serveHTTP) }

// Close stops the sweeper and every notification worker and waits for them.
// Requests served afterwards still answer but deliver no notifications.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	for _, sub := range s.subs {
		sub.notifier.stop()
	}
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

// Sweep applies everything the clock has caused since the last look: expired
// tokens, sessions and subscriptions, and the Available fade. Changes of
// aggregated presence are published (sequence number, notifications) now.
// Tests call it after moving their clock.
func (s *Server) Sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
}

func (s *Server) sweepLocked(now time.Time) {
	for _, u := range s.users {
		s.publishLocked(u, now)
	}
	for id, sub := range s.subs {
		if !now.Before(sub.expires) {
			s.removeSubscriptionLocked(id, "expired")
		}
	}
	for k, t := range s.tokens {
		// Keep expired tokens a while so they answer "expired", not
		// "unknown".
		if now.Sub(t.expires) > time.Hour {
			delete(s.tokens, k)
		}
	}
}

// call is one Graph request on its way through serveGraph.
type call struct {
	w               http.ResponseWriter
	r               *http.Request
	now             time.Time
	requestID       string
	clientRequestID string
	tok             *token
	op              string
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		// A bug in the fake must fail the test that hit it, not kill the
		// test binary's server goroutine silently.
		if v := recover(); v != nil {
			s.log.Error("panic serving request", "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			http.Error(w, fmt.Sprintf("fakegraph: internal error: %v", v), http.StatusInternalServerError)
		}
	}()
	p := r.URL.Path
	switch {
	case p == "/v1.0" || strings.HasPrefix(p, "/v1.0/"):
		s.serveGraph(w, r)
	case strings.HasPrefix(p, "/_fake/"):
		s.serveControl(w, r)
	default:
		s.serveLogin(w, r)
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

func (s *Server) serveGraph(rw http.ResponseWriter, r *http.Request) {
	start := time.Now()
	w := &statusWriter{ResponseWriter: rw}
	c := &call{
		w:               w,
		r:               r,
		now:             s.now(),
		requestID:       newGUID(),
		clientRequestID: r.Header.Get("client-request-id"),
	}
	if c.clientRequestID == "" {
		c.clientRequestID = newGUID()
	}
	w.Header().Set("request-id", c.requestID)
	w.Header().Set("client-request-id", c.clientRequestID)

	rt, aerr := route(r.Method, strings.TrimPrefix(r.URL.Path, "/v1.0"))
	c.op = rt.op
	if aerr == nil {
		aerr = s.admit(c, rt)
	}
	if aerr == nil {
		aerr = rt.handle(s, c)
	}
	if aerr != nil {
		writeGraphError(w, c, aerr)
	}
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	s.mu.Lock()
	s.stats.record(c.op, status)
	s.mu.Unlock()
	s.log.Debug("graph request", "op", c.op, "method", r.Method, "path", r.URL.Path, "status", status, "dur", time.Since(start))
}

// admit applies, in this order, injected faults, authentication and the
// presence rate limit.
func (s *Server) admit(c *call, rt graphRoute) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttleN > 0 {
		s.throttleN--
		e := errorf(http.StatusTooManyRequests, "TooManyRequests",
			"Too many requests from Identifier:%s under category:throttle.fakegraph.injected. Retry after the time in Retry-After.", s.opt.Tenant)
		e.retryAfter = s.throttleRA
		return e
	}
	if s.unavailN > 0 {
		s.unavailN--
		e := errorf(http.StatusServiceUnavailable, "ServiceUnavailable",
			"The service is temporarily unavailable (injected by fakegraph). Retry after the time in Retry-After.")
		e.retryAfter = s.unavailRA
		return e
	}
	tok, aerr := s.authenticateLocked(c)
	if aerr != nil {
		return aerr
	}
	c.tok = tok
	if rt.presence {
		return s.rateLocked(tok.clientID, c.now)
	}
	return nil
}

// readBody returns the request body, gunzipped when the client compressed
// it (msgraph-sdk-go always does).
func (c *call) readBody() ([]byte, *apiError) {
	enc := strings.ToLower(strings.TrimSpace(c.r.Header.Get("Content-Encoding")))
	if enc != "" && enc != "identity" && enc != "gzip" {
		return nil, errorf(http.StatusUnsupportedMediaType, "UnsupportedMediaType", "Content-Encoding %q is not supported; use gzip or none.", enc)
	}
	b, aerr := readLimited(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	if aerr != nil || enc != "gzip" || len(b) == 0 {
		return b, aerr
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, badRequest("The request body is not valid gzip: %v.", err)
	}
	defer zr.Close()
	// The limit applies after decompression too, against gzip bombs.
	return readLimited(zr)
}

func readLimited(r io.Reader) ([]byte, *apiError) {
	b, err := io.ReadAll(io.LimitReader(r, maxBody+1))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) || len(b) > maxBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, "RequestEntityTooLarge", "The request body exceeds %d bytes.", maxBody)
	}
	if err != nil {
		return nil, badRequest("Reading the request body failed: %v.", err)
	}
	return b, nil
}

// decode reads a JSON body into dst, rejecting what Graph rejects: a
// non-JSON content type, malformed JSON, unknown properties and trailing
// data. An empty body is an error unless optional is set.
func (c *call) decode(dst any, optional bool) *apiError {
	b, aerr := c.readBody()
	if aerr != nil {
		return aerr
	}
	if len(bytes.TrimSpace(b)) == 0 {
		if optional {
			return nil
		}
		return badRequest("The request body is empty; %s needs a JSON body.", c.op)
	}
	if ct := c.r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return errorf(http.StatusUnsupportedMediaType, "UnsupportedMediaType",
				"Content-Type %q is not supported; send application/json.", ct)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		if f, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return badRequest("The parameter %s in the request payload is not a valid parameter for the operation '%s'.", f, c.op)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return badRequest("Invalid value for property '%s': expected %s, got JSON %s.", te.Field, te.Type, te.Value)
		}
		return badRequest("Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format (%v).", err)
	}
	if len(bytes.TrimSpace(b[dec.InputOffset():])) > 0 {
		return badRequest("Unable to read JSON request payload: data after the JSON value.")
	}
	return nil
}
