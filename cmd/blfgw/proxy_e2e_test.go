package main

import (
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestE2ERegistrar: in edge-proxy mode SIPp registers two devices of 1001
// over UDP and TCP; a query lists both; the bindings survive a restart; a
// too brief interval gets 423 with Min-Expires; Expires: 0 removes one.
// In presence mode REGISTER is refused with 405.
func TestE2ERegistrar(t *testing.T) {
	t.Parallel()
	g := startGateway(t, gwConfig{Proxy: "mode = \"edge-proxy\"\nunknown_to_upstream = false\nmin_register = 60"})
	register := func(tp string, expect int, headers ...string) sipMsg {
		t.Helper()
		res, _ := g.do(tp, request{Method: "REGISTER", Ext: "1001", Expect: expect, Headers: headers})
		return res
	}
	contacts := func(m sipMsg) []string {
		out := slices.Clone(m.All("Contact"))
		slices.Sort(out)
		return out
	}
	register("udp", 200, "Contact: <sip:1001@127.0.0.1:6001>", "Expires: 600")
	res := register("tcp", 200, "Contact: <sip:1001@127.0.0.1:6002;transport=tcp>;expires=900")
	got := contacts(res)
	if len(got) != 2 || !strings.Contains(got[0], "6001>;expires=") || !strings.Contains(got[1], "transport=tcp>;expires=") {
		t.Fatalf("two devices registered, 200 lists %q", got)
	}

	g.stop(syscall.SIGTERM)
	g.start()
	if got := contacts(register("udp", 200)); len(got) != 2 {
		t.Fatalf("after a restart the query lists %q", got)
	}

	res = register("udp", 423, "Contact: <sip:1001@127.0.0.1:6003>", "Expires: 10")
	if res.H("Min-Expires") != "60" {
		t.Errorf("423 Min-Expires %q, want 60", res.H("Min-Expires"))
	}
	if got := contacts(register("udp", 200, "Contact: <sip:1001@127.0.0.1:6001>", "Expires: 0")); len(got) != 1 || !strings.Contains(got[0], "6002") {
		t.Errorf("after removing the UDP device: %q", got)
	}

	plain := startGateway(t, gwConfig{})
	res, _ = plain.do("udp", request{Method: "REGISTER", Ext: "1001", Expect: 405, Headers: []string{"Contact: <sip:1001@127.0.0.1:6001>"}})
	if !strings.Contains(res.Reason, "edge-proxy") {
		t.Errorf("405 reason %q does not say why", res.Reason)
	}
}
