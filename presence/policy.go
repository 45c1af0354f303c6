package presence

import (
	"hash/fnv"
	"slices"
	"strconv"
)

// Role is what an extension's user is in the organisation; roles are the
// groups a user can share their presence with.
type Role string

const (
	RoleUser       Role = "user"
	RoleAdmin      Role = "admin"
	RoleSupervisor Role = "supervisor"
	RoleManager    Role = "manager"
	RoleQA         Role = "qa"
)

// Roles lists every role, in the order the API and the page show them.
var Roles = []Role{RoleUser, RoleAdmin, RoleSupervisor, RoleManager, RoleQA}

// Person is an extension's user as the admin configured them.
type Person struct {
	Number     string
	Name       string
	Department string
	Role       Role
}

// ShareWith names who, besides admins and delegates, may see a user's
// presence while it is shared.
type ShareWith struct {
	Everyone    bool
	Roles       []Role
	Departments []string
	Extensions  []string
}

// Sharing is what a user decided about their presence.
type Sharing struct {
	Share     bool // "Allow other users to see my presence status"
	With      ShareWith
	Delegates []string // may answer my calls; suspended while Share is off
}

// Access is how much of an extension's state a watcher may see.
type Access uint8

const (
	// AccessNone: a neutral idle lamp (polite block) or 403 (refuse).
	AccessNone Access = iota
	// AccessLamp: the lamp, status and message, without the caller's
	// identity or the dialog identifiers.
	AccessLamp
	// AccessFull: also the caller and the call-id and tags that one-button
	// pickup needs. Oneself and one's delegates.
	AccessFull
)

func (a Access) String() string {
	switch a {
	case AccessLamp:
		return "lamp"
	case AccessFull:
		return "full"
	}
	return "none"
}

// BlockMode is what a watcher who may not see an extension gets.
type BlockMode uint8

const (
	// BlockPolite accepts the watcher and shows a neutral idle lamp
	// forever, so nobody learns that they are blocked.
	BlockPolite BlockMode = iota
	// BlockRefuse answers 403, and ends live subscriptions.
	BlockRefuse
)

// PolicyOptions are the admin's global settings for visibility and lamps.
type PolicyOptions struct {
	Block    BlockMode
	AwayBusy bool    // Appear Away lights dialog lamps busy instead of idle
	Default  Sharing // for users who never chose
}

// Policy is an immutable answer to "may this watcher see that extension".
// A change of any setting is a new Policy (Hub.SetPolicy), so a snapshot
// and the rules it was rendered under always belong together.
type Policy struct {
	opt     PolicyOptions
	people  map[string]Person
	sharing map[string]Sharing
}

// NewPolicy builds a policy over the directory and each user's sharing.
// Users missing from sharing get opt.Default.
func NewPolicy(people []Person, sharing map[string]Sharing, opt PolicyOptions) *Policy {
	p := &Policy{opt: opt, people: make(map[string]Person, len(people)), sharing: make(map[string]Sharing, len(sharing))}
	for _, pe := range people {
		p.people[pe.Number] = pe
	}
	for n, s := range sharing {
		p.sharing[n] = s
	}
	return p
}

// Options returns the global settings the policy was built with.
func (p *Policy) Options() PolicyOptions { return p.opt }

// Person returns a configured extension's user.
func (p *Policy) Person(number string) (Person, bool) {
	pe, ok := p.people[number]
	return pe, ok
}

// Sharing returns what owner decided, or the default.
func (p *Policy) Sharing(owner string) Sharing {
	if s, ok := p.sharing[owner]; ok {
		return s
	}
	return p.opt.Default
}

// Access decides what watcher may see of owner:
//
//   - oneself: everything;
//   - nobody else while owner does not share;
//   - delegates: everything, caller and pickup identifiers included;
//   - admins, and whoever owner's share-with names (everyone, a role, a
//     department, an extension): the lamp, status and message;
//   - anyone else: nothing (a neutral lamp, or 403).
//
// A watcher that is not a configured extension (a trusted PBX subscribing
// under its own name) is only covered by "everyone".
func (p *Policy) Access(watcher, owner string) Access {
	if p == nil || watcher == owner {
		return AccessFull
	}
	s := p.Sharing(owner)
	if !s.Share {
		return AccessNone
	}
	if slices.Contains(s.Delegates, watcher) {
		return AccessFull
	}
	if s.With.Everyone {
		return AccessLamp
	}
	w, ok := p.people[watcher]
	if !ok {
		return AccessNone
	}
	if w.Role == RoleAdmin || slices.Contains(s.With.Roles, w.Role) ||
		(w.Department != "" && slices.Contains(s.With.Departments, w.Department)) ||
		slices.Contains(s.With.Extensions, watcher) {
		return AccessLamp
	}
	return AccessNone
}

// Delegate reports whether watcher may answer owner's calls now: named by
// owner while owner shares their presence.
func (p *Policy) Delegate(watcher, owner string) bool {
	s := p.Sharing(owner)
	return s.Share && slices.Contains(s.Delegates, watcher)
}

