package teams

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	abs "github.com/microsoft/kiota-abstractions-go"
	absauth "github.com/microsoft/kiota-abstractions-go/authentication"
	absser "github.com/microsoft/kiota-abstractions-go/serialization"
	khttp "github.com/microsoft/kiota-http-go"
	jsonser "github.com/microsoft/kiota-serialization-json-go"
	textser "github.com/microsoft/kiota-serialization-text-go"
	msgraphcore "github.com/microsoftgraph/msgraph-sdk-go-core"
	"github.com/microsoftgraph/msgraph-sdk-go/communications"
	"github.com/microsoftgraph/msgraph-sdk-go/models"
	"github.com/microsoftgraph/msgraph-sdk-go/models/odataerrors"
	"github.com/microsoftgraph/msgraph-sdk-go/subscriptions"
	"github.com/microsoftgraph/msgraph-sdk-go/users"
	"golang.org/x/time/rate"
)

// sdkVersion is sent in the SDK's telemetry header.
const sdkVersion = "1.89.0"

var registerSerializers sync.Once

// graph is the part of Microsoft Graph the bridge uses, through the SDK's
// request builders (not the root client package, which doubles the build
// cost; CLOUD-APIS.md 4.1 and 4.6). Every call waits for the app's rate
// limiter first and reports how it went to the bridge's counters.
type graph struct {
	appID   string
	creds   *credentials
	users   *users.UsersRequestBuilder
	comms   *communications.CommunicationsRequestBuilder
	limiter *rate.Limiter
	gate    *gate
	count   func(op string, err error)
}

// account is one delegated service account's subscription client.
type account struct {
	name  string
	creds *credentials
	subs  *subscriptions.SubscriptionsRequestBuilder
}

// credentials wraps an azidentity credential as the token provider kiota
// wants. azidentity caches the token and fetches a new one before it
// expires; after a 401 (a token revoked before its time) the bridge
// starts again with an empty cache.
type credentials struct {
	mu    sync.Mutex
	cred  azcore.TokenCredential
	build func() (azcore.TokenCredential, error)
	scope string
}

func newCredentials(scope string, build func() (azcore.TokenCredential, error)) (*credentials, error) {
	cred, err := build()
	if err != nil {
		return nil, err
	}
	return &credentials{cred: cred, build: build, scope: scope}, nil
}

func (c *credentials) GetAuthorizationToken(ctx context.Context, _ *url.URL, _ map[string]any) (string, error) {
	c.mu.Lock()
	cred := c.cred
	c.mu.Unlock()
	t, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{c.scope}})
	if err != nil {
		return "", fmt.Errorf("teams: token: %w", err)
	}
	return t.Token, nil
}

func (c *credentials) GetAllowedHostsValidator() *absauth.AllowedHostsValidator {
	v, _ := absauth.NewAllowedHostsValidatorErrorCheck(nil) // no list: graph_url is the admin's choice
	return v
}

// reset drops the cached token.
func (c *credentials) reset() {
	cred, err := c.build()
	if err != nil {
		return
	}
	c.mu.Lock()
	c.cred = cred
	c.mu.Unlock()
}

// identityOptions points azidentity at login_url (a national cloud or the
// fake) over the bridge's HTTP client.
func identityOptions(o *Options) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: strings.TrimRight(o.LoginURL, "/") + "/"},
		Transport: o.HTTPClient,
		Retry:     policy.RetryOptions{MaxRetries: 2},
	}
}

// adapter builds a request adapter for one identity. kiota's own retry
// handler is left out: it would sleep through a Retry-After inside one
// call, hidden from the limiter, so 429 and 503 come back to the bridge,
// which pauses every caller at once (gate).
func adapter(o *Options, creds *credentials) (*msgraphcore.GraphRequestAdapterBase, string, error) {
	registerSerializers.Do(func() {
		abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return jsonser.NewJsonSerializationWriterFactory() })
		abs.RegisterDefaultSerializer(func() absser.SerializationWriterFactory { return textser.NewTextSerializationWriterFactory() })
		abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return jsonser.NewJsonParseNodeFactory() })
		abs.RegisterDefaultDeserializer(func() absser.ParseNodeFactory { return textser.NewTextParseNodeFactory() })
	})
	opts := msgraphcore.GraphClientOptions{GraphServiceLibraryVersion: sdkVersion}
	var mw []khttp.Middleware
	for _, m := range msgraphcore.GetDefaultMiddlewaresWithOptions(&opts) {
		if _, retry := m.(*khttp.RetryHandler); !retry {
			mw = append(mw, m)
		}
	}
	parent := http.DefaultTransport
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		parent = o.HTTPClient.Transport
	}
	hc := &http.Client{
		Transport:     khttp.NewCustomTransportWithParentTransport(parent, mw...),
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	base := strings.TrimRight(o.GraphURL, "/")
	auth := absauth.NewBaseBearerTokenAuthenticationProvider(creds)
	a, err := msgraphcore.NewGraphRequestAdapterBaseWithParseNodeFactoryAndSerializationWriterFactoryAndHttpClient(auth, opts, nil, nil, hc)
	if err != nil {
		return nil, "", fmt.Errorf("teams: graph adapter: %w", err)
	}
	a.SetBaseUrl(base + "/v1.0")
	return a, base + "/v1.0", nil
}

