package dialoginfo

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/blfgw/blfgw/sip/internal/xmlsafe"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the encoder")

func intp(n int) *int { return &n }

type goldenCase struct {
	name string
	info *Info
	want *Info // what Parse gives back, if not info (characters dropped)
}

func goldenCases() []goldenCase {
	ringing := Dialog{
		ID: "d-77", CallID: "a84b4c76e66710@10.0.0.5", LocalTag: "1928301774", RemoteTag: "456887766",
		Direction: "recipient", State: "early",
		Local:  &Participant{Identity: "sip:1001@pbx", IdentityDisplay: "Ext 1001", Target: "sip:1001@pbx"},
		Remote: &Participant{Identity: "sip:300@pbx", IdentityDisplay: "Alice", Target: "sip:300@pbx"},
	}
	busy := Dialog{
		ID: "d-76", CallID: "5f1e2d@10.0.0.7", LocalTag: "77aa", RemoteTag: "88bb",
		Direction: "initiator", State: "confirmed", Duration: intp(95),
		Local:  &Participant{Identity: "sip:1001@pbx", Target: "sip:1001@10.0.0.21:5060"},
		Remote: &Participant{Identity: "sip:1002@pbx", IdentityDisplay: "Bob", Target: "sip:1002@pbx"},
	}
	hold := busy
	hold.Local = &Participant{Identity: "sip:1001@pbx", Target: "sip:1001@pbx",
		TargetParams: []Param{{"+sip.rendering", "no"}}}
	outgoing := Dialog{
		ID: "d-80", CallID: "out-1@10.0.0.21", LocalTag: "x1",
		Direction: "initiator", State: "proceeding",
		Local:  &Participant{Identity: "sip:1001@pbx", IdentityDisplay: "Ext 1001"},
		Remote: &Participant{Identity: "sip:2000@pbx"},
	}
	second := ringing
	second.ID, second.CallID, second.RemoteTag = "d-78", "b9@10.0.0.5", "99"
	second.Remote = &Participant{Identity: "sip:301@pbx", IdentityDisplay: "Carol", Target: "sip:301@pbx"}

	esc := Dialog{
		ID: "e&1", CallID: `q"uo'te<&>@host`, LocalTag: "t\tab", RemoteTag: "cr\r\nlf",
		Direction: "recipient", State: "early",
		Remote: &Participant{Identity: "sip:a&b@x?h=<y>", IdentityDisplay: "\"Bob\" & <Alice> 'x'\x01\x1b\x7f\u00e9\ufffe\xff",
			Target: "sip:a@x;p=\"1\""},
	}
	escWant := esc
	escWant.Remote = &Participant{Identity: "sip:a&b@x?h=<y>", IdentityDisplay: "\"Bob\" & <Alice> 'x'\x7f\u00e9",
		Target: "sip:a@x;p=\"1\""}

	return []goldenCase{
		{name: "idle", info: &Info{Version: 0, State: "full", Entity: "sip:1001@pbx"}},
		{name: "dummy", info: &Info{Version: 3, State: "full", Entity: "sip:1001@pbx",
			Dialogs: []Dialog{{ID: "0000", State: "terminated"}}}},
		{name: "ringing", info: &Info{Version: 7, State: "full", Entity: "sip:1001@pbx", Dialogs: []Dialog{ringing}}},
		{name: "outgoing", info: &Info{Version: 8, State: "full", Entity: "sip:1001@pbx", Dialogs: []Dialog{outgoing}}},
		{name: "busy", info: &Info{Version: 9, State: "full", Entity: "sip:1001@pbx", Dialogs: []Dialog{busy}}},
		{name: "hold", info: &Info{Version: 10, State: "full", Entity: "sip:1001@pbx", Dialogs: []Dialog{hold}}},
		{name: "terminated", info: &Info{Version: 11, State: "partial", Entity: "sip:1001@pbx", Dialogs: []Dialog{
			{ID: "d-77", State: "terminated", Event: "rejected", Code: 486, Direction: "recipient"}}}},
		{name: "multiple", info: &Info{Version: 4294967295, State: "full", Entity: "sip:1001@pbx",
			Dialogs: []Dialog{busy, second}}},
		{name: "escaping", info: &Info{Version: 1, State: "full", Entity: "sip:\"x\"&<y>@pbx",
			Dialogs: []Dialog{esc}},
			want: &Info{Version: 1, State: "full", Entity: "sip:\"x\"&<y>@pbx", Dialogs: []Dialog{escWant}}},
	}
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", c.name+".xml")
			got := Encode(c.info)
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Encode differs from %s:\ngot:\n%s\nwant:\n%s", path, got, want)
			}
			tmpl := NewTemplate(c.info).Append(nil, c.info.Version)
			if !bytes.Equal(tmpl, got) {
				t.Errorf("Template.Append differs from Encode:\n%s", tmpl)
			}

			back, err := Parse(want)
			if err != nil {
				t.Fatalf("Parse(%s): %v", path, err)
			}
			exp := c.want
			if exp == nil {
				exp = c.info
			}
			if !reflect.DeepEqual(back, exp) {
				t.Errorf("Parse(%s):\ngot  %+v\nwant %+v", path, back, exp)
			}
			if err := exp.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	info := goldenCases()[2].info
	tmpl := NewTemplate(info)
	for _, v := range []uint32{0, 1, 9, 10, 12345, 4294967295} {
		c := *info
		c.Version = v
		want := Encode(&c)
		got := tmpl.Append([]byte("prefix"), v)
		if string(got) != "prefix"+string(want) {
			t.Errorf("version %d: got\n%s\nwant\n%s", v, got, want)
		}
		if tmpl.Len()+len(itoa(v)) != len(want) {
			t.Errorf("version %d: Len %d, document %d", v, tmpl.Len(), len(want))
		}
	}
	if got := (Template{}).Append(nil, 5); string(got) != "5" {
		t.Errorf("zero Template: %q", got)
	}
	if Encode(nil) == nil || NewTemplate(nil).Len() == 0 {
		t.Error("nil Info should encode as the zero Info")
	}
}

