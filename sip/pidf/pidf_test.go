package pidf

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
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the encoder")

type goldenCase struct {
	name string
	doc  *Document
	want *Document // what Parse gives back, if not doc
}

func goldenCases() []goldenCase {
	const e = "sip:1001@pbx"
	open := func(note string) []Tuple { return []Tuple{{ID: "t1", Basic: "open", Note: note}} }
	return []goldenCase{
		{name: "available", doc: &Document{Entity: e, Tuples: []Tuple{
			{ID: "t1", Basic: "open", Contact: "sip:1001@10.0.0.21:5060", Note: "Available"}}}},
		{name: "on-the-phone", doc: &Document{Entity: e, Tuples: open("On the phone"),
			Person: &Person{ID: "p1", Activities: []string{"on-the-phone"}, Note: "On the phone"}}},
		{name: "ringing", doc: &Document{Entity: e, Tuples: open("Ringing"),
			Person: &Person{ID: "p1", Note: "Ringing"}}},
		{name: "busy", doc: &Document{Entity: e, Tuples: open("Do not disturb"),
			Person: &Person{ID: "p1", Activities: []string{"busy"}, Note: "Do not disturb"}}},
		{name: "away", doc: &Document{Entity: e, Tuples: open("Away"),
			Person: &Person{ID: "p1", Activities: []string{"away", "meeting"}, Note: "Away"}}},
		{name: "offline", doc: &Document{Entity: e, Tuples: []Tuple{{ID: "t1", Basic: "closed", Note: "Offline"}}}},
		{name: "multiple", doc: &Document{Entity: e, Tuples: []Tuple{
			{ID: "t1", Basic: "open", Contact: "sip:1001@10.0.0.21"},
			{ID: "t2", Basic: "closed", Contact: "sip:1001@10.0.0.22"}},
			Person: &Person{ID: "p1"}}},
		{name: "empty", doc: &Document{Entity: e}},
		{name: "escaping",
			doc: &Document{Entity: "sip:\"a\"&<b>@pbx", Tuples: []Tuple{
				{ID: `t"1'`, Basic: "open", Contact: "sip:x@y;p=<1>&q", Note: "Bob's \"phone\" & <co>\x00\x1b\t\u00e9\uffff\xfe"}},
				Person: &Person{ID: "p&1", Activities: []string{"bogus<x/>", "on-the-phone", "other", ""}, Note: "a\r\nb"}},
			want: &Document{Entity: "sip:\"a\"&<b>@pbx", Tuples: []Tuple{
				{ID: `t"1'`, Basic: "open", Contact: "sip:x@y;p=<1>&q", Note: "Bob's \"phone\" & <co>\t\u00e9"}},
				Person: &Person{ID: "p&1", Activities: []string{"on-the-phone"}, Note: "a\r\nb"}}},
	}
}

