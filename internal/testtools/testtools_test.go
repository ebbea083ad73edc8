package testtools

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fatalTB records Fatalf and ends its goroutine, as testing.T does.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestWaitFor(t *testing.T) {
	t.Parallel()
	calls := 0
	WaitFor(t, time.Minute, "the third call", func() bool { calls++; return calls == 3 })
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}

	fake := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		WaitForNoError(fake, 10*time.Millisecond, "a cache to fill", func() error { return errors.New("still empty") })
	}()
	<-done
	if !strings.Contains(fake.msg, "a cache to fill") || !strings.Contains(fake.msg, "still empty") {
		t.Errorf("failure %q does not say what it waited for and why", fake.msg)
	}
}

func TestGoldenSection(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "doc.md")
	const doc = "intro\n<!-- BEGIN -->\nold table\n<!-- END -->\noutro <!-- END -->\n"
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	GoldenSection(t, path, "<!-- BEGIN -->", "<!-- END -->", "\nnew table\n", true)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := "intro\n<!-- BEGIN -->\nnew table\n<!-- END -->\noutro <!-- END -->\n"; string(b) != want {
		t.Errorf("rewritten file = %q, want %q", b, want)
	}
	GoldenSection(t, path, "<!-- BEGIN -->", "<!-- END -->", "\nnew table\n", false) // now equal

	fake := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		GoldenSection(fake, path, "<!-- MISSING -->", "<!-- END -->", "", false)
	}()
	<-done
	if !strings.Contains(fake.msg, "markers") {
		t.Errorf("missing markers: %q", fake.msg)
	}
}
