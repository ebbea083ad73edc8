package cnimetrics

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// expo builds a small exposition from the counters the tracker follows.
func expo(noIP float64, api map[string]float64, ipamdFn map[string]float64) *Sample {
	var b strings.Builder
	b.WriteString("# TYPE awscni_no_available_ip_addresses counter\n")
	fmt.Fprintf(&b, "awscni_no_available_ip_addresses %g\n", noIP)
	b.WriteString("# TYPE awscni_aws_api_error_count counter\n")
	for code, v := range api {
		fmt.Fprintf(&b, "awscni_aws_api_error_count{api=\"AssignPrivateIpAddresses\",error=%q} %g\n", code, v)
	}
	b.WriteString("# TYPE awscni_ipamd_error_count counter\n")
	for fn, v := range ipamdFn {
		fmt.Fprintf(&b, "awscni_ipamd_error_count{fn=%q} %g\n", fn, v)
	}
	s, err := Parse(strings.NewReader(b.String()), 0)
	if err != nil {
		panic(err)
	}
	return s
}

func TestTrackerIncreases(t *testing.T) {
	t.Parallel()
	const subnet, cidr = "InsufficientFreeAddressesInSubnet", "InsufficientCidrBlocks"
	type want struct {
		noIP  float64
		api   map[string]float64
		ipamd map[string]float64
	}
	steps := []struct {
		name string
		in   *Sample
		want want
	}{
		{"first poll reports nothing", expo(10, map[string]float64{subnet: 5}, map[string]float64{"f": 1}),
			want{0, map[string]float64{}, map[string]float64{}}},
		{"plain increase", expo(13, map[string]float64{subnet: 9}, map[string]float64{"f": 1}),
			want{3, map[string]float64{subnet: 4}, map[string]float64{"f": 0}}},
		{"new code since the last poll counts whole", expo(13, map[string]float64{subnet: 9, cidr: 2}, map[string]float64{"f": 1}),
			want{0, map[string]float64{subnet: 0, cidr: 2}, map[string]float64{"f": 0}}},
		{"aws-node restarted: reset", expo(4, map[string]float64{subnet: 1}, map[string]float64{"f": 0}),
			want{4, map[string]float64{subnet: 1}, map[string]float64{"f": 0}}},
		{"series vanished", &Sample{}, want{0, map[string]float64{}, map[string]float64{}}},
		{"series back after vanishing counts from zero", expo(2, map[string]float64{cidr: 7}, nil),
			want{2, map[string]float64{cidr: 7}, map[string]float64{}}},
	}
	var tr Tracker
	for _, st := range steps {
		got := tr.Update(st.in)
		if got.NoAvailableIPIncrease != st.want.noIP {
			t.Errorf("%s: NoAvailableIPIncrease = %v, want %v", st.name, got.NoAvailableIPIncrease, st.want.noIP)
		}
		if diff := cmp.Diff(st.want.api, got.APIErrorIncrease); diff != "" {
			t.Errorf("%s: APIErrorIncrease (-want +got):\n%s", st.name, diff)
		}
		if diff := cmp.Diff(st.want.ipamd, got.IpamdErrorIncrease); diff != "" {
			t.Errorf("%s: IpamdErrorIncrease (-want +got):\n%s", st.name, diff)
		}
	}
	if tr.Update(nil) != nil {
		t.Error("Update(nil) != nil")
	}
}

// TestTrackerDoesNotAliasSample: a caller mutating its Sample after Update must not change
// what the tracker remembers.
func TestTrackerDoesNotAliasSample(t *testing.T) {
	t.Parallel()
	var tr Tracker
	s := expo(5, map[string]float64{"A": 1}, nil)
	tr.Update(s)
	*s.NoAvailableIP = 100
	s.APIErrors["A"] = 100
	got := tr.Update(expo(6, map[string]float64{"A": 2}, nil))
	if got.NoAvailableIPIncrease != 1 || got.APIErrorIncrease["A"] != 1 {
		t.Errorf("got %+v", got)
	}
}

func TestTrackerCapsIncreaseKeys(t *testing.T) {
	t.Parallel()
	var tr Tracker
	api := map[string]float64{}
	for i := range 50 {
		api[fmt.Sprintf("Code%02d", i)] = 1
	}
	tr.Update(expo(0, api, nil))
	for k := range api {
		api[k] = 3
	}
	got := tr.Update(expo(0, api, nil))
	if len(got.APIErrorIncrease) != MaxKeys {
		t.Errorf("%d keys, want %d", len(got.APIErrorIncrease), MaxKeys)
	}
	var sum float64
	for _, v := range got.APIErrorIncrease {
		sum += v
	}
	if sum != 100 {
		t.Errorf("sum of increases %v, want 100", sum)
	}
}

func TestTrackerConcurrent(t *testing.T) {
	t.Parallel()
	var tr Tracker
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 50 {
				got := tr.Update(expo(float64(i*100+j), nil, nil))
				// Whatever the interleaving, an increase is never negative nor above the value.
				if inc := got.NoAvailableIPIncrease; inc < 0 || inc > float64(i*100+j) {
					t.Errorf("increase %v out of range for value %d", inc, i*100+j)
				}
			}
		}()
	}
	wg.Wait()
}