func TestGolden(t *testing.T) {
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join("testdata", "golden", c.name+".xml")
			got := Encode(c.doc)
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
			back, err := Parse(want)
			if err != nil {
				t.Fatalf("Parse(%s): %v", path, err)
			}
			exp := c.want
			if exp == nil {
				exp = c.doc
			}
			if !reflect.DeepEqual(back, exp) {
				t.Errorf("Parse(%s):\ngot  %+v %+v\nwant %+v %+v", path, back, back.Person, exp, exp.Person)
			}
			if err := exp.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestEncodeNil(t *testing.T) {
	if _, err := Parse(Encode(nil)); err == nil || err.Error() != "pidf: missing entity" {
		t.Errorf("Encode(nil) parsed with %v", err)
	}
}

// Documents in the styles other implementations send.
func TestParseInterop(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want *Document
	}{
		{
			// linphone: default pidf namespace, data model and RPID under
			// their usual prefixes, timestamps, contact priority.
			name: "linphone-like",
			in: `<?xml version="1.0" encoding="UTF-8"?>
<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:bob@example.org">
  <tuple id="fmr6ah">
    <status>
      <basic>open</basic>
    </status>
    <contact priority="0.8">sip:bob@192.168.1.2;transport=udp</contact>
    <timestamp>2024-01-01T10:00:00Z</timestamp>
  </tuple>
  <dm:person id="hfvaqi">
    <rpid:activities>
      <rpid:on-the-phone/>
    </rpid:activities>
    <dm:note xml:lang="en">On the phone</dm:note>
    <dm:timestamp>2024-01-01T10:00:00Z</dm:timestamp>
  </dm:person>
</presence>
`,
			want: &Document{Entity: "sip:bob@example.org",
				Tuples: []Tuple{{ID: "fmr6ah", Basic: "open", Contact: "sip:bob@192.168.1.2;transport=udp"}},
				Person: &Person{ID: "hfvaqi", Activities: []string{"on-the-phone"}, Note: "On the phone"}},
		},
		{
			// baresip: CRLF, person before tuple, empty activities.
			name: "baresip-like",
			in: "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n" +
				"<presence xmlns=\"urn:ietf:params:xml:ns:pidf\"\r\n" +
				"    xmlns:dm=\"urn:ietf:params:xml:ns:pidf:data-model\"\r\n" +
				"    xmlns:rpid=\"urn:ietf:params:xml:ns:pidf:rpid\"\r\n" +
				"    entity=\"sip:alice@10.0.0.1\">\r\n" +
				"  <dm:person id=\"p4159\"><rpid:activities/></dm:person>\r\n" +
				"  <tuple id=\"t4109\">\r\n" +
				"    <status>\r\n" +
				"      <basic>closed</basic>\r\n" +
				"    </status>\r\n" +
				"    <contact>sip:alice@10.0.0.1</contact>\r\n" +
				"  </tuple>\r\n" +
				"</presence>\r\n",
			want: &Document{Entity: "sip:alice@10.0.0.1",
				Tuples: []Tuple{{ID: "t4109", Basic: "closed", Contact: "sip:alice@10.0.0.1"}},
				Person: &Person{ID: "p4159"}},
		},
		{
			// Other prefixes for every namespace, including the pidf one;
			// RPID note and "other" in activities; unknown RPID and
			// foreign elements; a second person is ignored.
			name: "other-prefixes",
			in: `<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:pdm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" xmlns:c="urn:ietf:params:xml:ns:pidf:cipid" xmlns:ep="urn:ietf:params:xml:ns:pidf:status:rpid-status" entity="pres:carol@example.com">
<p:tuple id="a1"><p:status><p:basic> open </p:basic><ep:activities><ep:activity>busy</ep:activity></ep:activities></p:status><r:user-input>idle</r:user-input><p:note>first</p:note><p:note>second</p:note><p:contact>sip:carol@h</p:contact></p:tuple>
<pdm:person id="x"><r:activities><r:note>In a meeting</r:note><r:meeting/><r:other>golf</r:other><r:busy><ext/></r:busy><c:busy/></r:activities><r:activities><r:away/></r:activities><pdm:note> Meeting </pdm:note><c:card>http://x</c:card></pdm:person>
<pdm:person id="y"><r:activities><r:vacation/></r:activities></pdm:person>
<pdm:device id="d"><pdm:deviceID>mac:8c</pdm:deviceID></pdm:device>
<r:activities><r:sleeping/></r:activities>
</p:presence>`,
			want: &Document{Entity: "pres:carol@example.com",
				Tuples: []Tuple{{ID: "a1", Basic: "open", Contact: "sip:carol@h", Note: "first"}},
				Person: &Person{ID: "x", Activities: []string{"meeting", "busy", "away"}, Note: "Meeting"}},
		},
		{
			// The RPID namespace declared as the default inside the person.
			name: "default-ns-switch",
			in: `<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:d@e"><tuple id="1"><status><basic>open</basic></status></tuple>` +
				`<person xmlns="urn:ietf:params:xml:ns:pidf:data-model" id="p"><activities xmlns="urn:ietf:params:xml:ns:pidf:rpid"><on-the-phone/><unknown/></activities><note>x</note></person>` +
				`<tuple id="2" xmlns="urn:example"><status><basic>bogus</basic></status></tuple></presence>`,
			want: &Document{Entity: "sip:d@e",
				Tuples: []Tuple{{ID: "1", Basic: "open"}},
				Person: &Person{ID: "p", Activities: []string{"on-the-phone", "unknown"}, Note: "x"}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Parse([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got  %+v %+v\nwant %+v %+v", got, got.Person, c.want, c.want.Person)
			}
			roundTrip(t, got)
		})
	}
}

// roundTrip checks that a parsed value is valid and survives Encode+Parse.
func roundTrip(t *testing.T, d *Document) {
	t.Helper()
	if err := d.Validate(); err != nil {
		t.Fatalf("parsed value fails Validate: %v", err)
	}
	enc := Encode(d)
	if len(enc) > MaxSize {
		return // escaping can grow a document past what Parse takes
	}
	back, err := Parse(enc)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, enc)
	}
	if !reflect.DeepEqual(back, d) {
		t.Fatalf("round trip changed value:\n got %+v\nwant %+v\n%s", back, d, enc)
	}
}

