package pidf

import "testing"

func benchDoc() *Document { return goldenCases()[1].doc }

func BenchmarkEncode(b *testing.B) {
	d := benchDoc()
	b.ReportAllocs()
	for b.Loop() {
		Encode(d)
	}
}

func BenchmarkParse(b *testing.B) {
	data := Encode(benchDoc())
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}
