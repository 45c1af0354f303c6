package fakegenesys

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

func TestTokenNeedsBasicAuth(t *testing.T) {
	e := newEnv(t, nil)
	grant := url.Values{"grant_type": {"client_credentials"}}

	r := e.postToken(grant, clientID, secret)
	wantStatus(t, r, http.StatusOK)
	var tok struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	r.json(t, &tok)
	if tok.AccessToken == "" || tok.TokenType != "bearer" || tok.ExpiresIn != 86400 {
		t.Fatalf("token answer %s", r.body)
	}
	wantStatus(t, e.doTok(http.MethodGet, "/api/v2/presence/definitions", tok.AccessToken, nil), http.StatusOK)

	// The credentials in the form alone are refused, as Genesys does.
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}}
	r = e.postToken(form, "", "")
	wantStatus(t, r, http.StatusUnauthorized)
	var oe struct{ Error, Description string }
	r.json(t, &oe)
	if oe.Error != "invalid_client" || !strings.Contains(oe.Description, "Basic") {
		t.Fatalf("form-only credentials: %s", r.body)
	}

	for _, tc := range []struct {
		name       string
		form       url.Values
		user, pass string
		status     int
		code       string
	}{
		{"wrong secret", grant, clientID, "nope", http.StatusUnauthorized, "invalid_client"},
		{"unknown client", grant, client2ID + "x", secret2, http.StatusUnauthorized, "invalid_client"},
		{"no credentials", grant, "", "", http.StatusUnauthorized, "invalid_client"},
		{"no grant_type", url.Values{}, clientID, secret, http.StatusBadRequest, "invalid_request"},
		{"password grant", url.Values{"grant_type": {"password"}}, clientID, secret, http.StatusBadRequest, "unsupported_grant_type"},
	} {
		r := e.postToken(tc.form, tc.user, tc.pass)
		var oe struct{ Error, Description string }
		r.json(t, &oe)
		if r.status != tc.status || oe.Error != tc.code || oe.Description == "" {
			t.Errorf("%s: %d %s, want %d %s", tc.name, r.status, r.body, tc.status, tc.code)
		}
	}
	wantStatus(t, e.raw(http.MethodGet, "/oauth/token", nil, ""), http.StatusMethodNotAllowed)
	if n := e.fg.Stats().Requests[OpToken]; n != 8 {
		t.Fatalf("token requests counted %d, want 8", n)
	}
}

// The bridge uses golang.org/x/oauth2/clientcredentials; with
// AuthStyleInHeader it gets a token (the secret's odd characters survive
// the form-encoding x/oauth2 applies before Basic), with AuthStyleInParams
// it does not.
func TestTokenWithClientCredentialsLibrary(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, e.client)
	cfg := clientcredentials.Config{ClientID: clientID, ClientSecret: secret, TokenURL: e.ts.URL + "/oauth/token", AuthStyle: oauth2.AuthStyleInHeader}
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatalf("AuthStyleInHeader: %v", err)
	}
	if d := time.Until(tok.Expiry); d < 86000*time.Second || d > 86401*time.Second {
		t.Fatalf("expiry in %v, want about 86400 s", d)
	}
	wantStatus(t, e.doTok(http.MethodGet, "/api/v2/users/"+alice+"/presences/purecloud", tok.AccessToken, nil), http.StatusOK)

	cfg.AuthStyle = oauth2.AuthStyleInParams
	_, err = cfg.Token(ctx)
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_client" || re.Response.StatusCode != http.StatusUnauthorized {
		t.Fatalf("AuthStyleInParams: got %v, want 401 invalid_client", err)
	}
}

func TestTokenExpiry(t *testing.T) {
	e := newEnv(t, func(o *Options) { o.TokenLifetime = 30 * time.Second })
	r := e.postToken(url.Values{"grant_type": {"client_credentials"}}, clientID, secret)
	wantStatus(t, r, http.StatusOK)
	var tok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	r.json(t, &tok)
	if tok.ExpiresIn != 30 {
		t.Fatalf("expires_in %d, want 30", tok.ExpiresIn)
	}
	path := "/api/v2/users/" + alice + "/routingstatus"
	e.clock.Advance(29 * time.Second)
	wantStatus(t, e.doTok(http.MethodGet, path, tok.AccessToken, nil), http.StatusOK)
	e.clock.Advance(time.Second)
	r = e.doTok(http.MethodGet, path, tok.AccessToken, nil)
	wantStatus(t, r, http.StatusUnauthorized)
	if b := r.apiErr(t); b.Code != "bad.credentials" || !strings.Contains(b.Message, "expired") {
		t.Fatalf("expired token: %+v", b)
	}

	r = e.doTok(http.MethodGet, path, "", nil)
	wantStatus(t, r, http.StatusUnauthorized)
	if b := r.apiErr(t); b.Code != "authentication.required" {
		t.Fatalf("no token: %+v", b)
	}
	r = e.doTok(http.MethodGet, path, "made-up", nil)
	wantStatus(t, r, http.StatusUnauthorized)
	if b := r.apiErr(t); b.Code != "bad.credentials" || strings.Contains(b.Message, "expired") {
		t.Fatalf("unknown token: %+v", b)
	}
	r = e.raw(http.MethodGet, path, map[string]string{"Authorization": "Basic " + e.tok}, "")
	wantStatus(t, r, http.StatusUnauthorized)

	fresh, err := e.fg.Token(clientID)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.doTok(http.MethodGet, path, fresh, nil), http.StatusOK)
	e.fg.ExpireTokens()
	wantStatus(t, e.doTok(http.MethodGet, path, fresh, nil), http.StatusUnauthorized)
	if _, err := e.fg.Token("nobody"); err == nil {
		t.Fatal("Token for an unknown client succeeded")
	}
}
