package presence

import (
	"fmt"
	"slices"
	"testing"
)

// TestAccessCombinations runs the rule engine over every combination of the
// watcher's role, department and colleague listing, the owner's sharing and
// share-with, delegation and the block mode. The expectation is derived
// from the rules as the issue states them, not from the code.
func TestAccessCombinations(t *testing.T) {
	type shareKind int
	const (
		shareNobody shareKind = iota
		shareEveryone
		shareRole
		shareDepartment
		shareColleague
	)
	n := 0
	for _, role := range Roles {
		for _, sameDept := range []bool{false, true} {
			for _, sharing := range []bool{false, true} {
				for _, kind := range []shareKind{shareNobody, shareEveryone, shareRole, shareDepartment, shareColleague} {
					for _, delegate := range []bool{false, true} {
						for _, block := range []BlockMode{BlockPolite, BlockRefuse} {
							n++
							owner := Person{Number: "1001", Name: "Owner", Department: "Sales", Role: RoleUser}
							w := Person{Number: "2001", Name: "Watcher", Department: "Support", Role: role}
							if sameDept {
								w.Department = "Sales"
							}
							s := Sharing{Share: sharing}
							switch kind {
							case shareEveryone:
								s.With.Everyone = true
							case shareRole:
								s.With.Roles = []Role{RoleSupervisor, RoleQA}
							case shareDepartment:
								s.With.Departments = []string{"Sales"}
							case shareColleague:
								s.With.Extensions = []string{"2001"}
							}
							if delegate {
								s.Delegates = []string{"2001"}
							}
							p := NewPolicy([]Person{owner, w, {Number: "3001", Role: RoleUser}},
								map[string]Sharing{"1001": s}, PolicyOptions{Block: block})

							matched := kind == shareEveryone ||
								(kind == shareRole && (role == RoleSupervisor || role == RoleQA)) ||
								(kind == shareDepartment && sameDept) ||
								kind == shareColleague
							want := AccessNone
							switch {
							case !sharing:
							case delegate:
								want = AccessFull
							case role == RoleAdmin || matched:
								want = AccessLamp
							}
							name := fmt.Sprintf("role=%s sameDept=%v share=%v kind=%d delegate=%v block=%d", role, sameDept, sharing, kind, delegate, block)
							if got := p.Access("2001", "1001"); got != want {
								t.Errorf("%s: access %s, want %s", name, got, want)
							}
							if got := p.Access("1001", "1001"); got != AccessFull {
								t.Errorf("%s: oneself sees %s", name, got)
							}
							if got := p.Delegate("2001", "1001"); got != (sharing && delegate) {
								t.Errorf("%s: Delegate = %v", name, got)
							}
							// A bystander is covered only by everyone (or by being admin, which 3001 is not).
							bystander := AccessNone
							if sharing && kind == shareEveryone {
								bystander = AccessLamp
							}
							if got := p.Access("3001", "1001"); got != bystander {
								t.Errorf("%s: bystander sees %s, want %s", name, got, bystander)
							}
							if p.Options().Block != block {
								t.Errorf("%s: block mode lost", name)
							}
						}
					}
				}
			}
		}
	}
	if n != 5*2*2*5*2*2 {
		t.Fatalf("ran %d combinations", n)
	}
}

func TestAccessUnknownWatcherAndDefault(t *testing.T) {
	people := []Person{{Number: "1001", Role: RoleUser}, {Number: "1002", Role: RoleAdmin}}
	p := NewPolicy(people, nil, PolicyOptions{Default: Sharing{Share: true, With: ShareWith{Everyone: true}}})
	if got := p.Access("pbx", "1001"); got != AccessLamp {
		t.Fatalf("unknown watcher under the everyone default: %s", got)
	}
	p = NewPolicy(people, map[string]Sharing{"1001": {Share: true}}, PolicyOptions{})
	if got := p.Access("pbx", "1001"); got != AccessNone {
		t.Fatalf("unknown watcher without everyone: %s", got)
	}
	if got := p.Access("1002", "1001"); got != AccessLamp {
		t.Fatalf("admin: %s", got)
	}
	if got := p.Access("1002", "1003"); got != AccessNone {
		t.Fatalf("an unconfigured owner falls back to a default that does not share: %s", got)
	}
	var none *Policy
	if got := none.Access("x", "1001"); got != AccessFull {
		t.Fatalf("no policy: %s", got)
	}
}

