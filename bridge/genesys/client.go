package genesys

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
	"golang.org/x/time/rate"
)

// API is the part of the Genesys Cloud Platform API the bridge uses,
// named after the public API (and the official SDK's methods), so that
// the SDK can replace Client once it can be downloaded here.
type API interface {
	GetPresenceDefinitions(ctx context.Context) ([]PresenceDefinition, error)
	SearchUserByEmail(ctx context.Context, email string) (User, error)
	GetUserPresence(ctx context.Context, userID string) (UserPresence, error)
	PatchUserPresence(ctx context.Context, userID, definitionID string) (UserPresence, error)
	GetUserRoutingStatus(ctx context.Context, userID string) (RoutingStatus, error)
	GetUsers(ctx context.Context, ids []string) ([]User, error)
	PostNotificationsChannels(ctx context.Context) (Channel, error)
	PutNotificationsChannelSubscriptions(ctx context.Context, channelID string, topics []string) ([]ChannelTopic, error)
}

// PresenceDefinition is an organization presence definition: a system
// one (Available, Busy, On Queue, ...) or an org's own secondary one.
type PresenceDefinition struct {
	ID             string            `json:"id"`
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	SystemPresence string            `json:"systemPresence"` // REST: title case, "On Queue"
	LanguageLabels map[string]string `json:"languageLabels"`
	Deactivated    bool              `json:"deactivated"`
}

// PresenceDefinitionRef names a definition inside a presence.
type PresenceDefinitionRef struct {
	ID             string `json:"id"`
	SystemPresence string `json:"systemPresence"`
}

// UserPresence is a user's presence from one source (PURECLOUD here).
type UserPresence struct {
	ID                 string                `json:"id,omitempty"`
	UserID             string                `json:"userId,omitempty"` // in bulk answers
	Source             string                `json:"source,omitempty"`
	Primary            bool                  `json:"primary"`
	PresenceDefinition PresenceDefinitionRef `json:"presenceDefinition"`
	Message            string                `json:"message,omitempty"`
	ModifiedDate       time.Time             `json:"modifiedDate,omitzero"`
}

// RoutingStatus is a user's ACD routing status: OFF_QUEUE, or one of
// IDLE, INTERACTING, NOT_RESPONDING, COMMUNICATING while On Queue.
type RoutingStatus struct {
	UserID    string    `json:"userId,omitempty"`
	Status    string    `json:"status"`
	StartTime time.Time `json:"startTime,omitzero"`
}

// User is a Genesys Cloud user, with the presence and routing status
// when expanded.
type User struct {
	ID            string         `json:"id"`
	Name          string         `json:"name"`
	Email         string         `json:"email"`
	Presence      *UserPresence  `json:"presence,omitempty"`
	RoutingStatus *RoutingStatus `json:"routingStatus,omitempty"`
}

// Channel is a notification channel and the WebSocket URI to read it.
type Channel struct {
	ConnectURI string    `json:"connectUri"`
	ID         string    `json:"id"`
	Expires    time.Time `json:"expires"`
}

// ChannelTopic is one topic's subscription result.
type ChannelTopic struct {
	ID              string `json:"id"`
	State           string `json:"state,omitempty"`
	RejectionReason string `json:"rejectionReason,omitempty"`
}

// ErrorBody is the Platform API's error answer.
type ErrorBody struct {
	Message    string `json:"message"`
	Code       string `json:"code"`
	Status     int    `json:"status"`
	ContextID  string `json:"contextId"`
	RetryAfter time.Duration
	op         string
}

func (e *ErrorBody) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.Status)
	}
	return fmt.Sprintf("genesys %s answered %d %s: %s", e.op, e.Status, e.Code, msg)
}

