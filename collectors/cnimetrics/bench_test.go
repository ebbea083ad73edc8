package cnimetrics

import (
	"bytes"
	"testing"
)

// BenchmarkParse parses a full v1.19 aws-node page (every family, kept or not).
func BenchmarkParse(b *testing.B) {
	data := readFixture(b, "v1.19.prom")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data), 0); err != nil {
			b.Fatal(err)
		}
	}
}
