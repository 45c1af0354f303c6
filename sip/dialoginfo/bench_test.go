package dialoginfo

import "testing"

// benchInfo is a typical busy-plus-ringing document with caller id and
// pickup data, the largest thing a BLF NOTIFY usually carries.
func benchInfo() *Info {
	for _, c := range goldenCases() {
		if c.name == "multiple" {
			return c.info
		}
	}
	return goldenCases()[0].info
}

func BenchmarkNewTemplate(b *testing.B) {
	info := benchInfo()
	b.ReportAllocs()
	for b.Loop() {
		NewTemplate(info)
	}
}

func BenchmarkTemplateAppend(b *testing.B) {
	t := NewTemplate(benchInfo())
	buf := make([]byte, 0, t.Len()+10)
	b.ReportAllocs()
	b.SetBytes(int64(t.Len()))
	for v := uint32(0); b.Loop(); v++ {
		buf = t.Append(buf[:0], v)
	}
}

func BenchmarkEncode(b *testing.B) {
	info := benchInfo()
	b.ReportAllocs()
	for b.Loop() {
		Encode(info)
	}
}

func BenchmarkParse(b *testing.B) {
	data := Encode(benchInfo())
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
