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

// TestWriteTextEscapesControlCharacters: a log line, an upstream answer or a node name may
// carry terminal escapes; the text report shows them escaped, one report line per line.
func TestWriteTextEscapesControlCharacters(t *testing.T) {
	t.Parallel()
	const esc = "\x1b]0;owned\x07\x1b[2J\u009b1m\u202e"
	r := Diagnose(healthySecondary(), Options{})
	r.Node.Name = "node" + esc
	r.Config.Invalid = []string{"WARM_IP_TARGET=" + esc}
	r.Findings = append(r.Findings, Finding{
		Cause: "other_error", Severity: "warning", Summary: "summary" + esc,
		Evidence: []string{"line one\nFINDINGS none" + esc}, Fix: "fix", Confirm: "confirm" + esc,
	})
	var b bytes.Buffer
	if err := WriteText(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for i, c := range []byte(out) {
		if (c < 0x20 && c != '\n') || c == 0x7f {
			t.Fatalf("report holds control byte %#x at %d:\n%q", c, i, out)
		}
	}
	for _, bad := range []string{"\u009b", "\u202e", "\nFINDINGS none"} {
		if strings.Contains(out, bad) {
			t.Errorf("report holds %q raw", bad)
		}
	}
	for _, want := range []string{`NODE node\x1b]0;owned\x07\x1b[2J\u009b1m\u202e`, `line one\nFINDINGS none`} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks the escaped form %q:\n%s", want, out)
		}
	}
}
