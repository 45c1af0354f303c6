package fakegraph

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestSetPresencePairsAndDurations(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	tests := []struct {
		av, ac, dur string // dur "" = omitted
		wantOK      bool
		wantTTL     time.Duration
		wantMsg     string
	}{
		{"Available", "Available", "", true, 5 * time.Minute, ""},
		{"Busy", "InACall", "PT1H", true, time.Hour, ""},
		{"Busy", "InAConferenceCall", "PT5M", true, 5 * time.Minute, ""},
		{"Away", "Away", "PT4H", true, 4 * time.Hour, ""},
		{"DoNotDisturb", "Presenting", "PT1H30M", true, 90 * time.Minute, ""},
		{"busy", "inacall", "PT300S", true, 5 * time.Minute, ""}, // enum values are case-insensitive
		{"Busy", "Busy", "", false, 0, "Invalid combination"},
		{"Busy", "InAMeeting", "", false, 0, "Invalid combination"},
		{"DoNotDisturb", "DoNotDisturb", "", false, 0, "Invalid combination"},
		{"Available", "Busy", "", false, 0, "Invalid combination"},
		{"Offline", "OffWork", "", false, 0, "Invalid combination"},
		{"BeRightBack", "BeRightBack", "", false, 0, "Invalid combination"},
		{"Busy", "InACall", "PT4M59S", false, 0, "out of range"},
		{"Busy", "InACall", "PT4H1M", false, 0, "out of range"},
		{"Busy", "InACall", "P1D", false, 0, "out of range"},
		{"Busy", "InACall", "5 minutes", false, 0, "ISO-8601"},
		{"Busy", "InACall", "PT", false, 0, "ISO-8601"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%s/%s", tt.av, tt.ac, tt.dur), func(t *testing.T) {
			body := map[string]any{"sessionId": appID, "availability": tt.av, "activity": tt.ac}
			if tt.dur != "" {
				body["expirationDuration"] = tt.dur
			}
			r := e.setPresence(tok, bob, body)
			if !tt.wantOK {
				wantStatus(t, r, http.StatusBadRequest)
				if ge := r.graphErr(t); ge.Code != "BadRequest" || !strings.Contains(ge.Message, tt.wantMsg) {
					t.Fatalf("error %+v, want message with %q", ge, tt.wantMsg)
				}
				return
			}
			wantStatus(t, r, http.StatusOK)
			if len(r.body) != 0 {
				t.Fatalf("success body %q, want empty", r.body)
			}
			ss, ok := e.fg.AppSession(bob, appID)
			if !ok {
				t.Fatal("no app session")
			}
			if got := ss.Expires.Sub(e.clock.Now()); got != tt.wantTTL {
				t.Fatalf("session expires in %s, want %s", got, tt.wantTTL)
			}
			// Stored in Graph's spelling whatever the case sent.
			if p, ok := canonicalPair(tt.av, tt.ac, setPresencePairs); !ok || ss.Availability != p.availability || ss.Activity != p.activity {
				t.Fatalf("session %+v", ss)
			}
		})
	}
}

func TestSetPresenceSessionIDMustBeCaller(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	for name, body := range map[string]map[string]any{
		"other app id": {"sessionId": app2ID, "availability": "Busy", "activity": "InACall"},
		"missing":      {"availability": "Busy", "activity": "InACall"},
		"made up":      {"sessionId": "my-session", "availability": "Busy", "activity": "InACall"},
	} {
		r := e.setPresence(tok, alice, body)
		wantStatus(t, r, http.StatusBadRequest)
		if ge := r.graphErr(t); !strings.Contains(ge.Message, "sessionId") {
			t.Errorf("%s: %+v", name, ge)
		}
	}
	if len(e.fg.Sessions(alice)) != 0 {
		t.Fatal("a refused setPresence left a session")
	}
}