func itoa(v uint32) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		if v /= 10; v == 0 {
			return string(b)
		}
	}
}

// Documents in the styles other implementations send.
func TestParseInterop(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want *Info
	}{
		{
			name: "asterisk-like",
			in: `<?xml version="1.0" encoding="UTF-8"?>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="0" state="full" entity="sip:1001@192.168.1.10">
 <dialog id="1001" direction="recipient">
  <state>early</state>
  <local>
   <identity display="Ext 1001">sip:1001@192.168.1.10</identity>
   <target uri="sip:1001@192.168.1.10">
    <param pname="+sip.rendering" pvalue="yes"/>
   </target>
  </local>
  <remote>
   <identity display="&quot;Alice&quot;">
     sip:300@192.168.1.10
   </identity>
   <target uri="sip:300@192.168.1.10"/>
  </remote>
 </dialog>
</dialog-info>
`,
			want: &Info{Version: 0, State: "full", Entity: "sip:1001@192.168.1.10", Dialogs: []Dialog{{
				ID: "1001", Direction: "recipient", State: "early",
				Local: &Participant{Identity: "sip:1001@192.168.1.10", IdentityDisplay: "Ext 1001",
					Target: "sip:1001@192.168.1.10", TargetParams: []Param{{"+sip.rendering", "yes"}}},
				Remote: &Participant{Identity: "sip:300@192.168.1.10", IdentityDisplay: `"Alice"`,
					Target: "sip:300@192.168.1.10"},
			}}},
		},
		{
			name: "sa-extensions",
			in: "\ufeff<?xml version=\"1.0\"?>\r\n" +
				`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" xmlns:sa="urn:ietf:params:xml:ns:sa-dialog-info" version="12" state="partial" entity="sip:1001@pbx" sa:x="y">` + "\r\n" +
				`<sa:exclusive>false</sa:exclusive>` + "\r\n" +
				`<dialog id="abc" call-id="c1" local-tag="l1" remote-tag="r1" direction="initiator" sa:appearance="1">` + "\r\n" +
				`<sa:exclusive>false</sa:exclusive><sa:appearance>1</sa:appearance>` + "\r\n" +
				`<state event="remote-bye" code="200">terminated</state>` + "\r\n" +
				`<duration> 17 </duration>` + "\r\n" +
				`<replaces call-id="x" local-tag="y" remote-tag="z"/><referred-by>sip:a@b</referred-by>` + "\r\n" +
				`<route-set><hop>sip:proxy;lr</hop></route-set>` + "\r\n" +
				`<local><identity>sip:1001@pbx</identity><session-description type="application/sdp">v=0&#13;&#10;</session-description><cseq>3</cseq></local>` + "\r\n" +
				`<!-- comment --><remote><![CDATA[ ]]><identity>sip:<![CDATA[2000]]>@pbx</identity></remote>` + "\r\n" +
				`</dialog>` + "\r\n" + `</dialog-info>` + "\r\n",
			want: &Info{Version: 12, State: "partial", Entity: "sip:1001@pbx", Dialogs: []Dialog{{
				ID: "abc", CallID: "c1", LocalTag: "l1", RemoteTag: "r1", Direction: "initiator",
				State: "terminated", Event: "remote-bye", Code: 200, Duration: intp(17),
				Local:  &Participant{Identity: "sip:1001@pbx"},
				Remote: &Participant{Identity: "sip:2000@pbx"},
			}}},
		},
		{
			name: "kamailio-prefixed",
			in: `<?xml version='1.0'?>
<d:dialog-info xmlns:d='urn:ietf:params:xml:ns:dialog-info' version='00003' state='full' entity='sip:alice@example.com'>
  <d:dialog id='as7d900as8' call-id='a84b4c76e66710' local-tag='1928301774' direction='initiator'>
    <d:state>  confirmed
    </d:state>
    <d:local><d:identity display='Alice'>sip:alice@example.com</d:identity><d:target uri='sip:alice@pc33.example.com'><d:param pname='isfocus' pvalue=''/><d:param pvalue='no-name'/><x:param xmlns:x='urn:other' pname='other' pvalue='ns'/></d:target></d:local>
    <d:remote><identity xmlns='urn:ietf:params:xml:ns:dialog-info'>sip:bob@example.com</identity></d:remote>
    <dialog id='other-ns' xmlns='urn:example'><state>bogus</state></dialog>
  </d:dialog>
  <dialog id='other-ns'><state>bogus</state></dialog>
</d:dialog-info>`,
			want: &Info{Version: 3, State: "full", Entity: "sip:alice@example.com", Dialogs: []Dialog{{
				ID: "as7d900as8", CallID: "a84b4c76e66710", LocalTag: "1928301774", Direction: "initiator",
				State: "confirmed",
				Local: &Participant{Identity: "sip:alice@example.com", IdentityDisplay: "Alice",
					Target: "sip:alice@pc33.example.com", TargetParams: []Param{{"isfocus", ""}}},
				Remote: &Participant{Identity: "sip:bob@example.com"},
			}}},
		},
		{
			name: "idle-self-closing",
			in:   `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="sip:1@pbx"/>`,
			want: &Info{Version: 1, State: "full", Entity: "sip:1@pbx"},
		},
		{
			name: "first-wins-and-empty",
			in: `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="2" state="full" entity="e">
<dialog id="1"><state>trying</state><duration>1</duration><duration>x</duration>
<local><identity display="ignored"> </identity><identity>sip:second</identity><target><param pname="p" pvalue="v"/></target><target uri="sip:t2"/></local>
<local><identity>sip:other-local</identity></local><remote/><remote><identity>sip:r2</identity></remote></dialog></dialog-info>`,
			want: &Info{Version: 2, State: "full", Entity: "e", Dialogs: []Dialog{{
				ID: "1", State: "trying", Duration: intp(1),
				Local: &Participant{}, Remote: &Participant{},
			}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v\nwant %+v", got, c.want)
			}
			roundTrip(t, got)
		})
	}
}

