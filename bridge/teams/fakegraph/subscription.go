package fakegraph

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Subscription lifetime rules for presence.
const (
	MinSubscriptionLifetime = 45 * time.Minute // shorter requests are raised to this
	MaxSubscriptionLifetime = 60 * time.Minute // longer requests are refused
	maxClientState          = 128
)

type subscription struct {
	id          string
	resource    string // as the client sent it
	key         string // normalised resource, for duplicate detection
	ids         map[string]bool
	idList      []string
	changeType  string
	clientState *string
	notifyURL   string
	lifecycle   string
	expires     time.Time
	appID       string
	account     string
	creatorID   string
	tlsVersion  string
	needsReauth bool
	notifier    *notifier
}

// subscriptionBody is every property of microsoft.graph.subscription, so an
// unknown one is refused as Graph refuses it.
type subscriptionBody struct {
	OdataType                 *string `json:"@odata.type"`
	ID                        *string `json:"id"`
	ApplicationID             *string `json:"applicationId"`
	ChangeType                *string `json:"changeType"`
	ClientState               *string `json:"clientState"`
	CreatorID                 *string `json:"creatorId"`
	EncryptionCertificate     *string `json:"encryptionCertificate"`
	EncryptionCertificateID   *string `json:"encryptionCertificateId"`
	ExpirationDateTime        *string `json:"expirationDateTime"`
	IncludeResourceData       *bool   `json:"includeResourceData"`
	LatestSupportedTLSVersion *string `json:"latestSupportedTlsVersion"`
	LifecycleNotificationURL  *string `json:"lifecycleNotificationUrl"`
	NotificationQueryOptions  *string `json:"notificationQueryOptions"`
	NotificationURL           *string `json:"notificationUrl"`
	NotificationURLAppID      *string `json:"notificationUrlAppId"`
	Resource                  *string `json:"resource"`
}

type subscriptionJSON struct {
	Context                   string  `json:"@odata.context,omitempty"`
	ID                        string  `json:"id"`
	Resource                  string  `json:"resource"`
	ApplicationID             string  `json:"applicationId"`
	ChangeType                string  `json:"changeType"`
	ClientState               *string `json:"clientState"`
	NotificationURL           string  `json:"notificationUrl"`
	NotificationQueryOptions  *string `json:"notificationQueryOptions"`
	LifecycleNotificationURL  *string `json:"lifecycleNotificationUrl"`
	ExpirationDateTime        string  `json:"expirationDateTime"`
	CreatorID                 string  `json:"creatorId"`
	IncludeResourceData       bool    `json:"includeResourceData"`
	LatestSupportedTLSVersion string  `json:"latestSupportedTlsVersion"`
	EncryptionCertificate     *string `json:"encryptionCertificate"`
	EncryptionCertificateID   *string `json:"encryptionCertificateId"`
	NotificationURLAppID      *string `json:"notificationUrlAppId"`
	NotificationContentType   string  `json:"notificationContentType"`
}

func (sub *subscription) json() subscriptionJSON {
	j := subscriptionJSON{
		ID:                        sub.id,
		Resource:                  sub.resource,
		ApplicationID:             sub.appID,
		ChangeType:                sub.changeType,
		ClientState:               sub.clientState,
		NotificationURL:           sub.notifyURL,
		ExpirationDateTime:        graphTime(sub.expires),
		CreatorID:                 sub.creatorID,
		LatestSupportedTLSVersion: sub.tlsVersion,
		NotificationContentType:   "application/json",
	}
	if sub.lifecycle != "" {
		l := sub.lifecycle
		j.LifecycleNotificationURL = &l
	}
	return j
}

// SubscriptionInfo describes a live subscription, for assertions.
type SubscriptionInfo struct {
	ID                   string
	Resource             string
	UserIDs              []string // the users covered, lower case, as listed
	ClientState          string
	NotificationURL      string
	LifecycleURL         string
	Expires              time.Time
	AppID                string
	Account              string
	CreatorID            string
	NeedsReauthorization bool // a reauthorizationRequired event is unanswered
}

