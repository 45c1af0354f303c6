package dialoginfo

import (
	"math"

	"github.com/blfgw/blfgw/sip/internal/xmlsafe"
)

// Validate reports whether info is a document Parse would accept and give
// back unchanged: for a valid info, Parse(Encode(info)) equals info (with
// nil, not empty, slices). Encode does not call it; the hot path trusts
// its caller, and tests and state builders can check with Validate.
// Its errors are *Error, worded like Parse's where the rule is the same.
func (info *Info) Validate() error {
	if info == nil {
		return errorf(nil, "nil document")
	}
	if info.State != "full" && info.State != "partial" {
		return errorf(nil, "state is not full or partial")
	}
	if info.Entity == "" {
		return errorf(nil, "missing entity")
	}
	if !xmlsafe.Valid(info.Entity) {
		return errorf(nil, "entity has characters XML cannot carry")
	}
	if len(info.Dialogs) > MaxDialogs {
		return errorf(nil, "more than %d dialogs", MaxDialogs)
	}
	for i := range info.Dialogs {
		if err := info.Dialogs[i].validate(i + 1); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dialog) validate(num int) error {
	if d.ID == "" {
		return errorf(nil, "dialog %d has no id", num)
	}
	if d.Direction != "" && d.Direction != "initiator" && d.Direction != "recipient" {
		return errorf(nil, "dialog %d direction is not initiator or recipient", num)
	}
	if !oneOf(d.State, dialogStates) {
		return errorf(nil, "dialog %d has unknown state", num)
	}
	if d.Event != "" && !oneOf(d.Event, stateEvents) {
		return errorf(nil, "dialog %d has unknown state event", num)
	}
	if d.Code != 0 && (d.Code < 100 || d.Code > 699) {
		return errorf(nil, "dialog %d state code is not 100-699", num)
	}
	if d.Duration != nil && (*d.Duration < 0 || *d.Duration > math.MaxInt32) {
		return errorf(nil, "dialog %d has bad duration", num)
	}
	for _, s := range [...]string{d.ID, d.CallID, d.LocalTag, d.RemoteTag} {
		if !xmlsafe.Valid(s) {
			return errorf(nil, "dialog %d has characters XML cannot carry", num)
		}
	}
	if err := d.Local.validate(num, "local"); err != nil {
		return err
	}
	return d.Remote.validate(num, "remote")
}

func (p *Participant) validate(num int, name string) error {
	if p == nil {
		return nil
	}
	if p.Identity != xmlsafe.TrimSpace(p.Identity) {
		return errorf(nil, "dialog %d %s identity has surrounding white space", num, name)
	}
	if p.Identity == "" && p.IdentityDisplay != "" {
		return errorf(nil, "dialog %d %s has display but no identity", num, name)
	}
	if p.Target == "" && len(p.TargetParams) > 0 {
		return errorf(nil, "dialog %d %s has target params but no target", num, name)
	}
	if len(p.TargetParams) > MaxParams {
		return errorf(nil, "dialog %d has more than %d target params", num, MaxParams)
	}
	ok := xmlsafe.Valid(p.Identity) && xmlsafe.Valid(p.IdentityDisplay) && xmlsafe.Valid(p.Target)
	for _, q := range p.TargetParams {
		if q.Name == "" {
			return errorf(nil, "dialog %d %s has a target param without name", num, name)
		}
		ok = ok && xmlsafe.Valid(q.Name) && xmlsafe.Valid(q.Value)
	}
	if !ok {
		return errorf(nil, "dialog %d %s has characters XML cannot carry", num, name)
	}
	return nil
}
