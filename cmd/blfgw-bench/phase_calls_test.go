package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/blfgw/blfgw/presence"
)

// The calls phase matches what plain watchers see to calls through the
// anonymous dialog id; it must stay the one presence gives them.
func TestAnonIDMatchesPresence(t *testing.T) {
	s := &presence.Snapshot{Entity: "2000", Dialogs: []presence.Dialog{{ID: "px0123456789abcdef", CallID: "c1", State: presence.Confirmed}}}
	v := s.View(presence.AccessLamp)
	if len(v.Dialogs) != 1 {
		t.Fatalf("view has %d dialogs", len(v.Dialogs))
	}
	if got, want := anonID("px0123456789abcdef"), v.Dialogs[0].ID; got != want {
		t.Fatalf("anonID = %q, presence shows %q", got, want)
	}
}

func TestReadLampLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.log")
	full := "@@ 1795379170.000000:329701.000000 3 <dialog-info xmlns=\"urn:ietf:params:xml:ns:dialog-info\" version=\"2\" state=\"full\" entity=\"sip:2000@pbx.bench\">\n" +
		"<dialog id=\"px1\" call-id=\"1-2@127.0.0.1\" local-tag=\"a\" direction=\"recipient\">\n<state>confirmed</state>\n</dialog>\n" +
		"<dialog id=\"d2\" direction=\"recipient\">\n<state>early</state>\n</dialog>\n</dialog-info>\n\n" +
		// microseconds exactly 0 print as nothing
		"@@ 1795379171.000000: 4 <dialog-info version=\"3\" state=\"full\" entity=\"sip:2000@pbx.bench\">\n</dialog-info>\n\n"
	partial := "@@ 1795379172.000000:5.000000 4 <dialog-info version=\"4\">\n<dialog id=\"d3\">\n"
	if err := os.WriteFile(path, []byte(full+partial), 0o644); err != nil {
		t.Fatal(err)
	}
	ns, off, err := readLampLog(path, 0, "0")
	if err != nil {
		t.Fatal(err)
	}
	if off != int64(len(full)) {
		t.Errorf("offset %d, want %d (before the partial NOTIFY)", off, len(full))
	}
	if len(ns) != 2 {
		t.Fatalf("%d NOTIFYs, want 2: %+v", len(ns), ns)
	}
	if ns[0].watcher != "0/3" || !ns[0].at.Equal(time.Unix(1795379170, 329701000)) {
		t.Errorf("first NOTIFY %s at %s", ns[0].watcher, ns[0].at)
	}
	want := []lampDialog{{id: "px1", callID: "1-2@127.0.0.1", state: "confirmed"}, {id: "d2", state: "early"}}
	if len(ns[0].dialogs) != 2 || ns[0].dialogs[0] != want[0] || ns[0].dialogs[1] != want[1] {
		t.Errorf("dialogs %+v, want %+v", ns[0].dialogs, want)
	}
	if len(ns[1].dialogs) != 0 || !ns[1].at.Equal(time.Unix(1795379171, 0)) {
		t.Errorf("second NOTIFY %+v", ns[1])
	}

	// The plain watcher's anonymous dialog is the delegate's call.
	lw := &lampLogs{offsets: []int64{0}, anon: map[string]string{}}
	anon := "@@ 1795379170.000000:500000.000000 7 <dialog-info version=\"2\">\n<dialog id=\"" + anonID("px1") +
		"\" direction=\"recipient\">\n<state>confirmed</state>\n</dialog>\n</dialog-info>\n"
	if err := os.WriteFile(path, []byte(full+anon), 0o644); err != nil {
		t.Fatal(err)
	}
	busy, unmatched, err := lw.busySince([]*sippRun{{logF: path}})
	if err != nil {
		t.Fatal(err)
	}
	if unmatched != 0 || len(busy["1-2@127.0.0.1"]) != 2 {
		t.Errorf("busy %v, %d unmatched; want the call seen by two watchers", busy, unmatched)
	}
}

func TestReadCallerLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log.log")
	log := "ok200 1795379170.000000:385801.000000 1795379170.000000:329000.000000 1-29790@127.0.0.1\nnoise\n"
	if err := os.WriteFile(path, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	oks, err := readCallerLog(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(oks) != 1 || oks[0].callID != "1-29790@127.0.0.1" || oks[0].at.Sub(oks[0].sent) != 56801*time.Microsecond {
		t.Fatalf("got %+v", oks)
	}
}

func TestCalleeAborts(t *testing.T) {
	dir := t.TempDir()
	r := &sippRun{errF: filepath.Join(dir, "errors.log")}
	log := "x: Aborting call on an unexpected BYE for call: 1-2@127.0.0.1" +
		"x: Aborting call on unexpected message for Call-Id '1414-31983@127.0.0.1': while expecting 'BYE' (index 6), received 'ACK sip:2013@127.0.0.1:59945;transport=UDP SIP/2.0\nVia: x\nCSeq: 1 ACK\n\n'" +
		"x: Aborting call on unexpected message for Call-Id '1415-31983@127.0.0.1': while expecting 'BYE' (index 6), received 'ACK sip:2014@127.0.0.1:59945;transport=UDP SIP/2.0\nCSeq: 1 ACK\n\n'"
	if err := os.WriteFile(r.errF, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	got := abortsSince(nil, calleeAborts(r))
	want := " (SIPp error log, unexpected: 1x BYE of a call aborted before, 2x ACK (CSeq: 1 ACK))"
	if got != want {
		t.Fatalf("got %q\nwant %q", got, want)
	}
}
