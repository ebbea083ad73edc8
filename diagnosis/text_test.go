package diagnosis

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

type failingWriter struct{ after int }

var errDiskFull = errors.New("disk full")

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.after <= 0 {
		return 0, errDiskFull
	}
	w.after--
	return len(p), nil
}

func TestWriteTextReportsWriteErrors(t *testing.T) {
	t.Parallel()
	r := Diagnose(healthySecondary(), Options{})
	for _, after := range []int{0, 3, 10} {
		if err := WriteText(&failingWriter{after: after}, r); !errors.Is(err, errDiskFull) {
			t.Errorf("after %d writes: err = %v, want %v", after, err, errDiskFull)
		}
	}
}

func TestWriteTextUnknownNode(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := WriteText(&b, Diagnose(nil, Options{})); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"NODE -", "pod IPs ever (ENI ceiling)", "unknown / unknown", "HEADROOM unknown more pod(s)   BINDING CEILING unknown", "FINDINGS none"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}