// roundTrip checks that a parsed value is valid and survives Encode+Parse.
func roundTrip(t *testing.T, info *Info) {
	t.Helper()
	if err := info.Validate(); err != nil {
		t.Fatalf("parsed value fails Validate: %v", err)
	}
	enc := Encode(info)
	if len(enc) > MaxSize {
		return // escaping can grow a document past what Parse takes
	}
	back, err := Parse(enc)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, enc)
	}
	if !reflect.DeepEqual(back, info) {
		t.Fatalf("round trip changed value:\n got %+v\nwant %+v\n%s", back, info, enc)
	}
	if tm := NewTemplate(info).Append(nil, info.Version); !bytes.Equal(tm, enc) {
		t.Fatalf("Template differs from Encode")
	}
}

const head = `<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="sip:1@pbx">`

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "dialog-info: no root element"},
		{"  \n", "dialog-info: no root element"},
		{"junk", "dialog-info: text before root element"},
		{head, "dialog-info: malformed XML at line 1: unexpected EOF"},
		{head + "</dialog>", "dialog-info: malformed XML at line 1: element <dialog-info> closed by </dialog>"},
		{head + "<dialog id='1'><state>early</state></dialog><x a></x></dialog-info>",
			"dialog-info: malformed XML at line 1: attribute name without = in element"},
		{head + "&foo;</dialog-info>", "dialog-info: malformed XML at line 1: invalid character entity &foo;"},
		{head + "\x01</dialog-info>", "dialog-info: malformed XML at line 1: illegal character code U+0001"},
		{head + "\n\xff</dialog-info>", "dialog-info: malformed XML at line 2: invalid UTF-8"},
		{`<?xml version="1.0" encoding="ISO-8859-1"?>` + head + "</dialog-info>",
			`dialog-info: unsupported charset "ISO-8859-1", only UTF-8`},
		{`<?xml version="1.1"?>` + head + "</dialog-info>",
			`dialog-info: malformed XML: unsupported version "1.1"; only version 1.0 is supported`},
		{`<!DOCTYPE dialog-info>` + head + "</dialog-info>", "dialog-info: DTD not allowed"},
		{head + `<?php echo 1 ?></dialog-info>`, "dialog-info: processing instruction not allowed"},
		{` <?xml version="1.0"?>` + head + "</dialog-info>", "dialog-info: processing instruction not allowed"},
		{head + "</dialog-info><dialog-info/>", "dialog-info: second root element"},
		{head + "</dialog-info>x", "dialog-info: text after root element"},
		{`<presence xmlns="urn:ietf:params:xml:ns:pidf"/>`, "dialog-info: root element is <presence>, not <dialog-info>"},
		{`<dialog-info version="1" state="full" entity="e"/>`, "dialog-info: root element not in namespace urn:ietf:params:xml:ns:dialog-info"},
		{`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" state="full" entity="e"/>`, "dialog-info: missing version"},
		{`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="-1" state="full" entity="e"/>`, "dialog-info: version is not a 32-bit unsigned integer"},
		{`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="4294967296" state="full" entity="e"/>`, "dialog-info: version is not a 32-bit unsigned integer"},
		{`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="" state="full" entity="e"/>`, "dialog-info: version is not a 32-bit unsigned integer"},
		{`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="Full" entity="e"/>`, "dialog-info: state is not full or partial"},
		{`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" entity="e"/>`, "dialog-info: state is not full or partial"},
		{`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full"/>`, "dialog-info: missing entity"},
		{head + `<dialog id="1"><state>early</state></dialog><dialog><state>early</state></dialog></dialog-info>`, "dialog-info: dialog 2 has no id"},
		{head + `<dialog id=""><state>early</state></dialog></dialog-info>`, "dialog-info: dialog 1 has no id"},
		{head + `<dialog id="1"></dialog></dialog-info>`, "dialog-info: dialog 1 has no state"},
		{head + `<dialog id="1"><state xmlns="urn:x">early</state></dialog></dialog-info>`, "dialog-info: dialog 1 has no state"},
		{head + `<dialog id="1"><state>early</state><state>early</state></dialog></dialog-info>`, "dialog-info: dialog 1 has more than one state"},
		{head + `<dialog id="1"><state>ringing</state></dialog></dialog-info>`, "dialog-info: dialog 1 has unknown state"},
		{head + `<dialog id="1"><state></state></dialog></dialog-info>`, "dialog-info: dialog 1 has unknown state"},
		{head + `<dialog id="1"><state event="hangup">terminated</state></dialog></dialog-info>`, "dialog-info: dialog 1 has unknown state event"},
		{head + `<dialog id="1"><state code="99">terminated</state></dialog></dialog-info>`, "dialog-info: dialog 1 state code is not 100-699"},
		{head + `<dialog id="1"><state code="700">terminated</state></dialog></dialog-info>`, "dialog-info: dialog 1 state code is not 100-699"},
		{head + `<dialog id="1" direction="inbound"><state>early</state></dialog></dialog-info>`, "dialog-info: dialog 1 direction is not initiator or recipient"},
		{head + `<dialog id="1" direction=""><state>early</state></dialog></dialog-info>`, "dialog-info: dialog 1 direction is not initiator or recipient"},
		{head + `<dialog id="1"><state>early</state><duration>-3</duration></dialog></dialog-info>`, "dialog-info: dialog 1 has bad duration"},
		{head + `<dialog id="1"><state>early</state><duration>99999999999</duration></dialog></dialog-info>`, "dialog-info: dialog 1 has bad duration"},
		{head + `<dialog id="1"><state>early</state><local><target uri="u">` + strings.Repeat(`<param pname="a" pvalue="b"/>`, MaxParams+1) + `</target></local></dialog></dialog-info>`,
			"dialog-info: dialog 1 has more than 32 target params"},
		{head + strings.Repeat(`<dialog id="1"><state>early</state></dialog>`, MaxDialogs+1) + `</dialog-info>`, "dialog-info: more than 256 dialogs"},
		{head + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + "</dialog-info>", "dialog-info: elements nested deeper than 32"},
		{head + `<dialog id="1"><state>early</state></dialog>` + strings.Repeat(" ", MaxSize) + `</dialog-info>`, "dialog-info: document larger than 65536 bytes"},
		// Input echoed in an error is cleaned and bounded.
		{"<" + strings.Repeat("x", 200) + "\u00e9 xmlns='urn:x'/>", "dialog-info: root element is <" + strings.Repeat("x", 32) + ">, not <dialog-info>"},
		{head + "<a>\n</" + strings.Repeat("\u00e9", 100) + ">", "dialog-info: malformed XML at line 2: element <a> closed by </" + strings.Repeat("?", 35) + "..."},
	}
	for i, c := range cases {
		_, err := Parse([]byte(c.in))
		if err == nil {
			t.Errorf("%d: Parse(%.60q) succeeded, want %q", i, c.in, c.want)
			continue
		}
		checkErr(t, err)
		if err.Error() != c.want {
			t.Errorf("%d: Parse(%.60q)\n got %q\nwant %q", i, c.in, err.Error(), c.want)
		}
	}
}

