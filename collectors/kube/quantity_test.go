package kube

import (
	"math"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
)

func TestQuantityValue(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"110", 110, true},
		{"0", 0, true},
		{"+7", 7, true},
		{"-3", -3, true},
		{"1k", 1000, true},
		{"1Ki", 1024, true},
		{"2Mi", 2 << 20, true},
		{"1Ei", 1 << 60, true},
		{"8E", 8e18, true},
		{"10E", math.MaxInt64, true}, // saturates, as Quantity.Value does
		{"500m", 1, true},            // rounds up
		{"1500m", 2, true},
		{"1n", 1, true},
		{"1.5", 2, true},
		{".5", 1, true},
		{"1.1e2", 110, true},
		{"1E3", 1000, true},
		{"12e-1", 2, true},
		{"", 0, false},
		{"k", 0, false},
		{"1.2.3", 0, false},
		{"1K", 0, false},
		{"1ki", 0, false},
		{"1e", 0, false},
		{"1e10000", 0, false},
		{"1E0000", 1, true}, // ParseQuantity keeps this form as its canonical one
		{"2e-0003", 1, true},
		{"-1E-1", -1, true}, // away from zero, as Quantity.Value
		{"1/2", 0, false},
		{" 1", 0, false},
		{"0x10", 0, false},
	}
	for _, tc := range tests {
		got, ok := quantity(tc.in).Value()
		if got != tc.want || ok != tc.ok {
			t.Errorf("quantity(%q).Value() = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzQuantity holds the parser to resource.ParseQuantity: whatever both accept has the
// same value (within int32, the range the agent uses), and the canonical form ParseQuantity
// writes (what the API server sends) is always accepted. ParseQuantity's leniencies on other
// input ("+" is 0) do not matter: the API server writes canonical quantities.
func FuzzQuantity(f *testing.F) {
	for _, s := range []string{"110", "1k", "1Ki", "500m", "1.5", "1e3", "18", "0.018k", "-1", "1E-2", "100500m", "9Ei"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ref, err := resource.ParseQuantity(s)
		if err != nil {
			return
		}
		// Compare only where the true value is a count the agent can use, 0 to 2^31: beyond
		// int64 ParseQuantity's Value() wraps ("10E" gives 0) while ours saturates, and below
		// zero its sub-nano rounding turns "-1E-10" into 1; callers refuse all of these.
		approx := ref.AsApproximateFloat64()
		inRange := approx >= 0 && approx <= 1<<31
		want := ref.Value()
		if got, ok := quantity(s).Value(); ok && inRange && got != want {
			t.Fatalf("quantity(%q) = %d, ParseQuantity gives %d", s, got, want)
		}
		canonical := ref.String()
		got, ok := quantity(canonical).Value()
		// Within int64 every canonical form is read; far beyond it ("100e1098") ours may refuse,
		// which its callers treat like the saturated value: no usable count.
		if !ok && len(canonical) <= 64 && approx > -(1<<62) && approx < 1<<62 {
			t.Fatalf("the canonical form %q of %q is refused", canonical, s)
		}
		if ok && inRange && got != want {
			t.Fatalf("canonical %q of %q = %d; want %d", canonical, s, got, want)
		}
	})
}