const head = `<presence xmlns="urn:ietf:params:xml:ns:pidf" xmlns:dm="urn:ietf:params:xml:ns:pidf:data-model" xmlns:rpid="urn:ietf:params:xml:ns:pidf:rpid" entity="sip:1@pbx">`

func TestParseErrors(t *testing.T) {
	cases := []struct{ in, want string }{
		{"", "pidf: no root element"},
		{"junk", "pidf: text before root element"},
		{head, "pidf: malformed XML at line 1: unexpected EOF"},
		{head + "</tuple>", "pidf: malformed XML at line 1: element <presence> closed by </tuple>"},
		{head + "\n&nbsp;</presence>", "pidf: malformed XML at line 2: invalid character entity &nbsp;"},
		{head + "\x0c</presence>", "pidf: malformed XML at line 1: illegal character code U+000C"},
		{`<?xml version="1.0" encoding="windows-1252"?>` + head + "</presence>", `pidf: unsupported charset "windows-1252", only UTF-8`},
		{`<!DOCTYPE presence>` + head + "</presence>", "pidf: DTD not allowed"},
		{head + `<?xml-stylesheet href="x"?></presence>`, "pidf: processing instruction not allowed"},
		{head + "</presence><presence/>", "pidf: second root element"},
		{head + "</presence>x", "pidf: text after root element"},
		{`<dialog-info xmlns="urn:ietf:params:xml:ns:dialog-info"/>`, "pidf: root element is <dialog-info>, not <presence>"},
		{`<presence entity="e"/>`, "pidf: root element not in namespace urn:ietf:params:xml:ns:pidf"},
		{`<presence xmlns="urn:ietf:params:xml:ns:cpim-pidf" entity="e"/>`, "pidf: root element not in namespace urn:ietf:params:xml:ns:pidf"},
		{`<presence xmlns="urn:ietf:params:xml:ns:pidf"/>`, "pidf: missing entity"},
		{`<presence xmlns="urn:ietf:params:xml:ns:pidf" entity=""/>`, "pidf: missing entity"},
		{head + `<tuple><status><basic>open</basic></status></tuple></presence>`, "pidf: tuple 1 has no id"},
		{head + `<tuple id="a"><status><basic>open</basic></status></tuple><tuple id=""/></presence>`, "pidf: tuple 2 has no id"},
		{head + `<tuple id="a"></tuple></presence>`, "pidf: tuple 1 has no basic status"},
		{head + `<tuple id="a"><status/></tuple></presence>`, "pidf: tuple 1 has no basic status"},
		{head + `<tuple id="a"><status><rpid:basic>open</rpid:basic></status></tuple></presence>`, "pidf: tuple 1 has no basic status"},
		{head + `<tuple id="a"><status><basic></basic></status></tuple></presence>`, "pidf: tuple 1 basic status is not open or closed"},
		{head + `<tuple id="a"><status><basic>Open</basic></status></tuple></presence>`, "pidf: tuple 1 basic status is not open or closed"},
		{head + `<dm:person><rpid:activities><rpid:busy/></rpid:activities></dm:person></presence>`, "pidf: person has no id"},
		{head + `<dm:person id="p"><rpid:activities>` + strings.Repeat("<rpid:busy/>", MaxActivities+1) + `</rpid:activities></dm:person></presence>`, "pidf: more than 32 activities"},
		{head + strings.Repeat(`<tuple id="a"><status><basic>open</basic></status></tuple>`, MaxTuples+1) + `</presence>`, "pidf: more than 256 tuples"},
		{head + strings.Repeat("<a>", MaxDepth) + strings.Repeat("</a>", MaxDepth) + "</presence>", "pidf: elements nested deeper than 32"},
		{head + strings.Repeat(" ", MaxSize) + `</presence>`, "pidf: document larger than 65536 bytes"},
		{"<\u00e9\u00e9 xmlns='urn:x'/>", "pidf: root element is <??>, not <presence>"},
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
 <!ENTITY lol9 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="&lol9;"/>`
	xxe := `<?xml version="1.0"?>
<!DOCTYPE foo [ <!ENTITY xxe SYSTEM "file:///etc/passwd"> ]>
<presence xmlns="urn:ietf:params:xml:ns:pidf" entity="sip:a@b"><tuple id="t"><status><basic>open</basic></status><note>&xxe;</note></tuple></presence>`
	for name, in := range map[string]string{"billion-laughs": lol, "xxe": xxe} {
		start := time.Now()
		_, err := Parse([]byte(in))
		if err == nil || err.Error() != "pidf: DTD not allowed" || !errors.Is(err, ErrDTD) {
			t.Errorf("%s: got %v, want DTD not allowed", name, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("%s: took %v", name, d)
		}
	}
	big := make([]byte, MaxSize+1)
	copy(big, head)
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Errorf("64 KiB + 1: %v", err)
	}
	deep := head + `<dm:person id="p">` + strings.Repeat("<x>", 20000)
	if _, err := Parse([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestValidate(t *testing.T) {
	good := func() *Document {
		return &Document{Entity: "e", Tuples: []Tuple{{ID: "t", Basic: "open", Contact: "c", Note: "n"}},
			Person: &Person{ID: "p", Activities: []string{"busy"}, Note: "n"}}
	}
	if err := good().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := map[string]func(*Document){
		"missing entity":                                func(d *Document) { d.Entity = "" },
		"entity has characters XML cannot carry":        func(d *Document) { d.Entity = "\x01" },
		"tuple 1 has no id":                             func(d *Document) { d.Tuples[0].ID = "" },
		"tuple 1 has no basic status":                   func(d *Document) { d.Tuples[0].Basic = "" },
		"tuple 1 basic status is not open or closed":    func(d *Document) { d.Tuples[0].Basic = "busy" },
		"tuple 1 has text with surrounding white space": func(d *Document) { d.Tuples[0].Note = "n\n" },
		"tuple 1 has characters XML cannot carry":       func(d *Document) { d.Tuples[0].Contact = "\xff" },
		"more than 256 tuples":                          func(d *Document) { d.Tuples = make([]Tuple, 257) },
		"person has no id":                              func(d *Document) { d.Person.ID = "" },
		`person has unknown activity "golf"`:            func(d *Document) { d.Person.Activities = []string{"golf"} },
		"more than 32 activities":                       func(d *Document) { d.Person.Activities = make([]string, 33) },
		"person note has surrounding white space":       func(d *Document) { d.Person.Note = " n" },
		"person has characters XML cannot carry":        func(d *Document) { d.Person.Note = "\ufffe" },
	}
	for want, mod := range bad {
		d := good()
		mod(d)
		err := d.Validate()
		if err == nil || err.Error() != "pidf: "+want {
			t.Errorf("got %v, want %q", err, want)
		}
	}
	var nilDoc *Document
	if nilDoc.Validate() == nil {
		t.Error("nil Document validated")
	}
	if !IsActivity("on-the-phone") || IsActivity("other") || IsActivity("") {
		t.Error("IsActivity")
	}
}
