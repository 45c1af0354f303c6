package fakegraph

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// token is an issued access token. Tokens are opaque random strings; the
// fake remembers what each one stands for.
type token struct {
	clientID string
	account  string // user principal name; "" for an app-only token
	userID   string // the account's object id; "" for an app-only token
	expires  time.Time
}

func (t *token) delegated() bool { return t.account != "" }

type refreshGrant struct {
	clientID string
	account  string
}

// AppToken issues an app-only access token for a registered client id, as
// the client_credentials grant would, for tests that skip the token
// endpoint.
func (s *Server) AppToken(clientID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.opt.Apps[clientID]; !ok {
		return "", fmt.Errorf("app token: client id %q is not registered", clientID)
	}
	return s.issueLocked(clientID, "", s.now()), nil
}

// DelegatedToken issues a delegated access token for an account signed in
// through a registered client id, as the password grant would.
func (s *Server) DelegatedToken(account, clientID string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.opt.Apps[clientID]; !ok {
		return "", fmt.Errorf("delegated token: client id %q is not registered", clientID)
	}
	if _, ok := s.lookupAccount(account); !ok {
		return "", fmt.Errorf("delegated token: account %q is not in Options.Accounts", account)
	}
	return s.issueLocked(clientID, account, s.now()), nil
}

// ExpireTokens makes every access token issued so far expired, so the next
// Graph call with one gets 401 and the client must refresh. Refresh tokens
// stay valid.
func (s *Server) ExpireTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, t := range s.tokens {
		if t.expires.After(now) {
			t.expires = now
		}
	}
}

// lookupAccount finds an account by name, case-insensitively as Entra does,
// and returns its canonical spelling.
func (s *Server) lookupAccount(name string) (string, bool) {
	for a := range s.opt.Accounts {
		if strings.EqualFold(a, name) {
			return a, true
		}
	}
	return "", false
}

// accountUserIDLocked is the object id of an account: the directory user
// with that UPN, or an id derived from the name.
func (s *Server) accountUserIDLocked(account string) string {
	if u, ok := s.byUPN[strings.ToLower(account)]; ok {
		return u.ID
	}
	return nameGUID(account)
}

func (s *Server) issueLocked(clientID, account string, now time.Time) string {
	t := &token{clientID: clientID, account: account, expires: now.Add(s.opt.TokenLifetime)}
	if account != "" {
		t.userID = s.accountUserIDLocked(account)
	}
	v := randomToken("fg.at.")
	s.tokens[v] = t
	return v
}

// authenticateLocked checks the bearer token of a Graph request.
func (s *Server) authenticateLocked(c *call) (*token, *apiError) {
	unauth := func(msg string) *apiError {
		c.w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		return errorf(http.StatusUnauthorized, "InvalidAuthenticationToken", "%s", msg)
	}
	h := c.r.Header.Get("Authorization")
	scheme, v, _ := strings.Cut(h, " ")
	v = strings.TrimSpace(v)
	if h == "" || !strings.EqualFold(scheme, "Bearer") || v == "" {
		return nil, unauth("Access token is empty.")
	}
	t, ok := s.tokens[v]
	if !ok {
		return nil, unauth("Access token validation failure: the token was not issued by this tenant.")
	}
	if !c.now.Before(t.expires) {
		return nil, unauth("Lifetime validation failed, the token is expired.")
	}
	return t, nil
}

