package testtools

import (
	"errors"
	"fmt"
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
