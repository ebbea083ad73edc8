package cnimetrics

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"testing"
)

// measure returns the bytes f allocates in all and the heap it leaves in use (after a GC, so
// garbage does not count): what f costs while it runs, and what its result holds.
func measure(f func()) (allocated, retained int64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.GC() // the second cycle also frees what the first one's finalisers released
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	allocated = int64(after.TotalAlloc - before.TotalAlloc)
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return allocated, int64(after.HeapInuse) - int64(before.HeapInuse)
}

// page builds an exposition of about size bytes: one family's TYPE line, then distinct series.
func page(family, label string, size int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# TYPE %s counter\n", family)
	for i := 0; b.Len() < size; i++ {
		fmt.Fprintf(&b, "%s{api=\"AssignPrivateIpAddresses\",%s=\"Code%08dPaddingToMakeTheLabelLonger\"} %d\n", family, label, i, i%7+1)
	}
	b.WriteString("# TYPE awscni_eni_max gauge\nawscni_eni_max 3\n")
	return b.Bytes()
}

// Not parallel: the heap is process-wide.
func TestParseMemoryDoesNotFollowThePage(t *testing.T) {
	for _, c := range []struct {
		name, family, label string
		allocCap            int64
	}{
		// Skipped while reading: only the read buffer is allocated (before: +46 MiB).
		{"ignored free-text family", "awscni_aws_utils_error_count", "error", 256 << 10},
		// Kept, and folded as it streams: garbage proportional to the page, a bounded result
		// (before: 373 MiB for a 15 MiB page).
		{"kept family with distinct codes", "awscni_aws_api_error_count", "error", 64 << 20},
	} {
		body := page(c.family, c.label, 15<<20)
		var s *Sample
		var err error
		alloc, kept := measure(func() { s, err = Parse(bytes.NewReader(body), 0) })
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if s.ENIMax == nil || *s.ENIMax != 3 {
			t.Errorf("%s: the family after the flood was not read: %+v", c.name, s.ENIMax)
		}
		if len(s.APIErrors) > maxSampleKeys {
			t.Errorf("%s: %d keys kept", c.name, len(s.APIErrors))
		}
		t.Logf("%s: %d MiB page, %d KiB allocated, %d KiB retained", c.name, len(body)>>20, alloc>>10, kept>>10)
		if alloc > c.allocCap || kept > 1<<20 {
			t.Errorf("%s: a %d MiB page allocated %d KiB (cap %d KiB) and left %d KiB in use (cap 1 MiB)",
				c.name, len(body)>>20, alloc>>10, c.allocCap>>10, kept>>10)
		}
		runtime.KeepAlive(s)
		runtime.KeepAlive(body)
	}
}

func TestParseDuplicateFamily(t *testing.T) {
	t.Parallel()
	for _, in := range []string{
		"# TYPE awscni_aws_api_error_count counter\nawscni_aws_api_error_count{error=\"X\"} 1\n# TYPE go_x gauge\ngo_x 1\n# TYPE awscni_aws_api_error_count counter\nawscni_aws_api_error_count{error=\"X\"} 1\n",
		"awscni_no_available_ip_addresses 1\nother 2\nawscni_no_available_ip_addresses 1\n",
		"awscni_eni_max 3\nawscni_ip_max 27\nawscni_eni_max_total 3\n",
	} {
		_, err := Parse(strings.NewReader(in), 0)
		if !errors.Is(err, ErrDuplicateFamily) {
			t.Errorf("Parse(%q) = %v, want ErrDuplicateFamily", in, err)
		}
	}
	// One group with HELP, TYPE and several series is not a duplicate; neither is a family
	// that is not kept, which is never parsed.
	ok := "# HELP awscni_eni_max h\n# TYPE awscni_eni_max gauge\nawscni_eni_max 3\ngo_x 1\ngo_y 1\ngo_x 2\n" +
		// OpenMetrics: a counter's _created series interleaved with its samples is one group.
		"# TYPE awscni_aws_api_error_count counter\nawscni_aws_api_error_count_total{error=\"A\"} 1\nawscni_aws_api_error_count_created{error=\"A\"} 1.7e9\nawscni_aws_api_error_count_total{error=\"B\"} 2\n"
	if _, err := Parse(strings.NewReader(ok), 0); err != nil {
		t.Errorf("Parse(%q) = %v", ok, err)
	}
}

