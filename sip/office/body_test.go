package office

import (
	"testing"

	"github.com/blfgw/blfgw/sip/dialoginfo"
)

// TestBody: names with XML's special characters survive, and a hold is
// the local target's +sip.rendering "no" that the gateway looks for.
func TestBody(t *testing.T) {
	t.Parallel()
	l := &leg{
		who: Person{Number: "1004", Name: `Dave "The Fixer" O'Neil & <Co>`},
		id:  "d1", callID: "c1@office", local: "a", remote: "b", dir: "recipient", state: "confirmed", held: true,
		peer: party{uri: "sip:+441632960123@pbx.test", display: "Contoso & Sons"},
	}
	info, err := dialoginfo.Parse(l.body("pbx.test", 7))
	if err != nil {
		t.Fatalf("%v\n%s", err, l.body("pbx.test", 7))
	}
	if err := info.Validate(); err != nil {
		t.Fatal(err)
	}
	d := info.Dialogs[0]
	if info.Version != 7 || info.Entity != "sip:1004@pbx.test" || d.State != "confirmed" || d.Direction != "recipient" ||
		d.CallID != "c1@office" || d.LocalTag != "a" || d.RemoteTag != "b" {
		t.Errorf("document %+v, dialog %+v", info, d)
	}
	if d.Local.IdentityDisplay != l.who.Name || d.Remote.IdentityDisplay != "Contoso & Sons" || d.Remote.Identity != l.peer.uri {
		t.Errorf("names: local %+v remote %+v", d.Local, d.Remote)
	}
	want := dialoginfo.Param{Name: "+sip.rendering", Value: "no"}
	if len(d.Local.TargetParams) != 1 || d.Local.TargetParams[0] != want {
		t.Errorf("held call's local target params %+v", d.Local.TargetParams)
	}
	l.state, l.event, l.held = "terminated", "remote-bye", false
	info, err = dialoginfo.Parse(l.body("pbx.test", 8))
	if err != nil || info.Dialogs[0].Event != "remote-bye" || info.Dialogs[0].Local.TargetParams[0].Value != "yes" {
		t.Errorf("terminated: %+v %v", info, err)
	}
}
