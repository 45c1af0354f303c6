package fakegraph

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// TestAzidentityGetsTokens runs the bridge's credential code, azidentity on
// MSAL, against the fake over TLS.
func TestAzidentityGetsTokens(t *testing.T) {
	// azidentity's clock is real, so the fake's must be too.
	e := newEnv(t, func(o *Options) { o.Now = time.Now })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	copts := azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: e.ts.URL + "/"},
		Transport: e.ts.Client(),
	}
	scopes := policy.TokenRequestOptions{Scopes: []string{"https://graph.microsoft.com/.default"}}

	app, err := azidentity.NewClientSecretCredential(tenantID, appID, appSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: copts, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	at, err := app.GetToken(ctx, scopes)
	if err != nil {
		t.Fatalf("client secret credential: %v", err)
	}
	if d := time.Until(at.ExpiresOn); d < 58*time.Minute || d > time.Hour {
		t.Fatalf("app token expires in %s", d)
	}
	// The token is app-only: it may set presence for anyone...
	wantStatus(t, e.setPresence(at.Token, alice, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall"}), http.StatusOK)
	// ...and may not subscribe.
	rc := newReceiver(t, true)
	r, _ := e.subscribe(at.Token, e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusForbidden)

	//lint:ignore SA1019 ROPC is deprecated but is what a headless service account uses.
	user, err := azidentity.NewUsernamePasswordCredential(tenantID, appID, svc, svcPW, &azidentity.UsernamePasswordCredentialOptions{
		ClientOptions: copts, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ut, err := user.GetToken(ctx, scopes)
	if err != nil {
		t.Fatalf("username password credential: %v", err)
	}
	var me map[string]any
	mr := e.do(http.MethodGet, "/v1.0/me", ut.Token, nil)
	wantStatus(t, mr, http.StatusOK)
	mr.json(t, &me)
	if me["id"] != svcID {
		t.Fatalf("/me = %v", me)
	}
	r, _ = e.subscribe(ut.Token, e.subBody(rc, time.Hour, alice))
	wantStatus(t, r, http.StatusCreated)

	// A second GetToken is served from MSAL's cache.
	before := e.fg.Stats().Requests[OpToken]
	if _, err := user.GetToken(ctx, scopes); err != nil {
		t.Fatal(err)
	}
	st := e.fg.Stats()
	if st.Requests[OpToken] != before || st.Requests[OpToken] != 2 || st.Requests[OpOpenIDConfiguration] < 1 || st.Requests[OpUserRealm] != 1 {
		t.Fatalf("login requests %v", st.Requests)
	}

	// Wrong credentials surface as errors, not tokens.
	bad, err := azidentity.NewClientSecretCredential(tenantID, appID, "wrong", &azidentity.ClientSecretCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bad.GetToken(ctx, scopes); err == nil {
		t.Fatal("wrong client secret got a token")
	}
	//lint:ignore SA1019 as above
	badUser, err := azidentity.NewUsernamePasswordCredential(tenantID, appID, svc, "wrong", &azidentity.UsernamePasswordCredentialOptions{ClientOptions: copts, DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := badUser.GetToken(ctx, scopes); err == nil {
		t.Fatal("wrong password got a token")
	}
}
