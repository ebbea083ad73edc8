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

// BenchmarkParseSkippedFamily reads a 15 MiB page that is all awscni_aws_utils_error_count,
// the one family that grows with aws-node's life: the cost of the body cap, in read time.
func BenchmarkParseSkippedFamily(b *testing.B) {
	data := page("awscni_aws_utils_error_count", "error", 15<<20)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(bytes.NewReader(data), 0); err != nil {
			b.Fatal(err)
		}
	}
}
