package pidf

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that its errors are fit for a
// reason phrase, and that whatever it accepts survives Encode and Parse.
func FuzzParse(f *testing.F) {
	golden, _ := filepath.Glob(filepath.Join("testdata", "golden", "*.xml"))
	for _, path := range golden {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`<p:presence xmlns:p="urn:ietf:params:xml:ns:pidf" xmlns:d="urn:ietf:params:xml:ns:pidf:data-model" xmlns:r="urn:ietf:params:xml:ns:pidf:rpid" entity="e">` +
		`<p:tuple id="t"><p:status><p:basic>closed</p:basic></p:status><p:contact>c</p:contact><p:note>n</p:note></p:tuple>` +
		`<d:person id="p"><r:activities><r:away/><r:other>x</r:other></r:activities><d:note>z</d:note></d:person></p:presence>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`))
	f.Add([]byte(`<?xml version="1.0" encoding="latin1"?><x/>`))

	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := Parse(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		roundTrip(t, d)
	})
}