// serveLogin serves the Entra endpoints MSAL uses.
func (s *Server) serveLogin(w http.ResponseWriter, r *http.Request) {
	seg := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	eq := func(i int, v string) bool { return i < len(seg) && strings.EqualFold(seg[i], v) }
	op, status := OpUnknown, http.StatusNotFound
	defer func() {
		s.mu.Lock()
		s.stats.recordLogin(op, status)
		s.mu.Unlock()
	}()
	now := s.now()
	corr := r.Header.Get("client-request-id")
	fail := func(e *oauthError) {
		status = e.status
		e.write(w, now, corr)
	}
	switch {
	case len(seg) == 4 && eq(1, "oauth2") && eq(2, "v2.0") && eq(3, "token"):
		op = OpToken
		if r.Method != http.MethodPost {
			fail(oauthErr(http.StatusMethodNotAllowed, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a %s request.", r.Method))
			return
		}
		if e := s.checkTenant(seg[0]); e != nil {
			fail(e)
			return
		}
		resp, e := s.token(w, r, now)
		if e != nil {
			fail(e)
			return
		}
		status = http.StatusOK
		w.Header().Set("Cache-Control", "no-store")
		writeJSON(w, status, resp)
	case len(seg) == 4 && eq(1, "v2.0") && eq(2, ".well-known") && eq(3, "openid-configuration"):
		op = OpOpenIDConfiguration
		if e := s.checkTenant(seg[0]); e != nil {
			fail(e)
			return
		}
		status = http.StatusOK
		writeJSON(w, status, s.openIDConfiguration(r, seg[0]))
	case len(seg) == 4 && eq(1, "discovery") && eq(2, "v2.0") && eq(3, "keys"):
		// Named by the OpenID configuration. Tokens are opaque, so there
		// are no keys to publish.
		op, status = "jwks", http.StatusOK
		writeJSON(w, status, map[string]any{"keys": []any{}})
	case len(seg) == 3 && eq(0, "common") && eq(1, "userrealm"):
		// MSAL asks this before a password grant, to learn whether the
		// account is federated. Every account here is managed.
		op, status = OpUserRealm, http.StatusOK
		domain := seg[2]
		if _, d, ok := strings.Cut(seg[2], "@"); ok {
			domain = d
		}
		writeJSON(w, status, map[string]string{
			"ver":                 "1.0",
			"account_type":        "Managed",
			"domain_name":         domain,
			"cloud_instance_name": "microsoftonline.com",
			"cloud_audience_urn":  "urn:federation:MicrosoftOnline",
		})
	default:
		writeJSON(w, status, map[string]string{"error": "not_found", "error_description": "fakegraph serves no " + r.URL.Path})
	}
}

func (s *Server) checkTenant(t string) *oauthError {
	if strings.EqualFold(t, s.opt.Tenant) || strings.EqualFold(t, "organizations") || strings.EqualFold(t, "common") {
		return nil
	}
	return oauthErr(http.StatusBadRequest, "invalid_tenant", 90002,
		"Tenant '%s' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.", t)
}

// baseURL is the fake's own origin as the client reached it, so the
// documents it serves point back at it over http or https alike.
func baseURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

func (s *Server) openIDConfiguration(r *http.Request, tenantSeg string) map[string]any {
	base := baseURL(r)
	t := base + "/" + tenantSeg
	return map[string]any{
		"token_endpoint":                        t + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              t + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		// MSAL requires the issuer's scheme and host to match the
		// authority it was given.
		"issuer":                          base + "/" + s.opt.Tenant + "/v2.0",
		"request_uri_parameter_supported": false,
		"authorization_endpoint":          t + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":   t + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":            t + "/oauth2/v2.0/logout",
		"http_logout_supported":           true,
		"frontchannel_logout_supported":   true,
		"claims_supported":                []string{"sub", "iss", "aud", "exp", "iat", "nbf", "name", "oid", "tid", "preferred_username", "ver"},
		"tenant_region_scope":             nil,
		"cloud_instance_name":             "microsoftonline.com",
		"cloud_graph_host_name":           "graph.windows.net",
		"msgraph_host":                    "graph.microsoft.com",
		"rbac_url":                        "https://pas.windows.net",
	}
}

// token runs the token endpoint's grants.
func (s *Server) token(w http.ResponseWriter, r *http.Request, now time.Time) (map[string]any, *oauthError) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must be application/x-www-form-urlencoded: %v.", err)
	}
	f := r.PostForm
	clientID, secret := f.Get("client_id"), f.Get("client_secret")
	if bu, bp, ok := r.BasicAuth(); ok {
		// RFC 6749 2.3.1: both halves are form-urlencoded before Basic.
		if v, err := url.QueryUnescape(bu); err == nil {
			bu = v
		}
		if v, err := url.QueryUnescape(bp); err == nil {
			bp = v
		}
		if clientID != "" && clientID != bu {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", 900144, "The client_id in the body (%s) and in the Authorization header (%s) differ.", clientID, bu)
		}
		if secret != "" {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", 50027, "The client secret was sent both in the body and in the Authorization header; send it once.")
		}
		clientID, secret = bu, bp
	}
	if clientID == "" {
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	want, ok := s.opt.Apps[clientID]
	if !ok {
		return nil, oauthErr(http.StatusBadRequest, "unauthorized_client", 700016,
			"Application with identifier '%s' was not found in the directory '%s'.", clientID, s.opt.Tenant)
	}
	if secret != "" && subtle.ConstantTimeCompare([]byte(secret), []byte(want)) != 1 {
		return nil, oauthErr(http.StatusUnauthorized, "invalid_client", 7000215,
			"Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", clientID)
	}
	scope := f.Get("scope")
	grant := f.Get("grant_type")
	switch grant {
	case "client_credentials":
		if secret == "" {
			return nil, oauthErr(http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		}
		// MSAL adds the OpenID scopes to every request; Entra ignores
		// them for client credentials.
		scopes := slices.DeleteFunc(strings.Fields(scope), func(v string) bool {
			return slices.Contains([]string{"openid", "profile", "offline_access", "email"}, v)
		})
		if len(scopes) == 0 {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		}
		if len(scopes) != 1 || !strings.HasSuffix(scopes[0], "/.default") {
			return nil, oauthErr(http.StatusBadRequest, "invalid_scope", 1002012,
				"The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
		}
		return s.tokenResponseLocked(r, clientID, "", scope, now), nil

	case "password":
		user, pw := f.Get("username"), f.Get("password")
		if user == "" || pw == "" {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameters: 'username' and 'password'.")
		}
		if scope == "" {
			return nil, oauthErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
		}
		account, ok := s.lookupAccount(user)
		if !ok || subtle.ConstantTimeCompare([]byte(pw), []byte(s.opt.Accounts[account])) != 1 {
			return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
		}
		return s.tokenResponseLocked(r, clientID, account, scope, now), nil

	case "refresh_token":
		rt := f.Get("refresh_token")
		g, ok := s.refresh[rt]
		if rt == "" || !ok {
			return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid: unknown refresh token.")
		}
		if g.clientID != clientID {
			return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 70000, "The refresh token was issued to client '%s', not '%s'.", g.clientID, clientID)
		}
		if _, ok := s.opt.Accounts[g.account]; !ok {
			return nil, oauthErr(http.StatusBadRequest, "invalid_grant", 50057, "The user account is disabled.")
		}
		if scope == "" {
			scope = "https://graph.microsoft.com/.default offline_access"
		}
		return s.tokenResponseLocked(r, clientID, g.account, scope, now), nil
	case "":
		return nil, oauthErr(http.StatusBadRequest, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
	}
	return nil, oauthErr(http.StatusBadRequest, "unsupported_grant_type", 70003,
		"The app requested an unsupported grant type '%s'; this fake supports client_credentials, password and refresh_token.", grant)
}

func (s *Server) tokenResponseLocked(r *http.Request, clientID, account, scope string, now time.Time) map[string]any {
	at := s.issueLocked(clientID, account, now)
	life := int64(s.opt.TokenLifetime / time.Second)
	resp := map[string]any{
		"token_type":     "Bearer",
		"scope":          scope,
		"expires_in":     life,
		"ext_expires_in": life,
		"access_token":   at,
	}
	if account == "" {
		return resp
	}
	oid := s.accountUserIDLocked(account)
	if slices.Contains(strings.Fields(scope), "offline_access") {
		rt := randomToken("fg.rt.")
		s.refresh[rt] = refreshGrant{clientID: clientID, account: account}
		resp["refresh_token"] = rt
	}
	// MSAL keys its account cache on these; it decodes but does not verify
	// the ID token, so an unsigned one serves.
	name := account
	if u, ok := s.byUPN[strings.ToLower(account)]; ok && u.DisplayName != "" {
		name = u.DisplayName
	}
	resp["id_token"] = unsignedJWT(map[string]any{
		"aud":                clientID,
		"iss":                baseURL(r) + "/" + s.opt.Tenant + "/v2.0",
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(s.opt.TokenLifetime).Unix(),
		"name":               name,
		"oid":                oid,
		"preferred_username": account,
		"sub":                oid,
		"tid":                s.opt.Tenant,
		"ver":                "2.0",
	})
	ci, _ := json.Marshal(map[string]string{"uid": oid, "utid": s.opt.Tenant})
	resp["client_info"] = base64.RawURLEncoding.EncodeToString(ci)
	return resp
}

func unsignedJWT(claims map[string]any) string {
	h, _ := json.Marshal(map[string]string{"typ": "JWT", "alg": "none"})
	c, _ := json.Marshal(claims)
	return base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(c) + "."
}
