package dialoginfo

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
	f.Add([]byte(head + `<dialog id="1"><state event="replaced" code="200">terminated</state><duration>5</duration>` +
		`<local><identity display="a">sip:a</identity><target uri="sip:a"><param pname="p" pvalue="v"/></target></local>` +
		`<remote/></dialog></dialog-info>`))
	f.Add([]byte(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`))
	f.Add([]byte(`<?xml version="1.0" encoding="latin1"?><x/>`))
	f.Add([]byte(`<d:dialog-info xmlns:d="urn:ietf:params:xml:ns:dialog-info" version="1" state="full" entity="e"><d:dialog id="x"><d:state>early</d:state></d:dialog></d:dialog-info>`))

	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := Parse(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		roundTrip(t, info)
	})
}