// affected lists the owners whose watchers may see something else under
// next than under p: every owner when the directory or the global options
// changed, otherwise those whose sharing changed.
func (p *Policy) affected(next *Policy, owners []string) (all bool, changed []string) {
	if p == nil || next == nil || p.opt.Block != next.opt.Block || p.opt.AwayBusy != next.opt.AwayBusy ||
		!sharingEqual(p.opt.Default, next.opt.Default) || len(p.people) != len(next.people) {
		return true, nil
	}
	for n, pe := range p.people {
		if next.people[n] != pe {
			return true, nil
		}
	}
	for _, o := range owners {
		if !sharingEqual(p.Sharing(o), next.Sharing(o)) {
			changed = append(changed, o)
		}
	}
	return false, changed
}

func sharingEqual(a, b Sharing) bool {
	return a.Share == b.Share && a.With.Everyone == b.With.Everyone &&
		slices.Equal(a.With.Roles, b.With.Roles) && slices.Equal(a.With.Departments, b.With.Departments) &&
		slices.Equal(a.With.Extensions, b.With.Extensions) && slices.Equal(a.Delegates, b.Delegates)
}

// Status is a user's own status, set by hand.
type Status uint8

const (
	StatusDefault   Status = iota // follow the phone
	StatusAvailable               // available, whatever else says otherwise (except a live call)
	StatusDND                     // Do Not Disturb: lamps busy
	StatusAway                    // Appear Away
)

var statusNames = [...]string{"default", "available", "dnd", "away"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}

// ParseStatus maps "default" (or ""), "available", "dnd" and "away" to a
// Status.
func ParseStatus(s string) (Status, bool) {
	if s == "" {
		return StatusDefault, true
	}
	for i, n := range statusNames {
		if n == s {
			return Status(i), true
		}
	}
	return 0, false
}

// View is what one watcher is shown of a snapshot.
type View struct {
	Dialogs   []Dialog // to render; a busy without a call is one synthetic dialog
	Status    Status
	Message   string
	Offline   bool
	Synthetic bool  // Dialogs is the synthetic dialog of a manual status or of Cloud
	Cloud     Cloud // the presence service's state, when it decided the view (no call, no manual status)
}

// ManualDialogID is the id of the dialog that lights a lamp busy for Do
// Not Disturb (or Appear Away, if the admin wants it busy). A busy from a
// presence service uses "blfgw-" and the service's name.
const ManualDialogID = "blfgw-status"

// View applies the lamp precedence (highest first: a live call, Do Not
// Disturb, the user's own Available or Appear Away, a presence service's
// busy, its away, its offline, idle) and what access allows.
func (s *Snapshot) View(a Access) View {
	if a == AccessNone {
		return View{}
	}
	v := View{Dialogs: s.Dialogs, Status: s.Status, Message: s.Message, Offline: s.Offline}
	if a == AccessLamp && len(v.Dialogs) > 0 {
		v.Dialogs = anonymous(v.Dialogs)
	}
	if len(v.Dialogs) > 0 {
		return v
	}
	awayBusy := s.Policy != nil && s.Policy.opt.AwayBusy
	cloud, known := s.Cloud()
	switch {
	case s.Status == StatusDND || (s.Status == StatusAway && awayBusy):
		v.Dialogs = []Dialog{{ID: ManualDialogID, State: Confirmed}}
		v.Synthetic = true
	case s.Status == StatusAvailable || s.Status == StatusAway || !known:
		// The user's own word beats what a service guesses.
	case cloud.State == CloudBusy || (cloud.State == CloudAway && awayBusy):
		v.Dialogs = []Dialog{{ID: "blfgw-" + cloud.Source.String(), State: Confirmed}}
		v.Synthetic = true
		v.Cloud = cloud
	case cloud.State == CloudOffline:
		v.Offline = true
		v.Cloud = cloud
	default:
		v.Cloud = cloud
	}
	return v
}

// anonymous keeps what lights the lamp and drops who is calling and the
// identifiers a pickup would need. The ids stay stable across changes (a
// hash of the real one), so phones still follow each dialog.
func anonymous(ds []Dialog) []Dialog {
	out := make([]Dialog, len(ds))
	for i, d := range ds {
		h := fnv.New64a()
		h.Write([]byte(d.ID))
		out[i] = Dialog{
			ID:        "d" + strconv.FormatUint(h.Sum64(), 36),
			Direction: d.Direction,
			State:     d.State,
			Held:      d.Held,
			Since:     d.Since,
		}
	}
	return out
}

// LampFor is the lamp a watcher with access a sees.
func (s *Snapshot) LampFor(a Access) Lamp {
	v := s.View(a)
	if v.Offline && len(v.Dialogs) == 0 {
		return LampOffline
	}
	return LampOf(v.Dialogs)
}