// Values no node can produce are dropped and counted; gauges become unknown, never
// overflowed integers, and counters never turn into +Inf or NaN.
func TestParseImplausibleValues(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		"awscni_eni_max 1e300",
		"awscni_ip_max 9.3e18",
		"awscni_total_ip_addresses 562949953421312", // 2 IPv6 /80s: 2 x 2^48, plausible
		"awscni_assigned_ip_addresses -Inf",
		"awscni_no_available_ip_addresses 1e300",
		`awscni_aws_api_error_count{api="A",error="InsufficientFreeAddressesInSubnet"} 1.7976931348623157e308`,
		`awscni_aws_api_error_count{api="B",error="InsufficientFreeAddressesInSubnet"} 1.7976931348623157e308`,
		`awscni_aws_api_error_count{api="A",error="Throttling"} 4`,
		"",
	}, "\n")
	s, err := Parse(strings.NewReader(in), 0)
	if err != nil {
		t.Fatal(err)
	}
	if s.ENIMax != nil || s.IPMax != nil || s.AssignedIPs != nil || s.NoAvailableIP != nil {
		t.Errorf("implausible gauges kept: eni_max %v ip_max %v assigned %v no_ip %v", s.ENIMax, s.IPMax, s.AssignedIPs, s.NoAvailableIP)
	}
	if s.TotalIPs == nil || *s.TotalIPs != 562949953421312 {
		t.Errorf("IPv6 total dropped: %v", s.TotalIPs)
	}
	if _, ok := s.APIErrors["InsufficientFreeAddressesInSubnet"]; ok || s.APIErrors["Throttling"] != 4 {
		t.Errorf("api errors = %v, want the astronomical code unknown and Throttling 4", s.APIErrors)
	}
	if s.Dropped[DropImplausible] != 5 || s.Dropped[DropNonFinite] != 1 {
		t.Errorf("dropped = %v, want 5 implausible and 1 non-finite", s.Dropped)
	}
}

// One bad scrape between good ones neither corrupts the counters nor shows up as a reset:
// the series is unknown for that poll and continues afterwards (before: the increase became
// +Inf, then NaN, and stayed there).
func TestTrackerSurvivesABadScrape(t *testing.T) {
	t.Parallel()
	scrape := func(noIP, code string) *Sample {
		s, err := Parse(strings.NewReader(fmt.Sprintf(
			"awscni_no_available_ip_addresses %s\nawscni_aws_api_error_count{api=\"A\",error=\"InsufficientFreeAddressesInSubnet\"} %s\nawscni_aws_api_error_count{api=\"B\",error=\"InsufficientFreeAddressesInSubnet\"} 5\n", noIP, code)), 0)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	var tr Tracker
	var noIP, codes float64
	for i, sc := range []struct{ noIP, code string }{
		{"10", "100"}, {"12", "103"}, {"NaN", "+Inf"}, {"1e300", "1e300"}, {"15", "104"}, {"-1", "NaN"}, {"16", "106"},
	} {
		m := tr.Update(scrape(sc.noIP, sc.code))
		noIP += m.NoAvailableIPIncrease
		codes += m.APIErrorIncrease["InsufficientFreeAddressesInSubnet"]
		if math.IsNaN(noIP) || math.IsInf(noIP, 0) || math.IsNaN(codes) || math.IsInf(codes, 0) {
			t.Fatalf("scrape %d: counters corrupted: %v %v", i, noIP, codes)
		}
	}
	if noIP != 6 || codes != 6 {
		t.Errorf("summed increases = %v and %v, want 6 and 6 (16-10 and 106-100)", noIP, codes)
	}
}
