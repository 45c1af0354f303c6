// Package presence is the core of blfgw: it holds what every extension is
// doing, merges what the sources say about it, and hands the latest state of
// an extension to everyone watching it.
//
// It imports nothing else from the module. Sources (SIP dialogs, later Teams,
// Genesys and the user's own status) call the Hub; sinks (SIP subscriptions,
// later the bridges and the web HUD) register a Watcher and are offered
// immutable Snapshots. Delivery is state, not a queue: a Watcher keeps only
// the newest Snapshot, so a slow sink never delays the others and a burst of
// changes becomes one notification.
package presence

import (
	"strings"
	"sync"
	"time"
)

// Source says where an update came from, so that a sink never echoes an
// update back to the source that produced it.
type Source uint8

const (
	SourceSIP Source = iota + 1
	SourceManual
	SourceTeams
	SourceGenesys
)

func (s Source) String() string {
	switch s {
	case SourceSIP:
		return "sip"
	case SourceManual:
		return "manual"
	case SourceTeams:
		return "teams"
	case SourceGenesys:
		return "genesys"
	}
	return "unknown"
}

// Direction is the monitored extension's role in a dialog (RFC 4235).
type Direction uint8

const (
	DirectionUnknown Direction = iota
	Initiator                  // the extension placed the call
	Recipient                  // the extension is being called
)

func (d Direction) String() string {
	switch d {
	case Initiator:
		return "initiator"
	case Recipient:
		return "recipient"
	}
	return ""
}

// CallState is an RFC 4235 dialog state.
type CallState uint8

const (
	Trying CallState = iota + 1
	Proceeding
	Early
	Confirmed
	Terminated
)

var callStateNames = [...]string{"", "trying", "proceeding", "early", "confirmed", "terminated"}

func (s CallState) String() string {
	if int(s) < len(callStateNames) {
		return callStateNames[s]
	}
	return ""
}

// ParseCallState maps an RFC 4235 state name to a CallState; 0 if unknown.
func ParseCallState(s string) CallState {
	for i, n := range callStateNames {
		if i > 0 && strings.EqualFold(n, s) {
			return CallState(i)
		}
	}
	return 0
}

// Party is one end of a dialog, seen from the monitored extension.
type Party struct {
	URI     string // identity, e.g. sip:300@pbx.example.com
	Display string // display name, e.g. the caller's name
	Target  string // remote target URI, if known
}

// Dialog is one call leg of a monitored extension. Tags are from the
// extension's point of view: LocalTag is the extension's own tag.
type Dialog struct {
	ID        string
	CallID    string
	LocalTag  string
	RemoteTag string
	Direction Direction
	State     CallState
	Held      bool // the extension put the call on hold (+sip.rendering=no)
	Local     Party
	Remote    Party
	Since     time.Time // when this dialog entered its state, if known
}

// Lamp is what a BLF key shows for an extension.
type Lamp uint8

const (
	LampIdle Lamp = iota
	LampRinging
	LampOutgoing
	LampBusy
	LampHold
	LampOffline
)

var lampNames = [...]string{"idle", "ringing", "outgoing", "busy", "hold", "offline"}

func (l Lamp) String() string {
	if int(l) < len(lampNames) {
		return lampNames[l]
	}
	return "unknown"
}

// LampOf rolls an extension's dialogs up into one lamp. A ringing call shows
// over a held or busy one, because that is the one a colleague may act on.
func LampOf(dialogs []Dialog) Lamp {
	lamp := LampIdle
	rank := func(l Lamp) int {
		switch l {
		case LampRinging:
			return 5
		case LampBusy:
			return 4
		case LampHold:
			return 3
		case LampOutgoing:
			return 2
		}
		return 0
	}
	for i := range dialogs {
		var l Lamp
		d := &dialogs[i]
		switch {
		case d.State == Confirmed && d.Held:
			l = LampHold
		case d.State == Confirmed:
			l = LampBusy
		case d.State == Early && d.Direction == Recipient:
			l = LampRinging
		case d.State == Trying || d.State == Proceeding || d.State == Early:
			l = LampOutgoing
		default:
			continue
		}
		if rank(l) > rank(lamp) {
			lamp = l
		}
	}
	return lamp
}

// CloudState is the coarse state a presence service (Teams, Genesys)
// reports for a user, after the bridge's mapping table.
type CloudState uint8

const (
	CloudUnknown   CloudState = iota // says nothing: the other sources decide
	CloudAvailable                   // signed in and free
	CloudAway                        // away, be right back, out of office
	CloudBusy                        // in a meeting, presenting, Do Not Disturb, on a Teams call
	CloudOffline                     // signed out, appear offline
)

var cloudStateNames = [...]string{"unknown", "available", "away", "busy", "offline"}

func (c CloudState) String() string {
	if int(c) < len(cloudStateNames) {
		return cloudStateNames[c]
	}
	return "unknown"
}

// ParseCloudState maps "available", "away", "busy" and "offline" to a
// CloudState; anything else is CloudUnknown.
func ParseCloudState(s string) CloudState {
	for i, n := range cloudStateNames {
		if n == s {
			return CloudState(i)
		}
	}
	return CloudUnknown
}

// Cloud is what one presence service says about a user.
type Cloud struct {
	Source Source
	State  CloudState
	Note   string    // what the service shows, e.g. "In a meeting"
	Detail string    // the service's own value, e.g. "Busy/InAMeeting"
	Since  time.Time // when the service's state last changed, if known
}

// rank orders cloud states when two services disagree: the one that
// asks colleagues to hold back wins.
func (c CloudState) rank() int {
	switch c {
	case CloudBusy:
		return 4
	case CloudAway:
		return 3
	case CloudAvailable:
		return 2
	case CloudOffline:
		return 1
	}
	return 0
}

// Snapshot is the immutable state of one extension at one moment. Sinks may
// memoise their encodings of it with Render, so one change is encoded once
// however many watchers it reaches.
type Snapshot struct {
	Entity  string
	Seq     uint64 // rises with every change of this extension, or of who may see it
	Dialogs []Dialog
	Offline bool
	Status  Status  // the user's own status
	Message string  // the user's custom status message
	Clouds  []Cloud // what the presence services say, in Source order
	Changed time.Time
	Policy  *Policy // who may see what of this snapshot; nil: everyone everything

	renders sync.Map
}

// Cloud returns what the presence services say, merged: the strongest
// state wins (busy, then away, available, offline); false if none says
// anything.
func (s *Snapshot) Cloud() (Cloud, bool) {
	var best Cloud
	for _, c := range s.Clouds {
		if c.State.rank() > best.State.rank() {
			best = c
		}
	}
	return best, best.State != CloudUnknown
}

// Lamp is the lamp this snapshot lights for someone who may see it all.
func (s *Snapshot) Lamp() Lamp { return s.LampFor(AccessFull) }

// Render returns the value memoised under key, building it once.
func (s *Snapshot) Render(key any, build func() any) any {
	if v, ok := s.renders.Load(key); ok {
		return v
	}
	v, _ := s.renders.LoadOrStore(key, build())
	return v
}
