package fakegraph

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"
)

// receiver plays the gateway's webhook endpoint.
type receiver struct {
	ts *httptest.Server

	mu          sync.Mutex
	validation  string // how to answer a validation: ok, wrong, encoded, slow, status500, json
	failNext    int    // notification POSTs still to answer 500
	validations []string
	notes       []entry // change notifications
	lifecycle   []entry
	posts       int
}

// entry is a lenient reading of one notification, as the bridge should
// decode them (CLOUD-APIS.md 4.4).
type entry struct {
	SubscriptionID                 string            `json:"subscriptionId"`
	ClientState                    *string           `json:"clientState"`
	ChangeType                     string            `json:"changeType"`
	TenantID                       string            `json:"tenantId"`
	Resource                       string            `json:"resource"`
	SubscriptionExpirationDateTime string            `json:"subscriptionExpirationDateTime"`
	ResourceData                   map[string]string `json:"resourceData"`
	OrganizationID                 string            `json:"organizationId"`
	LifecycleEvent                 string            `json:"lifecycleEvent"`
}

func newReceiver(t *testing.T, useTLS bool) *receiver {
	t.Helper()
	rc := &receiver{validation: "ok"}
	h := http.HandlerFunc(rc.serve)
	if useTLS {
		rc.ts = httptest.NewTLSServer(h)
	} else {
		rc.ts = httptest.NewServer(h)
	}
	t.Cleanup(rc.ts.Close)
	return rc
}

func (rc *receiver) notifyURL() string    { return rc.ts.URL + "/notify?tenant=x" }
func (rc *receiver) lifecycleURL() string { return rc.ts.URL + "/lifecycle" }

func (rc *receiver) set(f func(*receiver)) {
	rc.mu.Lock()
	f(rc)
	rc.mu.Unlock()
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	if tok, ok := r.URL.Query()["validationToken"]; ok {
		rc.mu.Lock()
		rc.validations = append(rc.validations, tok[0])
		mode := rc.validation
		rc.mu.Unlock()
		switch mode {
		case "ok":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok[0])
		case "wrong":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "not the token")
		case "encoded":
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, url.QueryEscape(tok[0]))
		case "json":
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, tok[0])
		case "status500":
			http.Error(w, "boom", http.StatusInternalServerError)
		case "slow":
			select {
			case <-r.Context().Done():
			case <-time.After(3 * time.Second):
			}
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, tok[0])
		}
		return
	}
	b, _ := io.ReadAll(r.Body)
	var body struct {
		Value []entry `json:"value"`
	}
	if err := json.Unmarshal(b, &body); err != nil {
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.posts++
	if rc.failNext > 0 {
		rc.failNext--
		http.Error(w, "try later", http.StatusInternalServerError)
		return
	}
	if r.URL.Path == "/lifecycle" {
		rc.lifecycle = append(rc.lifecycle, body.Value...)
	} else {
		rc.notes = append(rc.notes, body.Value...)
	}
	w.WriteHeader(http.StatusAccepted)
}

func (rc *receiver) notifications() []entry {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]entry(nil), rc.notes...)
}

func (rc *receiver) lifecycleEvents() []entry {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]entry(nil), rc.lifecycle...)
}

// subBody is a presence subscription request for ids, expiring in d on the
// env's clock.
func (e *env) subBody(rc *receiver, d time.Duration, ids ...string) map[string]any {
	res := "/communications/presences?$filter=id in ("
	for i, id := range ids {
		if i > 0 {
			res += ","
		}
		res += "'" + id + "'"
	}
	res += ")"
	return map[string]any{
		"changeType":               "updated",
		"notificationUrl":          rc.notifyURL(),
		"lifecycleNotificationUrl": rc.lifecycleURL(),
		"resource":                 res,
		"expirationDateTime":       e.now().Add(d).Format(time.RFC3339),
		"clientState":              "secret-client-state",
	}
}

func (e *env) subscribe(token string, body map[string]any) (resp, subscriptionJSON) {
	e.t.Helper()
	r := e.do(http.MethodPost, "/v1.0/subscriptions", token, body)
	var sj subscriptionJSON
	if r.status == http.StatusCreated {
		r.json(e.t, &sj)
	}
	return r, sj
}