// status is the HTTP status of a failed call, 0 if there was none.
func status(err error) int {
	var e *ErrorBody
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// retryable: throttling, server trouble, no answer, a token refused.
func retryable(err error) bool {
	c := status(err)
	return c == 0 || c == http.StatusUnauthorized || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500
}

// ClientOptions configures Client.
type ClientOptions struct {
	APIURL       string // e.g. https://api.mypurecloud.com
	LoginURL     string // e.g. https://login.mypurecloud.com
	ClientID     string
	ClientSecret string
	HTTPClient   *http.Client // trusts ca_file; nil: the default
	// PerMinute bounds the requests per minute (Genesys allows 300 per
	// client-credentials token); default 240.
	PerMinute int
	// Count sees every call's outcome (for /healthz).
	Count func(op string, err error)
}

// Client is API over net/http; OAuth client credentials through
// golang.org/x/oauth2, which fetches a new token before the old expires.
type Client struct {
	opt     ClientOptions
	base    *http.Client
	limiter *rate.Limiter

	mu sync.Mutex
	hc *http.Client // with the token source; rebuilt after a 401

	gateMu sync.Mutex
	until  time.Time
}

// NewClient builds a client; nothing is sent before the first call.
func NewClient(opt ClientOptions) *Client {
	if opt.PerMinute <= 0 {
		opt.PerMinute = 240
	}
	if opt.Count == nil {
		opt.Count = func(string, error) {}
	}
	base := opt.HTTPClient
	if base == nil {
		base = &http.Client{Timeout: 30 * time.Second}
	}
	c := &Client{
		opt:  opt,
		base: base,
		// A burst of a tenth of the minute, then the steady rate.
		limiter: rate.NewLimiter(rate.Every(time.Minute/time.Duration(opt.PerMinute)), max(opt.PerMinute/10, 1)),
	}
	c.reset()
	return c
}

// reset starts again with an empty token cache.
func (c *Client) reset() {
	cc := clientcredentials.Config{
		ClientID:     c.opt.ClientID,
		ClientSecret: c.opt.ClientSecret,
		TokenURL:     strings.TrimRight(c.opt.LoginURL, "/") + "/oauth/token",
		AuthStyle:    oauth2.AuthStyleInHeader,
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, c.base)
	hc := cc.Client(ctx)
	hc.Timeout = 30 * time.Second
	c.mu.Lock()
	c.hc = hc
	c.mu.Unlock()
}

// ThrottledFor is how long a Retry-After still holds every call back.
func (c *Client) ThrottledFor() time.Duration {
	c.gateMu.Lock()
	defer c.gateMu.Unlock()
	return max(time.Until(c.until), 0)
}

func (c *Client) wait(ctx context.Context) error {
	if d := c.ThrottledFor(); d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return c.limiter.Wait(ctx)
}

// do sends one request and decodes the answer into out (if not nil).
func (c *Client) do(ctx context.Context, op, method, path string, in, out any) error {
	err := c.send(ctx, op, method, path, in, out)
	c.opt.Count(op, err)
	return err
}

func (c *Client) send(ctx context.Context, op, method, path string, in, out any) error {
	if err := c.wait(ctx); err != nil {
		return err
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("genesys %s: %w", op, err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.opt.APIURL, "/")+path, body)
	if err != nil {
		return fmt.Errorf("genesys %s: %w", op, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	c.mu.Lock()
	hc := c.hc
	c.mu.Unlock()
	res, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("genesys %s: %w", op, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(io.LimitReader(res.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("genesys %s: reading the answer: %w", op, err)
	}
	if res.StatusCode >= 300 {
		e := &ErrorBody{op: op}
		_ = json.Unmarshal(data, e)
		e.Status = res.StatusCode
		if res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable {
			e.RetryAfter = 10 * time.Second
			if s, err := strconv.Atoi(strings.TrimSpace(res.Header.Get("Retry-After"))); err == nil && s >= 0 {
				e.RetryAfter = time.Duration(s) * time.Second
			}
			c.gateMu.Lock()
			if t := time.Now().Add(e.RetryAfter); t.After(c.until) {
				c.until = t
			}
			c.gateMu.Unlock()
		}
		if res.StatusCode == http.StatusUnauthorized {
			c.reset() // a token revoked before its time
		}
		return e
	}
	if out == nil || len(data) == 0 {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("genesys %s: decoding the answer: %w", op, err)
	}
	return nil
}

// GetPresenceDefinitions lists the org's active presence definitions.
func (c *Client) GetPresenceDefinitions(ctx context.Context) ([]PresenceDefinition, error) {
	var res struct {
		Entities []PresenceDefinition `json:"entities"`
	}
	err := c.do(ctx, "getPresenceDefinitions", http.MethodGet, "/api/v2/presence/definitions?deactivated=false", nil, &res)
	return res.Entities, err
}

// SearchUserByEmail finds the one user with this email.
func (c *Client) SearchUserByEmail(ctx context.Context, email string) (User, error) {
	in := map[string]any{
		"query":    []map[string]any{{"type": "EXACT", "fields": []string{"email"}, "value": email}},
		"pageSize": 2, "pageNumber": 1,
	}
	var res struct {
		Total   int    `json:"total"`
		Results []User `json:"results"`
	}
	if err := c.do(ctx, "postUsersSearch", http.MethodPost, "/api/v2/users/search", in, &res); err != nil {
		return User{}, err
	}
	switch len(res.Results) {
	case 0:
		return User{}, &ErrorBody{op: "postUsersSearch", Status: http.StatusNotFound, Code: "not.found", Message: "no user has the email " + email}
	case 1:
		return res.Results[0], nil
	}
	return User{}, &ErrorBody{op: "postUsersSearch", Status: http.StatusConflict, Code: "ambiguous", Message: fmt.Sprintf("%d users have the email %s", res.Total, email)}
}

// GetUserPresence reads a user's PURECLOUD presence.
func (c *Client) GetUserPresence(ctx context.Context, userID string) (UserPresence, error) {
	var p UserPresence
	err := c.do(ctx, "getUserPresencesPurecloud", http.MethodGet, "/api/v2/users/"+url.PathEscape(userID)+"/presences/purecloud", nil, &p)
	return p, err
}

// PatchUserPresence sets a user's PURECLOUD presence and makes it the
// primary source, as the blueprint does.
func (c *Client) PatchUserPresence(ctx context.Context, userID, definitionID string) (UserPresence, error) {
	in := map[string]any{"presenceDefinition": map[string]string{"id": definitionID}, "primary": true}
	var p UserPresence
	err := c.do(ctx, "patchUserPresencesPurecloud", http.MethodPatch, "/api/v2/users/"+url.PathEscape(userID)+"/presences/purecloud", in, &p)
	return p, err
}

// GetUserRoutingStatus reads a user's routing status.
func (c *Client) GetUserRoutingStatus(ctx context.Context, userID string) (RoutingStatus, error) {
	var r RoutingStatus
	err := c.do(ctx, "getUserRoutingstatus", http.MethodGet, "/api/v2/users/"+url.PathEscape(userID)+"/routingstatus", nil, &r)
	return r, err
}

// maxUsers is the most ids GET /api/v2/users takes at once here.
const maxUsers = 100

// GetUsers reads up to 100 users with their presence and routing status.
func (c *Client) GetUsers(ctx context.Context, ids []string) ([]User, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	q := url.Values{}
	for _, id := range ids {
		q.Add("id", id)
	}
	q.Set("expand", "presence,routingStatus")
	q.Set("pageSize", strconv.Itoa(len(ids)))
	var res struct {
		Entities []User `json:"entities"`
	}
	err := c.do(ctx, "getUsers", http.MethodGet, "/api/v2/users?"+q.Encode(), nil, &res)
	return res.Entities, err
}

// PostNotificationsChannels opens a notification channel.
func (c *Client) PostNotificationsChannels(ctx context.Context) (Channel, error) {
	var ch Channel
	err := c.do(ctx, "postNotificationsChannels", http.MethodPost, "/api/v2/notifications/channels", nil, &ch)
	return ch, err
}

// PutNotificationsChannelSubscriptions replaces a channel's topics (and
// so extends its life by 24 h).
func (c *Client) PutNotificationsChannelSubscriptions(ctx context.Context, channelID string, topics []string) ([]ChannelTopic, error) {
	in := make([]ChannelTopic, len(topics))
	for i, t := range topics {
		in[i] = ChannelTopic{ID: t}
	}
	var res struct {
		Entities []ChannelTopic `json:"entities"`
	}
	err := c.do(ctx, "putNotificationsChannelSubscriptions", http.MethodPut, "/api/v2/notifications/channels/"+url.PathEscape(channelID)+"/subscriptions", in, &res)
	return res.Entities, err
}