func TestRequestBodyDecoding(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	path := "/v1.0/users/" + alice + "/presence/setPresence"
	good := `{"activity":"InACall","availability":"Busy","expirationDuration":"PT1H","sessionId":"` + appID + `"}`

	// Plain and gzip bodies both work; e.do always gzips.
	wantStatus(t, e.raw(http.MethodPost, path, tok, "application/json", "", []byte(good)), http.StatusOK)
	wantStatus(t, e.do(http.MethodPost, path, tok, map[string]any{"sessionId": appID, "availability": "Away", "activity": "Away"}), http.StatusOK)
	wantPresence(t, e.fg, alice, "Away", "Away")

	// An empty body labelled gzip is still empty (no body at all is fine
	// for clearUserPreferredPresence).
	wantStatus(t, e.raw(http.MethodPost, "/v1.0/users/"+alice+"/presence/clearUserPreferredPresence", tok, "application/json", "gzip", nil), http.StatusOK)
	// Decompressed size is limited too.
	var bomb bytes.Buffer
	zw := gzip.NewWriter(&bomb)
	_, _ = zw.Write(bytes.Repeat([]byte(" "), maxBody+10))
	_ = zw.Close()
	r := e.raw(http.MethodPost, path, tok, "application/json", "gzip", bomb.Bytes())
	wantStatus(t, r, http.StatusRequestEntityTooLarge)
	r.graphErr(t)

	for name, tc := range map[string]struct {
		ct, enc, body string
		status        int
		msg           string
	}{
		"malformed json":   {"application/json", "", `{"sessionId":`, 400, "JSON"},
		"trailing data":    {"application/json", "", good + `}`, 400, "after the JSON"},
		"wrong type":       {"application/json", "", `{"sessionId":5}`, 400, "sessionId"},
		"unknown property": {"application/json", "", `{"sessionId":"` + appID + `","availability":"Busy","activity":"InACall","color":"red"}`, 400, "color"},
		"bad gzip":         {"application/json", "gzip", good, 400, "gzip"},
		"form body":        {"application/x-www-form-urlencoded", "", "a=b", 415, "Content-Type"},
		"empty body":       {"application/json", "", "", 400, "empty"},
		"brotli":           {"application/json", "br", good, 415, "Content-Encoding"},
	} {
		r := e.raw(http.MethodPost, path, tok, tc.ct, tc.enc, []byte(tc.body))
		if r.status != tc.status {
			t.Errorf("%s: status %d, want %d: %s", name, r.status, tc.status, r.body)
			continue
		}
		if ge := r.graphErr(t); !strings.Contains(ge.Message, tc.msg) {
			t.Errorf("%s: message %q lacks %q", name, ge.Message, tc.msg)
		}
	}
}

func TestAggregation(t *testing.T) {
	type step struct {
		app    string // "" none, else "Availability/Activity" via setPresence
		client string // "" none, else SetClient
		pref   string // "" none, else setUserPreferredPresence
		want   string
	}
	tests := []struct {
		name string
		step
	}{
		{"nothing", step{want: "Offline/Offline"}},
		{"app only", step{app: "Busy/InACall", want: "Busy/InACall"}},
		{"meeting in Teams beats app Available", step{app: "Available/Available", client: "Busy/InAMeeting", want: "Busy/InAMeeting"}},
		{"app DND beats Teams meeting", step{app: "DoNotDisturb/Presenting", client: "Busy/InAMeeting", want: "DoNotDisturb/Presenting"}},
		{"Teams DND beats app call", step{app: "Busy/InACall", client: "DoNotDisturb/DoNotDisturb", want: "DoNotDisturb/DoNotDisturb"}},
		{"app Available beats Teams Away", step{app: "Available/Available", client: "Away/Away", want: "Available/Available"}},
		{"app Away loses to Teams BeRightBack", step{app: "Away/Away", client: "BeRightBack/BeRightBack", want: "BeRightBack/BeRightBack"}},
		{"preferred wins over sessions", step{app: "Busy/InACall", pref: "Available/Available", want: "Available/Available"}},
		{"preferred needs a session", step{pref: "DoNotDisturb/DoNotDisturb", want: "Offline/Offline"}},
		{"preferred with only the Teams client", step{client: "Available/Available", pref: "Offline/OffWork", want: "Offline/OffWork"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nil)
			tok := e.appToken()
			if tt.client != "" {
				av, ac, _ := strings.Cut(tt.client, "/")
				if err := e.fg.SetClient(carol, av, ac); err != nil {
					t.Fatal(err)
				}
			}
			if tt.app != "" {
				av, ac, _ := strings.Cut(tt.app, "/")
				wantStatus(t, e.setPresence(tok, carol, map[string]any{"sessionId": appID, "availability": av, "activity": ac, "expirationDuration": "PT1H"}), http.StatusOK)
			}
			if tt.pref != "" {
				av, ac, _ := strings.Cut(tt.pref, "/")
				wantStatus(t, e.do(http.MethodPost, "/v1.0/users/"+carol+"/presence/setUserPreferredPresence", tok, map[string]any{"availability": av, "activity": ac}), http.StatusOK)
			}
			av, ac, _ := strings.Cut(tt.want, "/")
			wantPresence(t, e.fg, carol, av, ac)
			// The Graph read agrees with the hook.
			var p presenceJSON
			r := e.do(http.MethodGet, "/v1.0/communications/presences/"+carol, tok, nil)
			wantStatus(t, r, http.StatusOK)
			r.json(t, &p)
			if p.Availability != av || p.Activity != ac || p.ID != carol {
				t.Fatalf("GET presence %+v, want %s", p, tt.want)
			}
		})
	}
}