// checkErr asserts the error is an *Error fit for a SIP reason phrase.
func checkErr(t testing.TB, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %T is not *Error: %v", err, err)
	}
	s := err.Error()
	if len(s) > maxErrLen || !strings.HasPrefix(s, errPrefix) {
		t.Fatalf("error text too long or unprefixed: %q", s)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] > 0x7e {
			t.Fatalf("error text has byte %#x: %q", s[i], s)
		}
	}
}

func TestHostile(t *testing.T) {
	lol := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="&lol9;"/>`
	xxe := `<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="&xxe;"/>`
	ext := `<!DOCTYPE dialog-info SYSTEM "http://192.0.2.1/evil.dtd"><dialog-info/>`
	late := head + `<!DOCTYPE x><dialog id="1"><state>early</state></dialog></dialog-info>`
	undeclared := head + `<dialog id="1" call-id="&lol9;"><state>early</state></dialog></dialog-info>`

	for name, in := range map[string]string{"billion-laughs": lol, "xxe": xxe, "external-dtd": ext, "late-doctype": late} {
		start := time.Now()
		_, err := Parse([]byte(in))
		if err == nil || err.Error() != "dialog-info: DTD not allowed" || !errors.Is(err, ErrDTD) {
			t.Errorf("%s: got %v, want DTD not allowed", name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
	if _, err := Parse([]byte(undeclared)); err == nil || !strings.Contains(err.Error(), "invalid character entity &lol9;") {
		t.Errorf("undeclared entity: %v", err)
	}

	big := make([]byte, MaxSize+1)
	copy(big, head)
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("64 KiB + 1: %v", err)
	}
	// Exactly MaxSize is fine.
	ok := []byte(head + "</dialog-info>")
	ok = append(ok, bytes.Repeat([]byte(" "), MaxSize-len(ok))...)
	if _, err := Parse(ok); err != nil {
		t.Errorf("exactly MaxSize: %v", err)
	}

	deep := head + `<dialog id="1"><state>early</state><local>` + strings.Repeat("<x>", 20000)
	start := time.Now()
	if _, err := Parse([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep nesting: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("deep nesting took %v", d)
	}
	// Nesting up to the limit is fine.
	okDeep := head + strings.Repeat("<a>", MaxDepth-1) + strings.Repeat("</a>", MaxDepth-1) + "</dialog-info>"
	if _, err := Parse([]byte(okDeep)); err != nil {
		t.Errorf("depth %d: %v", MaxDepth, err)
	}
}

func TestValidate(t *testing.T) {
	good := func() *Info {
		return &Info{State: "full", Entity: "e", Dialogs: []Dialog{{ID: "1", State: "early",
			Local: &Participant{Identity: "sip:a", Target: "sip:a", TargetParams: []Param{{"n", "v"}}}}}}
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Info){
		"state is not full or partial":                        func(i *Info) { i.State = "" },
		"missing entity":                                      func(i *Info) { i.Entity = "" },
		"entity has characters XML cannot carry":              func(i *Info) { i.Entity = "a\x00" },
		"dialog 1 has no id":                                  func(i *Info) { i.Dialogs[0].ID = "" },
		"dialog 1 has unknown state":                          func(i *Info) { i.Dialogs[0].State = "ringing" },
		"dialog 1 direction is not initiator or recipient":    func(i *Info) { i.Dialogs[0].Direction = "in" },
		"dialog 1 has unknown state event":                    func(i *Info) { i.Dialogs[0].Event = "x" },
		"dialog 1 state code is not 100-699":                  func(i *Info) { i.Dialogs[0].Code = 7 },
		"dialog 1 has bad duration":                           func(i *Info) { i.Dialogs[0].Duration = intp(-1) },
		"dialog 1 has characters XML cannot carry":            func(i *Info) { i.Dialogs[0].CallID = "\xff" },
		"dialog 1 local identity has surrounding white space": func(i *Info) { i.Dialogs[0].Local.Identity = " x" },
		"dialog 1 local has display but no identity": func(i *Info) {
			i.Dialogs[0].Local.Identity, i.Dialogs[0].Local.IdentityDisplay = "", "d"
		},
		"dialog 1 local has target params but no target": func(i *Info) { i.Dialogs[0].Local.Target = "" },
		"dialog 1 local has a target param without name": func(i *Info) { i.Dialogs[0].Local.TargetParams[0].Name = "" },
		"dialog 1 local has characters XML cannot carry": func(i *Info) { i.Dialogs[0].Local.TargetParams[0].Value = "\uffff" },
		"dialog 1 has more than 32 target params": func(i *Info) {
			i.Dialogs[0].Local.TargetParams = make([]Param, 33)
		},
		"more than 256 dialogs": func(i *Info) { i.Dialogs = make([]Dialog, 257) },
	}
	for want, mod := range bad {
		i := good()
		mod(i)
		err := i.Validate()
		if err == nil || err.Error() != "dialog-info: "+want {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	var nilInfo *Info
	if nilInfo.Validate() == nil {
		t.Error("nil Info validated")
	}
}

// TestRoundTripGenerated checks Parse(Encode(x)) == x over generated valid
// documents, covering combinations the golden files do not.
func TestRoundTripGenerated(t *testing.T) {
	strs := []string{"", "a", "sip:1001@pbx", `q"'&<>`, "\u00e9\U0001F600", "x\ty\nz\r", " pad "}
	seed := uint32(1)
	rnd := func(n int) int {
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		return int(seed % uint32(n))
	}
	pick := func() string { return strs[rnd(len(strs))] }
	nonEmpty := func() string {
		for {
			if s := pick(); s != "" {
				return s
			}
		}
	}
	part := func() *Participant {
		if rnd(3) == 0 {
			return nil
		}
		p := &Participant{}
		if rnd(2) == 0 {
			p.Identity = xmlsafe.TrimSpace(nonEmpty())
			if p.Identity == "" {
				p.Identity = "sip:x"
			}
			p.IdentityDisplay = pick()
		}
		if rnd(2) == 0 {
			p.Target = nonEmpty()
			for n := rnd(3); n > 0; n-- {
				p.TargetParams = append(p.TargetParams, Param{nonEmpty(), pick()})
			}
		}
		return p
	}
	for i := 0; i < 2000; i++ {
		info := &Info{Version: uint32(rnd(1 << 30)), State: []string{"full", "partial"}[rnd(2)], Entity: nonEmpty()}
		for n := rnd(4); n > 0; n-- {
			d := Dialog{ID: nonEmpty(), CallID: pick(), LocalTag: pick(), RemoteTag: pick(),
				Direction: []string{"", "initiator", "recipient"}[rnd(3)],
				State:     dialogStates[rnd(len(dialogStates))],
				Local:     part(), Remote: part()}
			if rnd(2) == 0 {
				d.Event = stateEvents[rnd(len(stateEvents))]
				d.Code = 100 + rnd(600)
			}
			if rnd(2) == 0 {
				d.Duration = intp(rnd(100000))
			}
			info.Dialogs = append(info.Dialogs, d)
		}
		if err := info.Validate(); err != nil {
			t.Fatalf("generator made invalid %+v: %v", info, err)
		}
		roundTrip(t, info)
	}
}
