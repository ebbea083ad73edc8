package cnimetrics

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the parser's output")

func f(v float64) *float64 { return &v }

func TestParseFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file string
		want *Sample
	}{
		{
			file: "v1.19.prom",
			want: &Sample{
				Version: "v1.19.2",
				ENIMax:  f(3), IPMax: f(27), ENIAllocated: f(3), TotalIPs: f(27), AssignedIPs: f(26), TotalIPv4Prefix: f(0),
				NoAvailableIP: f(37),
				// Summed over api: 12 + 3.
				APIErrors:    map[string]float64{"InsufficientFreeAddressesInSubnet": 15, "AttachmentLimitExceeded": 1, "RequestLimitExceeded": 4},
				IpamdErrors:  map[string]float64{"increaseIPPoolAllocIPAddressesFailed": 15, "nodeInitAssignPodIPFailed": 1},
				EC2APIErrors: map[string]float64{"AssignPrivateIpAddresses": 12, "CreateNetworkInterface": 3},
			},
		},
		{
			// Old CNI: no build_info, no no_available_ip_addresses, no ec2api_error_count.
			file: "v1.12.prom",
			want: &Sample{
				ENIMax: f(3), IPMax: f(15), ENIAllocated: f(1), TotalIPs: f(5), AssignedIPs: f(4),
				APIErrors:   map[string]float64{"UnauthorizedOperation": 2},
				IpamdErrors: map[string]float64{"nodeInitK8SGetLocalPodIPsFailed": 1},
			},
		},
		{
			file: "prefix-delegation.prom",
			want: &Sample{
				Version: "v1.20.0",
				ENIMax:  f(3), IPMax: f(432), ENIAllocated: f(1), TotalIPs: f(64), AssignedIPs: f(61), TotalIPv4Prefix: f(4),
				NoAvailableIP: f(0),
				APIErrors:     map[string]float64{"InsufficientCidrBlocks": 6},
			},
		},
		{
			// No # TYPE lines at all: untyped series are read the same way.
			file: "untyped.prom",
			want: &Sample{
				ENIMax: f(4), IPMax: f(56), TotalIPs: f(14), NoAvailableIP: f(2),
				APIErrors:   map[string]float64{"InsufficientFreeAddressesInSubnet": 1},
				IpamdErrors: map[string]float64{"increaseIPPoolAllocIPAddressesFailed": 1},
			},
		},
		{file: "unrelated.prom", want: &Sample{}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			data := readFixture(t, tc.file)
			got, err := Parse(bytes.NewReader(data), 0)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(Sample{})); diff != "" {
				t.Errorf("Sample (-want +got):\n%s", diff)
			}
			checkGolden(t, tc.file, render(Cumulative(got), nil))
		})
	}
}

// TestParseNeverKeepsUtilsErrorText: the free-text `error` label of
// awscni_aws_utils_error_count must not reach any output.
func TestParseNeverKeepsUtilsErrorText(t *testing.T) {
	t.Parallel()
	s, err := Parse(bytes.NewReader(readFixture(t, "v1.19.prom")), 0)
	if err != nil {
		t.Fatal(err)
	}
	var tr Tracker
	tr.Update(s)
	out, err := json.Marshal([]any{s, tr.Update(s), Cumulative(s)})
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{"request id", "5f0c3e1a", "There are not enough", "subnet-0aaa", "status code"} {
		if bytes.Contains(out, []byte(leak)) {
			t.Errorf("output carries %q from awscni_aws_utils_error_count: %s", leak, out)
		}
	}
}

func TestParseRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file     string
		is       error
		contains string
	}{
		{"empty.prom", ErrEmpty, "empty"},
		{"malformed.prom", nil, "parsing metrics text"},
		{"not-found.prom", nil, "parsing metrics text"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			s, err := Parse(bytes.NewReader(readFixture(t, tc.file)), 0)
			if err == nil {
				t.Fatalf("Parse succeeded: %+v", s)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("err = %v, want it to contain %q", err, tc.contains)
			}
			checkGolden(t, tc.file, render(nil, err))
		})
	}
}

func TestParseLimit(t *testing.T) {
	t.Parallel()
	data := readFixture(t, "v1.19.prom")
	if _, err := Parse(bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("exactly at the limit: %v", err)
	}
	if _, err := Parse(bytes.NewReader(data), int64(len(data))-1); !errors.Is(err, ErrBodyTooLarge) {
		t.Fatalf("err = %v, want ErrBodyTooLarge", err)
	}
}