func scope(o *Options) string { return strings.TrimRight(o.GraphURL, "/") + "/.default" }

func newGraph(o *Options, lim *rate.Limiter, g *gate, count func(string, error)) (*graph, error) {
	creds, err := newCredentials(scope(o), func() (azcore.TokenCredential, error) {
		return azidentity.NewClientSecretCredential(o.Tenant, o.ClientID, o.ClientSecret, &azidentity.ClientSecretCredentialOptions{
			ClientOptions:            identityOptions(o),
			DisableInstanceDiscovery: true,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("teams: app credentials: %w", err)
	}
	a, base, err := adapter(o, creds)
	if err != nil {
		return nil, err
	}
	pp := map[string]string{"baseurl": base}
	return &graph{
		appID:   o.ClientID,
		creds:   creds,
		users:   users.NewUsersRequestBuilderInternal(pp, a),
		comms:   communications.NewCommunicationsRequestBuilderInternal(pp, a),
		limiter: lim,
		gate:    g,
		count:   count,
	}, nil
}

func newAccount(o *Options, ac Account) (*account, error) {
	creds, err := newCredentials(scope(o), func() (azcore.TokenCredential, error) {
		//lint:ignore SA1019 ROPC is how a headless service signs in its delegated subscription owner (CLOUD-APIS.md 0.1)
		return azidentity.NewUsernamePasswordCredential(o.Tenant, o.ClientID, ac.Username, ac.Password, &azidentity.UsernamePasswordCredentialOptions{
			ClientOptions:            identityOptions(o),
			DisableInstanceDiscovery: true,
		})
	})
	if err != nil {
		return nil, fmt.Errorf("teams: account %s: %w", ac.Username, err)
	}
	a, base, err := adapter(o, creds)
	if err != nil {
		return nil, err
	}
	return &account{name: ac.Username, creds: creds, subs: subscriptions.NewSubscriptionsRequestBuilderInternal(map[string]string{"baseurl": base}, a)}, nil
}

// do runs one Graph call as the app, under the limiter and the
// Retry-After gate.
func (g *graph) do(ctx context.Context, op string, call func(context.Context) error) error {
	return g.as(ctx, g.creds, op, call)
}

// as runs one Graph call with creds' token.
func (g *graph) as(ctx context.Context, creds *credentials, op string, call func(context.Context) error) error {
	if err := g.gate.wait(ctx); err != nil {
		return err
	}
	if err := g.limiter.Wait(ctx); err != nil {
		return err
	}
	err := call(ctx)
	g.count(op, err)
	if err != nil {
		if after, ok := retryAfter(err); ok {
			g.gate.close(after)
		}
		if status(err) == http.StatusUnauthorized {
			creds.reset()
		}
		return fmt.Errorf("teams: %s: %w", op, describe(err))
	}
	return nil
}

// Pair is an availability and an activity, as Graph names them.
type Pair struct{ Availability, Activity string }

func (p Pair) String() string { return p.Availability + "/" + p.Activity }

// reading is one user's aggregated presence.
type reading struct {
	id  string
	av  string
	act string
	seq string
}

func (g *graph) setPresence(ctx context.Context, id string, p Pair, d time.Duration) error {
	return g.do(ctx, "setPresence", func(ctx context.Context) error {
		b := users.NewItemPresenceSetPresencePostRequestBody()
		b.SetSessionId(&g.appID)
		b.SetAvailability(&p.Availability)
		b.SetActivity(&p.Activity)
		b.SetExpirationDuration(isoDuration(d))
		return g.users.ByUserId(id).Presence().SetPresence().Post(ctx, b, nil)
	})
}

func (g *graph) clearPresence(ctx context.Context, id string) error {
	return g.do(ctx, "clearPresence", func(ctx context.Context) error {
		b := users.NewItemPresenceClearPresencePostRequestBody()
		b.SetSessionId(&g.appID)
		err := g.users.ByUserId(id).Presence().ClearPresence().Post(ctx, b, nil)
		if status(err) == http.StatusNotFound {
			return nil // the session expired or was never there: cleared all the same
		}
		return err
	})
}

func (g *graph) setPreferred(ctx context.Context, id string, p Pair) error {
	return g.do(ctx, "setUserPreferredPresence", func(ctx context.Context) error {
		b := users.NewItemPresenceSetUserPreferredPresencePostRequestBody()
		b.SetAvailability(&p.Availability)
		b.SetActivity(&p.Activity)
		return g.users.ByUserId(id).Presence().SetUserPreferredPresence().Post(ctx, b, nil)
	})
}

func (g *graph) clearPreferred(ctx context.Context, id string) error {
	return g.do(ctx, "clearUserPreferredPresence", func(ctx context.Context) error {
		return g.users.ByUserId(id).Presence().ClearUserPreferredPresence().Post(ctx, nil)
	})
}

// presences reads up to maxIDs users at once.
func (g *graph) presences(ctx context.Context, ids []string) ([]reading, error) {
	var out []reading
	err := g.do(ctx, "getPresencesByUserId", func(ctx context.Context) error {
		b := communications.NewGetPresencesByUserIdPostRequestBody()
		b.SetIds(ids)
		res, err := g.comms.GetPresencesByUserId().PostAsGetPresencesByUserIdPostResponse(ctx, b, nil)
		if err != nil {
			return err
		}
		for _, p := range res.GetValue() {
			out = append(out, reading{id: deref(p.GetId()), av: deref(p.GetAvailability()), act: deref(p.GetActivity()), seq: deref(p.GetSequenceNumber())})
		}
		return nil
	})
	return out, err
}

// userID resolves a UPN to the user's object id.
func (g *graph) userID(ctx context.Context, upn string) (string, error) {
	var id string
	err := g.do(ctx, "users.get", func(ctx context.Context) error {
		u, err := g.users.ByUserId(upn).Get(ctx, &users.UserItemRequestBuilderGetRequestConfiguration{
			QueryParameters: &users.UserItemRequestBuilderGetQueryParameters{Select: []string{"id", "userPrincipalName"}},
		})
		if err != nil {
			return err
		}
		id = deref(u.GetId())
		if id == "" {
			return errors.New("the user has no id")
		}
		return nil
	})
	return id, err
}

// subscribe creates a presence subscription for ids (at most maxIDs).
func (g *graph) subscribe(ctx context.Context, ac *account, ids []string, notifyURL, lifecycleURL, state string, until time.Time) (string, time.Time, error) {
	var id string
	var exp time.Time
	err := g.as(ctx, ac.creds, "subscriptions.create", func(ctx context.Context) error {
		s := models.NewSubscription()
		change := "updated"
		resource := "/communications/presences?$filter=id in (" + quoteIDs(ids) + ")"
		s.SetChangeType(&change)
		s.SetNotificationUrl(&notifyURL)
		s.SetLifecycleNotificationUrl(&lifecycleURL)
		s.SetResource(&resource)
		s.SetExpirationDateTime(&until)
		s.SetClientState(&state)
		got, err := ac.subs.Post(ctx, s, nil)
		if err != nil {
			return err
		}
		id = deref(got.GetId())
		if t := got.GetExpirationDateTime(); t != nil {
			exp = *t
		}
		return nil
	})
	return id, exp, err
}

func (g *graph) renew(ctx context.Context, ac *account, id string, until time.Time) (time.Time, error) {
	var exp time.Time
	err := g.as(ctx, ac.creds, "subscriptions.renew", func(ctx context.Context) error {
		s := models.NewSubscription()
		s.SetExpirationDateTime(&until)
		got, err := ac.subs.BySubscriptionId(id).Patch(ctx, s, nil)
		if err != nil {
			return err
		}
		if t := got.GetExpirationDateTime(); t != nil {
			exp = *t
		}
		return nil
	})
	return exp, err
}

// listSubs returns the ids of an account's subscriptions that call url.
func (g *graph) listSubs(ctx context.Context, ac *account, url string) ([]string, error) {
	var ids []string
	err := g.as(ctx, ac.creds, "subscriptions.list", func(ctx context.Context) error {
		res, err := ac.subs.Get(ctx, nil)
		if err != nil {
			return err
		}
		for _, s := range res.GetValue() {
			if deref(s.GetNotificationUrl()) == url {
				ids = append(ids, deref(s.GetId()))
			}
		}
		return nil
	})
	return ids, err
}

func (g *graph) reauthorize(ctx context.Context, ac *account, id string) error {
	return g.as(ctx, ac.creds, "subscriptions.reauthorize", func(ctx context.Context) error {
		return ac.subs.BySubscriptionId(id).Reauthorize().Post(ctx, nil)
	})
}

func (g *graph) unsubscribe(ctx context.Context, ac *account, id string) error {
	return g.as(ctx, ac.creds, "subscriptions.delete", func(ctx context.Context) error {
		err := ac.subs.BySubscriptionId(id).Delete(ctx, nil)
		if status(err) == http.StatusNotFound {
			return nil
		}
		return err
	})
}

func quoteIDs(ids []string) string {
	var b strings.Builder
	for i, id := range ids {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString("'" + id + "'")
	}
	return b.String()
}

func isoDuration(d time.Duration) *absser.ISODuration {
	m := int(d / time.Minute)
	return absser.NewDuration(0, 0, 0, m/60, m%60, 0, 0)
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// status is the HTTP status of a failed Graph call, 0 if it never got one.
func status(err error) int {
	var ae abs.ApiErrorable
	if errors.As(err, &ae) {
		return ae.GetStatusCode()
	}
	return 0
}

// retryAfter reports the pause a 429 or 503 asks for: Retry-After when
// given (seconds or a date), else a default.
func retryAfter(err error) (time.Duration, bool) {
	var ae abs.ApiErrorable
	if !errors.As(err, &ae) {
		return 0, false
	}
	code := ae.GetStatusCode()
	if code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable {
		return 0, false
	}
	if h := ae.GetResponseHeaders(); h != nil {
		for _, v := range h.Get("Retry-After") {
			if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s >= 0 {
				return time.Duration(s) * time.Second, true
			}
			if t, err := http.ParseTime(v); err == nil {
				return max(time.Until(t), 0), true
			}
		}
	}
	return 10 * time.Second, true
}

// retryable says whether trying again later may help: throttling, server
// trouble, no answer at all, a token refused (a new one is fetched). Any
// other 4xx (a pair Graph refused, a user it does not know, a missing
// permission) will not change by itself.
func retryable(err error) bool {
	c := status(err)
	return c == 0 || c == http.StatusUnauthorized || c == http.StatusTooManyRequests || c == http.StatusRequestTimeout || c >= 500
}

// describe turns an SDK error into one that prints safely: ODataError's
// own Error() dereferences a message that may be missing (CLOUD-APIS.md
// 4.3).
func describe(err error) error {
	var oe *odataerrors.ODataError
	if !errors.As(err, &oe) {
		return err
	}
	code, msg := "", ""
	if e := oe.GetErrorEscaped(); e != nil {
		code, msg = deref(e.GetCode()), deref(e.GetMessage())
	}
	return &graphError{status: oe.ResponseStatusCode, code: code, msg: msg, err: err}
}

type graphError struct {
	status    int
	code, msg string
	err       error
}

func (e *graphError) Error() string {
	return fmt.Sprintf("graph answered %d %s: %s", e.status, e.code, e.msg)
}

func (e *graphError) Unwrap() error { return e.err }

// gate holds every Graph call back until a Retry-After has passed, so one
// 429 slows the whole bridge down instead of each caller finding out for
// itself.
type gate struct {
	mu    sync.Mutex
	until time.Time
}

func (g *gate) close(d time.Duration) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if t := time.Now().Add(d); t.After(g.until) {
		g.until = t
	}
}

func (g *gate) wait(ctx context.Context) error {
	g.mu.Lock()
	d := time.Until(g.until)
	g.mu.Unlock()
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// closedFor is how long the gate stays shut, 0 if open.
func (g *gate) closedFor() time.Duration {
	g.mu.Lock()
	defer g.mu.Unlock()
	return max(time.Until(g.until), 0)
}
