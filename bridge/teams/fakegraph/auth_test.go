package fakegraph

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

type tokenResponse struct {
	TokenType    string `json:"token_type"`
	ExpiresIn    int    `json:"expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	IDToken      string `json:"id_token"`
	ClientInfo   string `json:"client_info"`
	Error        string `json:"error"`
	ErrorDesc    string `json:"error_description"`
	ErrorCodes   []int  `json:"error_codes"`
}

const tokenPath = "/" + tenantID + "/oauth2/v2.0/token"

func TestTokenClientCredentials(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TokenLifetime = 90 * time.Second })
	scope := "https://graph.microsoft.com/.default"
	tests := []struct {
		name        string
		form        url.Values
		basicU      string
		basicP      string
		path        string
		wantStatus  int
		wantErr     string
		wantAADSTS  int
		usableToken bool
	}{
		{name: "secret in form", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {appSecret}, "scope": {scope}}, wantStatus: 200, usableToken: true},
		{name: "secret in basic auth", form: url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, basicU: appID, basicP: appSecret, wantStatus: 200, usableToken: true},
		{name: "organizations tenant", path: "/organizations/oauth2/v2.0/token", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {app2ID}, "client_secret": {app2Sec}, "scope": {scope}}, wantStatus: 200, usableToken: true},
		{name: "wrong secret", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {"nope"}, "scope": {scope}}, wantStatus: 401, wantErr: "invalid_client", wantAADSTS: 7000215},
		{name: "wrong basic secret", form: url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, basicU: appID, basicP: "nope", wantStatus: 401, wantErr: "invalid_client", wantAADSTS: 7000215},
		{name: "no secret", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {appID}, "scope": {scope}}, wantStatus: 401, wantErr: "invalid_client", wantAADSTS: 7000218},
		{name: "unknown app", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {"33333333-3333-4333-8333-333333333333"}, "client_secret": {"x"}, "scope": {scope}}, wantStatus: 400, wantErr: "unauthorized_client", wantAADSTS: 700016},
		{name: "scope without .default", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {appSecret}, "scope": {"Presence.ReadWrite.All"}}, wantStatus: 400, wantErr: "invalid_scope", wantAADSTS: 1002012},
		{name: "no scope", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {appSecret}}, wantStatus: 400, wantErr: "invalid_request", wantAADSTS: 900144},
		{name: "unknown tenant", path: "/33333333-3333-4333-8333-333333333333/oauth2/v2.0/token", form: url.Values{"grant_type": {"client_credentials"}, "client_id": {appID}, "client_secret": {appSecret}, "scope": {scope}}, wantStatus: 400, wantErr: "invalid_tenant", wantAADSTS: 90002},
		{name: "unsupported grant", form: url.Values{"grant_type": {"authorization_code"}, "client_id": {appID}, "client_secret": {appSecret}, "scope": {scope}}, wantStatus: 400, wantErr: "unsupported_grant_type", wantAADSTS: 70003},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := tt.path
			if path == "" {
				path = tokenPath
			}
			r := e.postForm(path, tt.form, tt.basicU, tt.basicP)
			wantStatus(t, r, tt.wantStatus)
			var tr tokenResponse
			r.json(t, &tr)
			if tt.wantErr != "" {
				if tr.Error != tt.wantErr || len(tr.ErrorCodes) != 1 || tr.ErrorCodes[0] != tt.wantAADSTS || !strings.Contains(tr.ErrorDesc, "AADSTS") {
					t.Fatalf("error = %q %v %q, want %s AADSTS%d", tr.Error, tr.ErrorCodes, tr.ErrorDesc, tt.wantErr, tt.wantAADSTS)
				}
				return
			}
			if tr.TokenType != "Bearer" || tr.ExpiresIn != 90 || tr.AccessToken == "" {
				t.Fatalf("token response %+v", tr)
			}
			if tr.RefreshToken != "" || tr.IDToken != "" {
				t.Fatalf("app-only token came with user tokens: %+v", tr)
			}
			if tt.usableToken {
				wantStatus(t, e.do(http.MethodGet, "/v1.0/users/"+alice+"/presence", tr.AccessToken, nil), http.StatusOK)
			}
		})
	}
}

func TestTokenPasswordAndRefresh(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TokenLifetime = 60 * time.Second })
	form := url.Values{
		"grant_type": {"password"}, "client_id": {appID}, "username": {strings.ToUpper(svc)}, "password": {svcPW},
		"scope": {"https://graph.microsoft.com/.default openid profile offline_access"}, "client_info": {"1"},
	}
	r := e.postForm(tokenPath, form, "", "")
	wantStatus(t, r, http.StatusOK)
	var tr tokenResponse
	r.json(t, &tr)
	if tr.AccessToken == "" || tr.RefreshToken == "" || tr.IDToken == "" || tr.ClientInfo == "" {
		t.Fatalf("delegated token response incomplete: %+v", tr)
	}
	parts := strings.Split(tr.IDToken, ".")
	claimsJSON, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(claimsJSON, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["oid"] != svcID || claims["tid"] != tenantID || claims["aud"] != appID || claims["preferred_username"] != svc {
		t.Fatalf("id_token claims %v", claims)
	}

	// The delegated token works and is the account's: /me resolves to it.
	var me map[string]any
	got := e.do(http.MethodGet, "/v1.0/me?$select=id,userPrincipalName", tr.AccessToken, nil)
	wantStatus(t, got, http.StatusOK)
	got.json(t, &me)
	if me["id"] != svcID {
		t.Fatalf("/me = %v", me)
	}

	// Expiry: 401 after the lifetime; the refresh token gets a new one.
	e.clock.Advance(61 * time.Second)
	r401 := e.do(http.MethodGet, "/v1.0/me", tr.AccessToken, nil)
	wantStatus(t, r401, http.StatusUnauthorized)
	if ge := r401.graphErr(t); ge.Code != "InvalidAuthenticationToken" || !strings.Contains(ge.Message, "expired") {
		t.Fatalf("expired token error %+v", ge)
	}
	r = e.postForm(tokenPath, url.Values{"grant_type": {"refresh_token"}, "client_id": {appID}, "refresh_token": {tr.RefreshToken}, "scope": {"https://graph.microsoft.com/.default offline_access"}}, "", "")
	wantStatus(t, r, http.StatusOK)
	var tr2 tokenResponse
	r.json(t, &tr2)
	if tr2.AccessToken == "" || tr2.AccessToken == tr.AccessToken || tr2.RefreshToken == "" {
		t.Fatalf("refresh response %+v", tr2)
	}
	wantStatus(t, e.do(http.MethodGet, "/v1.0/me", tr2.AccessToken, nil), http.StatusOK)

	for name, f := range map[string]url.Values{
		"wrong password":       {"grant_type": {"password"}, "client_id": {appID}, "username": {svc}, "password": {"bad"}, "scope": {"openid"}},
		"unknown account":      {"grant_type": {"password"}, "client_id": {appID}, "username": {"eve@contoso.example"}, "password": {svcPW}, "scope": {"openid"}},
		"refresh, other app":   {"grant_type": {"refresh_token"}, "client_id": {app2ID}, "refresh_token": {tr.RefreshToken}},
		"refresh, made-up one": {"grant_type": {"refresh_token"}, "client_id": {appID}, "refresh_token": {"fg.rt.nope"}},
	} {
		r := e.postForm(tokenPath, f, "", "")
		var er tokenResponse
		r.json(t, &er)
		if r.status != http.StatusBadRequest || er.Error != "invalid_grant" {
			t.Errorf("%s: %d %+v, want 400 invalid_grant", name, r.status, er)
		}
	}
}

func TestGraphRejectsMissingUnknownAndExpiredTokens(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TokenLifetime = 30 * time.Second })
	path := "/v1.0/users/" + alice + "/presence"
	tok := e.appToken()
	wantStatus(t, e.do(http.MethodGet, path, tok, nil), http.StatusOK)
	for name, tc := range map[string]struct {
		header string
		want   string
	}{
		"no header":     {"", "empty"},
		"basic scheme":  {"Basic " + base64.StdEncoding.EncodeToString([]byte(appID+":"+appSecret)), "empty"},
		"unknown token": {"Bearer fg.at.0000", "not issued"},
	} {
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+path, nil)
		if tc.header != "" {
			req.Header.Set("Authorization", tc.header)
		}
		r := e.send(req)
		if r.status != http.StatusUnauthorized {
			t.Fatalf("%s: status %d", name, r.status)
		}
		if ge := r.graphErr(t); ge.Code != "InvalidAuthenticationToken" || !strings.Contains(ge.Message, tc.want) {
			t.Fatalf("%s: %+v", name, ge)
		}
		if r.header.Get("WWW-Authenticate") == "" {
			t.Fatalf("%s: no WWW-Authenticate", name)
		}
	}
	e.clock.Advance(30 * time.Second)
	r := e.do(http.MethodGet, path, tok, nil)
	wantStatus(t, r, http.StatusUnauthorized)
	if ge := r.graphErr(t); !strings.Contains(ge.Message, "expired") {
		t.Fatalf("%+v", ge)
	}

	// ExpireTokens forces the same without moving the clock.
	tok = e.appToken()
	e.fg.ExpireTokens()
	wantStatus(t, e.do(http.MethodGet, path, tok, nil), http.StatusUnauthorized)
}

func TestOpenIDConfigurationPointsBack(t *testing.T) {
	e := newEnv(t, nil)
	req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/"+tenantID+"/v2.0/.well-known/openid-configuration", nil)
	r := e.send(req)
	wantStatus(t, r, http.StatusOK)
	var doc map[string]any
	r.json(t, &doc)
	for k, want := range map[string]string{
		"token_endpoint":         e.ts.URL + tokenPath,
		"authorization_endpoint": e.ts.URL + "/" + tenantID + "/oauth2/v2.0/authorize",
		"issuer":                 e.ts.URL + "/" + tenantID + "/v2.0",
	} {
		if doc[k] != want {
			t.Errorf("%s = %v, want %s", k, doc[k], want)
		}
	}
	req, _ = http.NewRequest(http.MethodGet, e.ts.URL+"/common/UserRealm/"+url.PathEscape(svc)+"?api-version=1.0", nil)
	r = e.send(req)
	var realm map[string]string
	r.json(t, &realm)
	if r.status != 200 || realm["account_type"] != "Managed" || realm["domain_name"] != "contoso.example" {
		t.Fatalf("user realm %d %v", r.status, realm)
	}
}