func TestParseOddValues(t *testing.T) {
	t.Parallel()
	in := strings.Join([]string{
		"# TYPE awscni_eni_max gauge",
		"awscni_eni_max NaN",
		"# TYPE awscni_ip_max gauge",
		"awscni_ip_max +Inf",
		"# TYPE awscni_no_available_ip_addresses counter",
		"awscni_no_available_ip_addresses -3",
		"# TYPE awscni_aws_api_error_count counter",
		`awscni_aws_api_error_count{api="A",error="has spaces in it"} 1`,
		`awscni_aws_api_error_count{api="A",error=""} 2`,
		`awscni_aws_api_error_count{api="A"} 4`,
		`awscni_aws_api_error_count{api="B",error="` + strings.Repeat("X", 65) + `"} 8`,
		`awscni_aws_api_error_count{api="C",error="Throttling"} NaN`,
		"# TYPE awscni_ipamd_error_count summary",
		`awscni_ipamd_error_count_sum{fn="x"} 1`,
		`awscni_ipamd_error_count_count{fn="x"} 1`,
		"# TYPE awscni_build_info gauge",
		`awscni_build_info{version="v1.21.1"} 1`,
		`awscni_build_info{version="v1.20.0"} 1`,
		"",
	}, "\n")
	got, err := Parse(strings.NewReader(in), 0)
	if err != nil {
		t.Fatal(err)
	}
	// NaN eni_max, +Inf ip_max and NaN Throttling are non-finite, the negative counter is
	// implausible: all four dropped and counted, and their series unknown (held), not zero.
	want := &Sample{
		Version:   "v1.20.0",
		APIErrors: map[string]float64{OtherKey: 15},
		Dropped:   map[string]int{DropNonFinite: 3, DropImplausible: 1},
		held: map[string]bool{
			heldKey(famENIMax, ""): true, heldKey(famIPMax, ""): true, heldKey(famNoAvailableIP, ""): true,
			heldKey(famAPIErrors, "Throttling"): true,
		},
	}
	if diff := cmp.Diff(want, got, cmp.AllowUnexported(Sample{})); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestCapKeys(t *testing.T) {
	t.Parallel()
	m := map[string]float64{}
	for i := range 40 {
		m[fmt.Sprintf("Code%02d", i)] = float64(i)
	}
	m[OtherKey] = 100
	got := capKeys(m, MaxKeys)
	if len(got) != MaxKeys {
		t.Fatalf("%d keys, want %d", len(got), MaxKeys)
	}
	// Largest 31 codes (Code09..Code39) kept; Code00..Code08 (sum 36) fold into other with 100.
	if got[OtherKey] != 136 || got["Code39"] != 39 || got["Code09"] != 9 {
		t.Errorf("got other=%v Code39=%v Code09=%v", got[OtherKey], got["Code39"], got["Code09"])
	}
	if _, ok := got["Code08"]; ok {
		t.Errorf("Code08 should have been folded")
	}
	var sum, want float64
	for _, v := range got {
		sum += v
	}
	for _, v := range m {
		want += v
	}
	if sum != want {
		t.Errorf("folding changed the total: %v != %v", sum, want)
	}
	if len(m) != 41 {
		t.Errorf("input modified")
	}
}

func TestParseCapsDistinctCodes(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	b.WriteString("# TYPE awscni_aws_api_error_count counter\n")
	for i := range 300 {
		fmt.Fprintf(&b, "awscni_aws_api_error_count{api=\"A\",error=\"Code%03d\"} %d\n", i, i+1)
	}
	s, err := Parse(strings.NewReader(b.String()), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.APIErrors) != maxSampleKeys {
		t.Errorf("sample keeps %d keys, want %d", len(s.APIErrors), maxSampleKeys)
	}
	c := Cumulative(s)
	if len(c.APIErrorTotal) != MaxKeys {
		t.Errorf("nodestate map has %d keys, want %d", len(c.APIErrorTotal), MaxKeys)
	}
	var sum float64
	for _, v := range c.APIErrorTotal {
		sum += v
	}
	if sum != 300*301/2 {
		t.Errorf("total %v, want %v", sum, 300*301/2)
	}
}

func TestCumulative(t *testing.T) {
	t.Parallel()
	if Cumulative(nil) != nil {
		t.Error("Cumulative(nil) != nil")
	}
	s, err := Parse(bytes.NewReader(readFixture(t, "v1.19.prom")), 0)
	if err != nil {
		t.Fatal(err)
	}
	got := Cumulative(s)
	want := &nodestate.CNIMetrics{
		Version: "v1.19.2",
		ENIMax:  f(3), IPMax: f(27), ENIAllocated: f(3), TotalIPs: f(27), AssignedIPs: f(26), TotalIPv4Prefix: f(0),
		APIErrorIncrease:    map[string]float64{},
		IpamdErrorIncrease:  map[string]float64{},
		EC2APIErrorIncrease: map[string]float64{},
		APIErrorTotal:       map[string]float64{"InsufficientFreeAddressesInSubnet": 15, "AttachmentLimitExceeded": 1, "RequestLimitExceeded": 4},
		NoAvailableIPTotal:  f(37),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// The result must not alias the sample.
	*got.ENIMax = 99
	got.APIErrorTotal["X"] = 1
	if *s.ENIMax != 3 || len(s.APIErrors) != 3 {
		t.Error("Cumulative aliases the Sample")
	}
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func render(c *nodestate.CNIMetrics, err error) []byte {
	if err != nil {
		return []byte("error: " + err.Error() + "\n")
	}
	b, mErr := json.MarshalIndent(c, "", "  ")
	if mErr != nil {
		return []byte("marshal error: " + mErr.Error() + "\n")
	}
	return append(b, '\n')
}

func checkGolden(t *testing.T, fixture string, got []byte) {
	t.Helper()
	testtools.Golden(t, filepath.Join("testdata", strings.TrimSuffix(fixture, ".prom")+".golden"), got, *update)
}