func TestAvailableFadesAndSessionsExpire(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	set := func(av, ac, dur string) {
		t.Helper()
		wantStatus(t, e.setPresence(tok, alice, map[string]any{"sessionId": appID, "availability": av, "activity": ac, "expirationDuration": dur}), http.StatusOK)
	}
	seq0 := wantPresence(t, e.fg, alice, "Offline", "Offline")
	set("Available", "Available", "PT1H")
	seq1 := wantPresence(t, e.fg, alice, "Available", "Available")
	e.clock.Advance(FadeAfter - time.Second)
	if seq := wantPresence(t, e.fg, alice, "Available", "Available"); seq != seq1 {
		t.Fatalf("sequence moved without a change: %s -> %s", seq1, seq)
	}
	e.clock.Advance(time.Second)
	seq2 := wantPresence(t, e.fg, alice, "Available", "AvailableInactive")
	e.clock.Advance(FadeAfter)
	seq3 := wantPresence(t, e.fg, alice, "Away", "Away")
	set("Available", "Available", "PT1H") // a refresh undoes the fade
	seq4 := wantPresence(t, e.fg, alice, "Available", "Available")
	if !(seq0 < seq1 && seq1 < seq2 && seq2 < seq3 && seq3 < seq4) {
		t.Fatalf("sequence numbers not increasing: %s %s %s %s %s", seq0, seq1, seq2, seq3, seq4)
	}

	// A Busy session does not fade; it expires into Offline.
	set("Busy", "InACall", "PT5M")
	e.clock.Advance(5*time.Minute - time.Second)
	wantPresence(t, e.fg, alice, "Busy", "InACall")
	e.clock.Advance(time.Second)
	wantPresence(t, e.fg, alice, "Offline", "Offline")
	if _, ok := e.fg.AppSession(alice, appID); ok {
		t.Fatal("expired session still listed")
	}

	// Setting again with the same session id replaces, not adds.
	set("Busy", "InACall", "PT1H")
	set("DoNotDisturb", "Presenting", "PT10M")
	if ss := e.fg.Sessions(alice); len(ss) != 1 || ss[0].Availability != "DoNotDisturb" || !ss[0].Expires.Equal(e.clock.Now().Add(10*time.Minute)) {
		t.Fatalf("sessions after replace %+v", ss)
	}
}