func TestViewPrecedence(t *testing.T) {
	ring := Dialog{ID: "call-7", CallID: "abc@pbx", LocalTag: "l", RemoteTag: "r", Direction: Recipient, State: Early,
		Remote: Party{URI: "sip:0999@pbx", Display: "Caller"}}
	busyAway := NewPolicy(nil, nil, PolicyOptions{AwayBusy: true})
	meeting := Cloud{Source: SourceTeams, State: CloudBusy, Note: "In a meeting", Detail: "Busy/InAMeeting"}
	brb := Cloud{Source: SourceGenesys, State: CloudAway, Note: "Break"}
	signedOut := Cloud{Source: SourceTeams, State: CloudOffline, Note: "Offline"}
	for _, tc := range []struct {
		name   string
		snap   *Snapshot
		access Access
		lamp   Lamp
		manual bool
	}{
		{"idle", &Snapshot{}, AccessFull, LampIdle, false},
		{"dnd lights busy", &Snapshot{Status: StatusDND}, AccessLamp, LampBusy, true},
		{"a live call shows over dnd", &Snapshot{Status: StatusDND, Dialogs: []Dialog{ring}}, AccessLamp, LampRinging, false},
		{"away is idle on a lamp", &Snapshot{Status: StatusAway}, AccessLamp, LampIdle, false},
		{"away busy when configured", &Snapshot{Status: StatusAway, Policy: busyAway}, AccessLamp, LampBusy, true},
		{"available is idle", &Snapshot{Status: StatusAvailable}, AccessLamp, LampIdle, false},
		{"blocked sees nothing of a call", &Snapshot{Dialogs: []Dialog{ring}}, AccessNone, LampIdle, false},
		{"blocked sees nothing of dnd", &Snapshot{Status: StatusDND, Message: "at lunch"}, AccessNone, LampIdle, false},
		{"a teams meeting lights busy", &Snapshot{Clouds: []Cloud{meeting}}, AccessLamp, LampBusy, true},
		{"a call shows over a meeting", &Snapshot{Clouds: []Cloud{meeting}, Dialogs: []Dialog{ring}}, AccessLamp, LampRinging, false},
		{"dnd shows over a meeting", &Snapshot{Clouds: []Cloud{meeting}, Status: StatusDND}, AccessLamp, LampBusy, true},
		{"my own available beats a meeting", &Snapshot{Clouds: []Cloud{meeting}, Status: StatusAvailable}, AccessLamp, LampIdle, false},
		{"my own away beats a meeting", &Snapshot{Clouds: []Cloud{meeting}, Status: StatusAway}, AccessLamp, LampIdle, false},
		{"busy wins over another service's away", &Snapshot{Clouds: []Cloud{brb, meeting}}, AccessLamp, LampBusy, true},
		{"a service's away is idle on a lamp", &Snapshot{Clouds: []Cloud{brb}}, AccessLamp, LampIdle, false},
		{"a service's away busy when configured", &Snapshot{Clouds: []Cloud{brb}, Policy: busyAway}, AccessLamp, LampBusy, true},
		{"signed out of teams is offline", &Snapshot{Clouds: []Cloud{signedOut}}, AccessLamp, LampOffline, false},
		{"available elsewhere beats offline", &Snapshot{Clouds: []Cloud{signedOut, {Source: SourceGenesys, State: CloudAvailable}}}, AccessLamp, LampIdle, false},
		{"blocked sees nothing of a meeting", &Snapshot{Clouds: []Cloud{meeting}}, AccessNone, LampIdle, false},
	} {
		v := tc.snap.View(tc.access)
		if got := tc.snap.LampFor(tc.access); got != tc.lamp || v.Synthetic != tc.manual {
			t.Errorf("%s: lamp %s manual %v, want %s %v", tc.name, got, v.Synthetic, tc.lamp, tc.manual)
		}
		if tc.access == AccessNone && (v.Status != StatusDefault || v.Message != "" || len(v.Dialogs) != 0 || v.Cloud != (Cloud{})) {
			t.Errorf("%s: a blocked watcher is shown %+v", tc.name, v)
		}
	}

	snap := Snapshot{Dialogs: []Dialog{ring}, Message: "in the lab"}
	full, lamp := snap.View(AccessFull), snap.View(AccessLamp)
	if full.Dialogs[0] != ring || full.Message != "in the lab" {
		t.Fatalf("full view changed the dialog: %+v", full)
	}
	d := lamp.Dialogs[0]
	if d.CallID != "" || d.LocalTag != "" || d.RemoteTag != "" || d.Remote != (Party{}) || d.ID == ring.ID ||
		d.State != Early || d.Direction != Recipient || lamp.Message != "in the lab" {
		t.Fatalf("lamp view leaks or loses: %+v", lamp)
	}
	if again := snap.View(AccessLamp); again.Dialogs[0].ID != d.ID {
		t.Fatal("anonymous dialog id not stable")
	}
}

