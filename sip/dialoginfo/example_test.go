package dialoginfo_test

import (
	"fmt"

	"github.com/blfgw/blfgw/sip/dialoginfo"
)

// One state change is encoded once, then sent to each subscription with
// that subscription's own version number.
func ExampleTemplate() {
	t := dialoginfo.NewTemplate(&dialoginfo.Info{
		State:  "full",
		Entity: "sip:1001@pbx",
		Dialogs: []dialoginfo.Dialog{{
			ID: "d-1", Direction: "recipient", State: "early",
			Remote: &dialoginfo.Participant{Identity: "sip:300@pbx", IdentityDisplay: "Alice"},
		}},
	})
	buf := make([]byte, 0, t.Len()+10)
	for _, version := range []uint32{0, 41} {
		buf = t.Append(buf[:0], version)
		fmt.Printf("%s", buf)
	}
	// Output:
	// <?xml version="1.0" encoding="UTF-8"?>
	// <dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:1001@pbx">
	// <dialog id="d-1" direction="recipient">
	// <state>early</state>
	// <remote><identity display="Alice">sip:300@pbx</identity></remote>
	// </dialog>
	// </dialog-info>
	// <?xml version="1.0" encoding="UTF-8"?>
	// <dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="41" state="full" entity="sip:1001@pbx">
	// <dialog id="d-1" direction="recipient">
	// <state>early</state>
	// <remote><identity display="Alice">sip:300@pbx</identity></remote>
	// </dialog>
	// </dialog-info>
}
