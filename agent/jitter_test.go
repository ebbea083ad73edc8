package agent

import (
	"testing"
	"time"
)

// Every wait stays within +-10% of the interval, and the waits really vary.
func TestJitter(t *testing.T) {
	t.Parallel()
	d := 30 * time.Second
	seen := map[time.Duration]bool{}
	for i := 0; i < 1000; i++ {
		j := jitter(d)
		if j < 27*time.Second || j > 33*time.Second {
			t.Fatalf("jitter(%s) = %s, outside +-10%%", d, j)
		}
		seen[j] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 1000: not jittered", len(seen))
	}
	if got := jitter(5 * time.Nanosecond); got != 5*time.Nanosecond {
		t.Errorf("jitter of a tiny interval = %s", got)
	}
}