func TestHubPolicyAndStatusReachWatchers(t *testing.T) {
	h := NewHub()
	people := []Person{{Number: "1001"}, {Number: "1002"}, {Number: "1003"}}
	open := Sharing{Share: true, With: ShareWith{Everyone: true}}
	h.SetPolicy(NewPolicy(people, map[string]Sharing{"1001": open, "1002": open}, PolicyOptions{}))
	var w1, w2 recorder
	s1, _ := h.Watch("1001", &w1)
	h.Watch("1002", &w2)
	if s1.Policy == nil || s1.Policy.Access("1003", "1001") != AccessLamp {
		t.Fatal("snapshot does not carry the policy in force")
	}

	// 1001 stops sharing: only 1001's watchers get a new snapshot.
	h.SetPolicy(NewPolicy(people, map[string]Sharing{"1001": {}, "1002": open}, PolicyOptions{}))
	if len(w1.snaps) != 1 || len(w2.snaps) != 0 {
		t.Fatalf("offers after a sharing change: 1001 %d, 1002 %d", len(w1.snaps), len(w2.snaps))
	}
	if got := w1.last().Policy.Access("1003", "1001"); got != AccessNone || w1.last().Seq <= s1.Seq {
		t.Fatalf("new snapshot: access %s, seq %d after %d", got, w1.last().Seq, s1.Seq)
	}

	// A change of the directory reaches everyone.
	h.SetPolicy(NewPolicy(append(slices.Clone(people), Person{Number: "1004"}), map[string]Sharing{"1001": {}, "1002": open}, PolicyOptions{}))
	if len(w1.snaps) != 2 || len(w2.snaps) != 1 {
		t.Fatalf("offers after a directory change: 1001 %d, 1002 %d", len(w1.snaps), len(w2.snaps))
	}

	h.SetStatus("1002", StatusDND, "back at 3")
	h.SetStatus("1002", StatusDND, "back at 3") // unchanged: no offer
	if len(w2.snaps) != 2 || w2.last().Status != StatusDND || w2.last().Message != "back at 3" || w2.last().LampFor(AccessLamp) != LampBusy {
		t.Fatalf("status: %d offers, last %+v", len(w2.snaps), w2.last())
	}
	h.SetDialogs("1002", SourceSIP, []Dialog{{ID: "c", State: Confirmed}})
	if last := w2.last(); last.Status != StatusDND || len(last.Dialogs) != 1 {
		t.Fatalf("a call lost the status: %+v", last)
	}
}

func TestParseStatus(t *testing.T) {
	for in, want := range map[string]Status{"": StatusDefault, "default": StatusDefault, "available": StatusAvailable, "dnd": StatusDND, "away": StatusAway} {
		if got, ok := ParseStatus(in); !ok || got != want {
			t.Errorf("ParseStatus(%q) = %v %v", in, got, ok)
		}
	}
	if _, ok := ParseStatus("busy"); ok {
		t.Error("busy is not a status a user sets")
	}
}