// Subscriptions lists the live subscriptions, sorted by id.
func (s *Server) Subscriptions() []SubscriptionInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(s.now())
	out := make([]SubscriptionInfo, 0, len(s.subs))
	for _, sub := range s.subs {
		cs := ""
		if sub.clientState != nil {
			cs = *sub.clientState
		}
		out = append(out, SubscriptionInfo{
			ID: sub.id, Resource: sub.resource, UserIDs: append([]string(nil), sub.idList...),
			ClientState: cs, NotificationURL: sub.notifyURL, LifecycleURL: sub.lifecycle,
			Expires: sub.expires, AppID: sub.appID, Account: sub.account, CreatorID: sub.creatorID,
			NeedsReauthorization: sub.needsReauth,
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// ExpireSubscriptions removes every subscription as if its expiry had
// passed: no more notifications, and 404 for renewals.
func (s *Server) ExpireSubscriptions() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id := range s.subs {
		s.removeSubscriptionLocked(id, "expired by test hook")
	}
}

func (s *Server) removeSubscriptionLocked(id, why string) {
	sub, ok := s.subs[id]
	if !ok {
		return
	}
	delete(s.subs, id)
	sub.notifier.stop()
	s.log.Debug("subscription removed", "subscription", id, "why", why)
}

var filterIn = regexp.MustCompile(`(?i)^\$filter\s*=\s*id\s+in\s*\((.*)\)\s*$`)

// parsePresenceResource accepts the two presence resources Graph accepts,
// with or without a leading slash:
//
//	/communications/presences/{id}
//	/communications/presences?$filter=id in ('{id}','{id}',...)
//
// It returns the ids and a normalised form for duplicate detection.
func parsePresenceResource(res string) ([]string, string, *apiError) {
	r := strings.TrimPrefix(strings.TrimSpace(res), "/")
	path, query, hasQuery := strings.Cut(r, "?")
	lp := strings.ToLower(path)
	if id, ok := strings.CutPrefix(lp, "communications/presences/"); ok && !hasQuery {
		if !isGUID(id) {
			return nil, "", badRequest("Invalid resource '%s': '%s' is not a user object id (GUID).", res, id)
		}
		return []string{id}, "communications/presences/" + id, nil
	}
	if lp != "communications/presences" || !hasQuery {
		return nil, "", badRequest("Invalid or unsupported resource '%s': this fake serves presence subscriptions only, as /communications/presences/{id} or /communications/presences?$filter=id in ('{id}',...).", res)
	}
	if strings.Contains(query, "%") {
		if q, err := url.QueryUnescape(query); err == nil {
			query = q
		}
	}
	m := filterIn.FindStringSubmatch(strings.TrimSpace(query))
	if m == nil {
		return nil, "", badRequest("Invalid resource '%s': the filter must be $filter=id in ('{id}','{id}',...).", res)
	}
	var ids []string
	for _, part := range strings.Split(m[1], ",") {
		p := strings.TrimSpace(part)
		if len(p) < 2 || p[0] != '\'' || p[len(p)-1] != '\'' {
			return nil, "", badRequest("Invalid resource '%s': %q is not a quoted id.", res, p)
		}
		id := strings.ToLower(p[1 : len(p)-1])
		if !isGUID(id) {
			return nil, "", badRequest("Invalid resource '%s': '%s' is not a user object id (GUID).", res, p[1:len(p)-1])
		}
		ids = append(ids, id)
	}
	if len(ids) > MaxIDs {
		return nil, "", badRequest("The resource lists %d ids; a presence subscription may cover at most %d.", len(ids), MaxIDs)
	}
	return ids, "communications/presences?$filter=id in ('" + strings.Join(ids, "','") + "')", nil
}

// checkNotifyURL applies Graph's rule that notification URLs are https,
// relaxed to loopback http when the fake was told so.
func (s *Server) checkNotifyURL(field, raw string) *apiError {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return badRequest("Invalid %s '%s': not an absolute URL.", field, raw)
	}
	switch strings.ToLower(u.Scheme) {
	case "https":
		return nil
	case "http":
		if s.opt.AllowHTTPNotify && isLoopback(u.Hostname()) {
			return nil
		}
		if s.opt.AllowHTTPNotify {
			return badRequest("Invalid %s '%s': http is allowed only on loopback hosts; use https.", field, raw)
		}
		return badRequest("Invalid %s '%s': the URL must use https.", field, raw)
	}
	return badRequest("Invalid %s '%s': the URL must use https.", field, raw)
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// parseGraphTime reads an expirationDateTime: RFC 3339, or without a zone
// taken as UTC.
func parseGraphTime(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02T15:04:05.9999999", v, time.UTC); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is not an ISO-8601 date and time", v)
}

// clampExpiry applies the presence subscription lifetime rules: past is
// refused, under 45 minutes is raised to 45, over 60 is refused.
func clampExpiry(now time.Time, raw *string) (time.Time, *apiError) {
	if raw == nil || *raw == "" {
		return time.Time{}, badRequest("The property 'expirationDateTime' is required.")
	}
	t, err := parseGraphTime(*raw)
	if err != nil {
		return time.Time{}, badRequest("Invalid expirationDateTime: %v.", err)
	}
	if !t.After(now) {
		return time.Time{}, badRequest("Subscription expiration %s is in the past; it must be in the future.", *raw)
	}
	if t.After(now.Add(MaxSubscriptionLifetime)) {
		return time.Time{}, badRequest("Subscription expiration can only be %d minutes in the future for presence; %s is %s away.",
			int(MaxSubscriptionLifetime/time.Minute), *raw, t.Sub(now).Round(time.Second))
	}
	if floor := now.Add(MinSubscriptionLifetime); t.Before(floor) {
		t = floor
	}
	return t, nil
}

func (s *Server) createSubscription(c *call) *apiError {
	var b subscriptionBody
	if aerr := c.decode(&b, false); aerr != nil {
		return aerr
	}
	if b.ChangeType == nil || *b.ChangeType != "updated" {
		got := "<missing>"
		if b.ChangeType != nil {
			got = *b.ChangeType
		}
		return badRequest("changeType '%s' is not supported for presence subscriptions; the only supported changeType is 'updated'.", got)
	}
	if b.Resource == nil || *b.Resource == "" {
		return badRequest("The property 'resource' is required.")
	}
	ids, key, aerr := parsePresenceResource(*b.Resource)
	if aerr != nil {
		return aerr
	}
	if b.NotificationURL == nil || *b.NotificationURL == "" {
		return badRequest("The property 'notificationUrl' is required.")
	}
	if aerr := s.checkNotifyURL("notificationUrl", *b.NotificationURL); aerr != nil {
		return aerr
	}
	lifecycle := ""
	if b.LifecycleNotificationURL != nil && *b.LifecycleNotificationURL != "" {
		lifecycle = *b.LifecycleNotificationURL
		if aerr := s.checkNotifyURL("lifecycleNotificationUrl", lifecycle); aerr != nil {
			return aerr
		}
	}
	if b.ClientState != nil && len(*b.ClientState) > maxClientState {
		return badRequest("clientState is %d characters long; the maximum is %d.", len(*b.ClientState), maxClientState)
	}
	tlsVersion := "v1_2"
	if b.LatestSupportedTLSVersion != nil {
		v, ok := canonical(*b.LatestSupportedTLSVersion, []string{"v1_0", "v1_1", "v1_2", "v1_3"})
		if !ok {
			return badRequest("Invalid latestSupportedTlsVersion '%s': use v1_0, v1_1, v1_2 or v1_3.", *b.LatestSupportedTLSVersion)
		}
		tlsVersion = v
	}
	if b.IncludeResourceData != nil && *b.IncludeResourceData {
		if b.EncryptionCertificate == nil || b.EncryptionCertificateID == nil {
			return badRequest("includeResourceData is true, so encryptionCertificate and encryptionCertificateId are required.")
		}
		return errorf(http.StatusNotImplemented, "NotImplemented", "Rich notifications (includeResourceData=true) are not implemented by this fake; subscribe for basic notifications and read presence with getPresencesByUserId.")
	}
	expires, aerr := clampExpiry(c.now, b.ExpirationDateTime)
	if aerr != nil {
		return aerr
	}
	if !c.tok.delegated() {
		return forbidden("Operation: Create; Exception: [Status Code: Forbidden; Reason: Application permission is not supported for presence subscriptions; create them with a delegated token (Presence.Read.All) of a signed-in user.]")
	}

	s.mu.Lock()
	aerr = s.subscriptionConflictLocked(c, key, c.now)
	s.mu.Unlock()
	if aerr != nil {
		return aerr
	}

	// The handshake happens before the answer, as Graph does it, and
	// without the lock: the receiver may call back into the fake.
	ctx, stop := context.WithCancel(c.r.Context())
	defer stop()
	defer context.AfterFunc(s.ctx, stop)()
	if err := s.validateEndpoint(ctx, *b.NotificationURL); err != nil {
		return badRequest("Subscription validation request failed for notificationUrl: %v.", err)
	}
	// Graph validates the lifecycle URL too, even when it is the same URL.
	if lifecycle != "" {
		if err := s.validateEndpoint(ctx, lifecycle); err != nil {
			return badRequest("Subscription validation request failed for lifecycleNotificationUrl: %v.", err)
		}
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	// Checked again: another create may have won while we validated.
	if aerr := s.subscriptionConflictLocked(c, key, now); aerr != nil {
		return aerr
	}
	if s.closed {
		return errorf(http.StatusServiceUnavailable, "ServiceUnavailable", "The fake is shutting down.")
	}
	sub := &subscription{
		id:          newGUID(),
		resource:    *b.Resource,
		key:         key,
		ids:         make(map[string]bool, len(ids)),
		idList:      ids,
		changeType:  "updated",
		clientState: b.ClientState,
		notifyURL:   *b.NotificationURL,
		lifecycle:   lifecycle,
		expires:     expires,
		appID:       c.tok.clientID,
		account:     c.tok.account,
		creatorID:   c.tok.userID,
		tlsVersion:  tlsVersion,
	}
	for _, id := range ids {
		sub.ids[id] = true
	}
	sub.notifier = s.startNotifierLocked(sub.id, sub.notifyURL)
	s.subs[sub.id] = sub
	j := sub.json()
	j.Context = "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"
	writeJSON(c.w, http.StatusCreated, j)
	s.log.Info("subscription created", "subscription", sub.id, "account", sub.account, "app", sub.appID, "users", len(ids), "expires", sub.expires)
	return nil
}

// subscriptionConflictLocked applies Graph's two refusals, both 409:
// the same changeType and resource twice for one application, and a second
// presence subscription by one application for one user.
func (s *Server) subscriptionConflictLocked(c *call, key string, now time.Time) *apiError {
	for id, sub := range s.subs {
		if !now.Before(sub.expires) {
			s.removeSubscriptionLocked(id, "expired")
			continue
		}
		if sub.appID != c.tok.clientID {
			continue
		}
		if sub.key == key {
			return errorf(http.StatusConflict, "ExtensionError",
				"Operation: Create; Exception: [Status Code: Conflict; Reason: Subscription Id %s already exists for the requested combination]", sub.id)
		}
		if sub.account == c.tok.account {
			return errorf(http.StatusConflict, "ExtensionError",
				"Operation: Create; Exception: [Status Code: Conflict; Reason: A subscripton already exists. It must be deleted before a another can be made. Only one presence subscription per application per user is allowed; subscription %s of %s exists.]", sub.id, sub.account)
		}
	}
	return nil
}

// validationToken is what the fake sends: text with characters that must be
// URL-encoded, so a receiver that echoes the raw query fails as with Graph.
func validationToken() string {
	return "Validation: Testing client application reachability for subscription Request-Id: " + newGUID() + " & 100%+ok/=?"
}

// validateEndpoint performs the handshake: POST url?validationToken=... and
// expect 200, text/plain and the decoded token within ValidationTimeout.
func (s *Server) validateEndpoint(ctx context.Context, raw string) (err error) {
	defer func() {
		s.mu.Lock()
		s.deliveries.Validations++
		if err != nil {
			s.deliveries.ValidationsFailed++
		}
		s.mu.Unlock()
	}()
	tok := validationToken()
	sep := "?"
	if strings.Contains(raw, "?") {
		sep = "&"
	}
	ctx, cancel := context.WithTimeout(ctx, s.opt.ValidationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, raw+sep+"validationToken="+url.QueryEscape(tok), http.NoBody)
	if err != nil {
		return fmt.Errorf("building the request to %s: %w", raw, err)
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := s.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s did not answer within %s: %w", raw, s.opt.ValidationTimeout, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("reading the answer of %s within %s: %w", raw, s.opt.ValidationTimeout, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s answered %d; it must answer 200 OK", raw, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/plain" {
		return fmt.Errorf("%s answered Content-Type %q; it must be text/plain", raw, resp.Header.Get("Content-Type"))
	}
	if string(body) != tok {
		return fmt.Errorf("%s answered %q; it must echo the URL-decoded validationToken %q", raw, body, tok)
	}
	return nil
}

// ownedLocked finds a subscription the caller may see (write false) or
// change (write true). Other applications' subscriptions do not exist for
// the caller; another account's may be seen but not changed.
func (s *Server) ownedLocked(c *call, id string, write bool) (*subscription, *apiError) {
	sub := s.subs[strings.ToLower(id)]
	if sub != nil && !c.now.Before(sub.expires) {
		s.removeSubscriptionLocked(sub.id, "expired")
		sub = nil
	}
	if sub == nil || sub.appID != c.tok.clientID {
		return nil, errorf(http.StatusNotFound, "ResourceNotFound", "The object was not found: subscription '%s' does not exist or has expired.", id)
	}
	if !write {
		return sub, nil
	}
	if !c.tok.delegated() {
		return nil, forbidden("Application permission is not supported for presence subscriptions; change subscription '%s' with a delegated token of %s.", sub.id, sub.account)
	}
	if c.tok.account != sub.account {
		return nil, forbidden("Subscription '%s' belongs to %s; %s may not change it.", sub.id, sub.account, c.tok.account)
	}
	return sub, nil
}

func (s *Server) getSubscription(c *call, id string) *apiError {
	s.mu.Lock()
	sub, aerr := s.ownedLocked(c, id, false)
	var j subscriptionJSON
	if sub != nil {
		j = sub.json()
	}
	s.mu.Unlock()
	if aerr != nil {
		return aerr
	}
	j.Context = "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"
	writeJSON(c.w, http.StatusOK, j)
	return nil
}

func (s *Server) listSubscriptions(c *call) *apiError {
	s.mu.Lock()
	s.sweepLocked(c.now)
	list := []subscriptionJSON{}
	for _, sub := range s.subs {
		if sub.appID == c.tok.clientID && (!c.tok.delegated() || sub.account == c.tok.account) {
			list = append(list, sub.json())
		}
	}
	s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	writeJSON(c.w, http.StatusOK, map[string]any{
		"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#subscriptions",
		"value":          list,
	})
	return nil
}

func (s *Server) updateSubscription(c *call, id string) *apiError {
	var b subscriptionBody
	if aerr := c.decode(&b, false); aerr != nil {
		return aerr
	}
	s.mu.Lock()
	sub, aerr := s.ownedLocked(c, id, true)
	var cur subscription
	if sub != nil {
		cur = *sub
	}
	s.mu.Unlock()
	if aerr != nil {
		return aerr
	}
	// Only the expiry and the notification URL may change.
	same := func(p *string, v string) bool { return p == nil || *p == v }
	switch {
	case !same(b.Resource, cur.resource), !same(b.ChangeType, cur.changeType):
		return badRequest("Only expirationDateTime and notificationUrl can be updated; resource and changeType cannot.")
	case b.LifecycleNotificationURL != nil && *b.LifecycleNotificationURL != cur.lifecycle:
		return badRequest("lifecycleNotificationUrl cannot be added to or changed on an existing subscription.")
	case b.ClientState != nil && (cur.clientState == nil || *b.ClientState != *cur.clientState):
		return badRequest("Only expirationDateTime and notificationUrl can be updated; clientState cannot.")
	case b.IncludeResourceData != nil && *b.IncludeResourceData:
		return badRequest("Only expirationDateTime and notificationUrl can be updated; includeResourceData cannot.")
	case b.ExpirationDateTime == nil && b.NotificationURL == nil:
		return badRequest("Nothing to update: send expirationDateTime or notificationUrl.")
	}
	var expires time.Time
	if b.ExpirationDateTime != nil {
		if expires, aerr = clampExpiry(c.now, b.ExpirationDateTime); aerr != nil {
			return aerr
		}
	}
	newURL := ""
	if b.NotificationURL != nil && *b.NotificationURL != cur.notifyURL {
		if aerr := s.checkNotifyURL("notificationUrl", *b.NotificationURL); aerr != nil {
			return aerr
		}
		ctx, stop := context.WithCancel(c.r.Context())
		defer stop()
		defer context.AfterFunc(s.ctx, stop)()
		if err := s.validateEndpoint(ctx, *b.NotificationURL); err != nil {
			return badRequest("Subscription validation request failed for notificationUrl: %v.", err)
		}
		newURL = *b.NotificationURL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, aerr = s.ownedLocked(c, id, true)
	if aerr != nil {
		return aerr
	}
	if !expires.IsZero() {
		sub.expires = expires
	}
	if newURL != "" {
		sub.notifyURL = newURL
		sub.notifier.setURL(newURL)
	}
	// A renewal also reauthorizes.
	sub.needsReauth = false
	j := sub.json()
	j.Context = "https://graph.microsoft.com/v1.0/$metadata#subscriptions/$entity"
	writeJSON(c.w, http.StatusOK, j)
	return nil
}

func (s *Server) deleteSubscription(c *call, id string) *apiError {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, aerr := s.ownedLocked(c, id, true)
	if aerr != nil {
		return aerr
	}
	s.removeSubscriptionLocked(sub.id, "deleted")
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) reauthorizeSubscription(c *call, id string) *apiError {
	if aerr := c.decode(&struct{}{}, true); aerr != nil {
		return aerr
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, aerr := s.ownedLocked(c, id, true)
	if aerr != nil {
		return aerr
	}
	sub.needsReauth = false
	c.w.WriteHeader(http.StatusNoContent)
	return nil
}
