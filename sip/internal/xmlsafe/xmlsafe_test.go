package xmlsafe

import (
	"errors"
	"strings"
	"testing"
)

func TestEscapingDropsForbidden(t *testing.T) {
	got := string(AppendText(nil, "a\x00b\x08c\td\ne\rf\x7fg\uFFFEh\uFFFFi\xC3j\U0001F600k"))
	want := "abc\td\ne&#13;f\x7fghij\U0001F600k"
	if got != want {
		t.Errorf("text: got %q want %q", got, want)
	}
	got = string(AppendAttr(nil, "\t\n\r&<>\"'"))
	want = "&#9;&#10;&#13;&amp;&lt;&gt;&quot;&apos;"
	if got != want {
		t.Errorf("attr: got %q want %q", got, want)
	}
	got = string(AppendText([]byte("x"), `&<>"'`))
	want = `x&amp;&lt;&gt;&quot;&apos;`
	if got != want {
		t.Errorf("append: got %q want %q", got, want)
	}
}

// The encoders rely on escaping into a buffer with room not allocating.
func TestEscapingAllocs(t *testing.T) {
	buf := make([]byte, 0, 256)
	s := "sip:\"Bob\" & <Alice>\t\u00e9\x00@pbx"
	if n := testing.AllocsPerRun(100, func() {
		buf = AppendAttr(buf[:0], s)
		buf = AppendText(buf, s)
	}); n != 0 {
		t.Errorf("%v allocations", n)
	}
}

func TestValid(t *testing.T) {
	for _, s := range []string{"", "sip:1001@pbx", "\t\n\r", "\u00e9\U0001F600\uFFFD", "\x7f", "\uE000\uFFFD"} {
		if !Valid(s) {
			t.Errorf("Valid(%q) = false", s)
		}
	}
	for _, s := range []string{"\x00", "a\x08", "\x1b", "\uFFFE", "\uFFFF", "\xC3", "a\xffb", "\xed\xa0\x80"} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
		// Valid must agree with what escaping keeps.
		if got := string(AppendText(nil, s)); got == s {
			t.Errorf("AppendText(%q) kept it", s)
		}
	}
}

func TestTrimSpace(t *testing.T) {
	for in, want := range map[string]string{
		"": "", " \t\r\n": "", " a b\n": "a b", "\u00a0a\u00a0": "\u00a0a\u00a0", "\va\f": "\va\f",
	} {
		if got := TrimSpace(in); got != want {
			t.Errorf("TrimSpace(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClean(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"plain text", 20, "plain text"},
		{"a\x00b\u00e9c\U0001F600d\xff", 20, "a?b?c?d?"},
		{strings.Repeat("x", 21), 20, strings.Repeat("x", 17) + "..."},
		{strings.Repeat("x", 20), 20, strings.Repeat("x", 20)},
	} {
		if got := Clean(c.in, c.max); got != c.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

var errDTD = errors.New("test DTD sentinel")

// readAll reads a document the way the codecs do: root, skip, end.
func readAll(data string, maxDepth int) error {
	r := NewReader([]byte(data), maxDepth, errDTD)
	if _, err := r.Root("urn:x", "a"); err != nil {
		return err
	}
	if err := r.Skip(); err != nil {
		return err
	}
	return r.End()
}

func TestReader(t *testing.T) {
	for _, c := range []struct {
		in, want string
		dtd      bool
	}{
		{"\xEF\xBB\xBF<?xml version='1.0'?><!-- c --><a xmlns='urn:x'><b/>t</a> <!-- c -->\n", "", false},
		{"", "no root element", false},
		{"x<a/>", "text before root element", false},
		{"<b xmlns='urn:x'/>", "root element is <b>, not <a>", false},
		{"<a/>", "root element not in namespace urn:x", false},
		{"<a xmlns='urn:x'/><a/>", "second root element", false},
		{"<a xmlns='urn:x'/>x", "text after root element", false},
		{"<a xmlns='urn:x'><b><c/></b></a>", "elements nested deeper than 2", false},
		{"<a xmlns='urn:x'>", "malformed XML at line 1: unexpected EOF", false},
		{"<?xml version='1.0' encoding='latin1'?><a/>", `unsupported charset "latin1", only UTF-8`, false},
		{"<!DOCTYPE a><a/>", "DTD not allowed", true},
		{"<a xmlns='urn:x'><?pi x?></a>", "processing instruction not allowed", true},
	} {
		err := readAll(c.in, 2)
		if c.want == "" {
			if err != nil {
				t.Errorf("%q: %v", c.in, err)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Reason != c.want {
			t.Errorf("%q: got %v, want %q", c.in, err, c.want)
			continue
		}
		if errors.Is(err, errDTD) != c.dtd {
			t.Errorf("%q: errors.Is(errDTD) = %v", c.in, !c.dtd)
		}
	}
}

func TestText(t *testing.T) {
	r := NewReader([]byte("<a xmlns='urn:x' xmlns:p='urn:p' p:k='w' k='v'>\n x<b>ignored</b>&amp;y \n</a>"), 4, errDTD)
	se, err := r.Root("urn:x", "a")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := Attr(se, "k"); !ok || v != "v" {
		t.Errorf("Attr = %q, %v", v, ok)
	}
	if v, ok := Attr(se, "x"); ok {
		t.Errorf("Attr found absent x = %q", v)
	}
	if s, err := r.Text(); err != nil || s != "x&y" {
		t.Errorf("Text = %q, %v", s, err)
	}
}

func TestChild(t *testing.T) {
	r := NewReader([]byte(`<a>text<!-- c --><b/>more<c>x</c></a>`), 8, errors.New("dtd"))
	if _, err := r.Root("", "a"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		se, ok, err := r.Child()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		got = append(got, se.Name.Local)
		if err := r.Skip(); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Join(got, ",") != "b,c" {
		t.Fatalf("children = %v", got)
	}
	r = NewReader([]byte(`<a><b/>`), 8, errors.New("dtd"))
	if _, err := r.Root("", "a"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.Child(); err != nil {
		t.Fatal(err)
	}
	_ = r.Skip()
	if _, _, err := r.Child(); err == nil || !strings.Contains(err.Error(), "malformed XML") {
		t.Fatalf("truncated document: %v", err)
	}
}