func TestClearPresence(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	clear := func() resp {
		return e.do(http.MethodPost, "/v1.0/users/"+bob+"/presence/clearPresence", tok, map[string]any{"sessionId": appID})
	}
	r := clear()
	wantStatus(t, r, http.StatusNotFound)
	r.graphErr(t)
	if err := e.fg.SetClient(bob, "Available", "Available"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.setPresence(tok, bob, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall"}), http.StatusOK)
	wantPresence(t, e.fg, bob, "Busy", "InACall")
	wantStatus(t, clear(), http.StatusOK)
	wantPresence(t, e.fg, bob, "Available", "Available") // the Teams client remains
	wantStatus(t, clear(), http.StatusNotFound)
	if err := e.fg.ClearClient(bob); err != nil {
		t.Fatal(err)
	}
	wantPresence(t, e.fg, bob, "Offline", "Offline")
	// clearPresence with another app's id is refused, not a 404.
	r = e.do(http.MethodPost, "/v1.0/users/"+bob+"/presence/clearPresence", tok, map[string]any{"sessionId": app2ID})
	wantStatus(t, r, http.StatusBadRequest)
}

func TestUserPreferredPresence(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	path := "/v1.0/users/" + alice + "/presence/setUserPreferredPresence"
	for _, tc := range []struct {
		av, ac, dur string
		status      int
		ttl         time.Duration
	}{
		{"DoNotDisturb", "DoNotDisturb", "", 200, 24 * time.Hour},
		{"Busy", "Busy", "", 200, 24 * time.Hour},
		{"Available", "Available", "", 200, 7 * 24 * time.Hour},
		{"BeRightBack", "BeRightBack", "", 200, 7 * 24 * time.Hour},
		{"Away", "Away", "", 200, 7 * 24 * time.Hour},
		{"Offline", "OffWork", "PT8H", 200, 8 * time.Hour},
		{"Busy", "InACall", "", 400, 0},
		{"DoNotDisturb", "Presenting", "", 400, 0},
		{"Available", "Available", "soon", 400, 0},
	} {
		body := map[string]any{"availability": tc.av, "activity": tc.ac}
		if tc.dur != "" {
			body["expirationDuration"] = tc.dur
		}
		r := e.do(http.MethodPost, path, tok, body)
		if r.status != tc.status {
			t.Fatalf("%s/%s %s: status %d, want %d: %s", tc.av, tc.ac, tc.dur, r.status, tc.status, r.body)
		}
		if tc.status != 200 {
			r.graphErr(t)
			continue
		}
		p, ok := e.fg.PreferredPresence(alice)
		if !ok || p.Availability != tc.av || p.Expires.Sub(e.clock.Now()) != tc.ttl {
			t.Fatalf("%s/%s: preferred %+v, want ttl %s", tc.av, tc.ac, p, tc.ttl)
		}
	}
	// clearUserPreferredPresence takes no body, as the SDK sends it.
	wantStatus(t, e.raw(http.MethodPost, "/v1.0/users/"+alice+"/presence/clearUserPreferredPresence", tok, "", "", nil), http.StatusOK)
	if _, ok := e.fg.PreferredPresence(alice); ok {
		t.Fatal("preferred presence not cleared")
	}
}

func TestGetPresencesByUserID(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	path := "/v1.0/communications/getPresencesByUserId"
	ids := func(n int) []string {
		out := []string{alice, bob}
		for i := len(out); i < n; i++ {
			out = append(out, fmt.Sprintf("00000000-0000-4000-9000-%012d", i))
		}
		return out
	}
	r := e.do(http.MethodPost, path, tok, map[string]any{"ids": ids(651)})
	wantStatus(t, r, http.StatusBadRequest)
	if ge := r.graphErr(t); !strings.Contains(ge.Message, "650") {
		t.Fatalf("%+v", ge)
	}
	r = e.do(http.MethodPost, path, tok, map[string]any{"ids": []string{alice, "alice@contoso.example"}})
	wantStatus(t, r, http.StatusBadRequest)
	if ge := r.graphErr(t); !strings.Contains(ge.Message, "GUID") {
		t.Fatalf("%+v", ge)
	}
	wantStatus(t, e.do(http.MethodPost, path, tok, map[string]any{"ids": []string{}}), http.StatusBadRequest)

	wantStatus(t, e.setPresence(tok, bob, map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InAConferenceCall"}), http.StatusOK)
	r = e.do(http.MethodPost, path, tok, map[string]any{"ids": ids(650)})
	wantStatus(t, r, http.StatusOK)
	var out struct {
		Value []presenceJSON `json:"value"`
	}
	r.json(t, &out)
	if len(out.Value) != 2 {
		t.Fatalf("got %d presences, want 2 (unknown ids omitted): %s", len(out.Value), r.body)
	}
	byID := map[string]presenceJSON{}
	for _, p := range out.Value {
		byID[p.ID] = p
	}
	if p := byID[bob]; p.Availability != "Busy" || p.Activity != "InAConferenceCall" || p.SequenceNumber == "" {
		t.Fatalf("bob %+v", p)
	}
	if p := byID[alice]; p.Availability != "Offline" || p.Activity != "Offline" {
		t.Fatalf("alice %+v", p)
	}
	if !strings.Contains(string(r.body), `"statusMessage":null`) {
		t.Fatalf("statusMessage not null: %s", r.body)
	}
}

func TestGetUser(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.appToken()
	var u map[string]any
	r := e.do(http.MethodGet, "/v1.0/users/ALICE@contoso.example?$select=id,userPrincipalName", tok, nil)
	wantStatus(t, r, http.StatusOK)
	r.json(t, &u)
	if u["id"] != alice || u["userPrincipalName"] != "alice@contoso.example" || len(u) != 3 { // plus @odata.context
		t.Fatalf("user %v", u)
	}
	r = e.do(http.MethodGet, "/v1.0/users/"+strings.ToUpper(bob), tok, nil)
	wantStatus(t, r, http.StatusOK)
	u = nil
	r.json(t, &u)
	if u["displayName"] != "Bob Sales" || u["id"] != bob {
		t.Fatalf("user %v", u)
	}
	r = e.do(http.MethodGet, "/v1.0/users/nobody@contoso.example", tok, nil)
	wantStatus(t, r, http.StatusNotFound)
	if ge := r.graphErr(t); ge.Code != "Request_ResourceNotFound" {
		t.Fatalf("%+v", ge)
	}
	r = e.do(http.MethodGet, "/v1.0/users/"+alice+"?$select=id,shoeSize", tok, nil)
	wantStatus(t, r, http.StatusBadRequest)
	r.graphErr(t)
	// /me needs a delegated token.
	wantStatus(t, e.do(http.MethodGet, "/v1.0/me", tok, nil), http.StatusBadRequest)
	// Unknown routes and methods answer in the envelope too.
	r = e.do(http.MethodGet, "/v1.0/groups", tok, nil)
	wantStatus(t, r, http.StatusBadRequest)
	r.graphErr(t)
	r = e.do(http.MethodDelete, "/v1.0/users/"+alice+"/presence", tok, nil)
	wantStatus(t, r, http.StatusMethodNotAllowed)
	r.graphErr(t)
}

func TestDelegatedWritesOnlyOwnPresence(t *testing.T) {
	e := newEnv(t, nil)
	tok := e.userToken(svc)
	body := map[string]any{"sessionId": appID, "availability": "Busy", "activity": "InACall"}
	r := e.setPresence(tok, alice, body)
	wantStatus(t, r, http.StatusForbidden)
	r.graphErr(t)
	wantStatus(t, e.setPresence(tok, svcID, body), http.StatusOK)
	// Reads of others are fine.
	wantStatus(t, e.do(http.MethodGet, "/v1.0/users/"+alice+"/presence", tok, nil), http.StatusOK)
}

func TestParseISODuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT5M": 5 * time.Minute, "PT4H": 4 * time.Hour, "PT1H30M": 90 * time.Minute, "PT300S": 5 * time.Minute,
		"P1D": 24 * time.Hour, "P1W": 7 * 24 * time.Hour, "PT0.5S": 500 * time.Millisecond, "P1DT2H": 26 * time.Hour,
		"pt5m": 5 * time.Minute,
	} {
		got, err := parseISODuration(in)
		if err != nil || got != want {
			t.Errorf("parseISODuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", "P", "PT", "5M", "PT5", "P5H", "PTM", "-PT5M", "PT5M5M", "PT1HT1M", "P1.2.3D"} {
		if got, err := parseISODuration(in); err == nil {
			t.Errorf("parseISODuration(%q) = %s, want an error", in, got)
		}
	}
	for d, want := range map[time.Duration]string{5 * time.Minute: "PT5M", 26 * time.Hour: "P1DT2H", 90 * time.Second: "PT1M30S"} {
		if got := formatISODuration(d); got != want {
			t.Errorf("formatISODuration(%s) = %s, want %s", d, got, want)
		}
	}
}
