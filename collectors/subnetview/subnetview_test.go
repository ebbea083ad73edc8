package subnetview

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func serve(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	return s.URL + "/metrics"
}

// The real exporter's golden exposition (subnets/testdata) parses into views.
func TestParseExporterOutput(t *testing.T) {
	t.Parallel()
	f, err := os.Open("../../subnets/testdata/healthy.prom")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	views, err := Parse(f, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if len(views) == 0 {
		t.Fatal("no subnet views")
	}
	for id, v := range views {
		if v.SubnetID != id || v.Size <= 0 || v.FreeAddresses < 0 || v.FreeAddresses > v.Size || v.FreePrefixBlocks*16 > v.FreeAddresses {
			t.Errorf("implausible view %+v", v)
		}
	}
}

const sample = `# TYPE ipamwatch_subnet_size_addresses gauge
ipamwatch_subnet_size_addresses{availability_zone="us-west-2a",subnet_id="subnet-aaa"} 1024
ipamwatch_subnet_size_addresses{availability_zone="us-west-2b",subnet_id="subnet-v6"} 0
# TYPE ipamwatch_subnet_free_addresses gauge
ipamwatch_subnet_free_addresses{availability_zone="us-west-2a",subnet_id="subnet-aaa"} 140
# TYPE ipamwatch_subnet_free_prefix_blocks gauge
ipamwatch_subnet_free_prefix_blocks{availability_zone="us-west-2a",subnet_id="subnet-aaa"} 0
# TYPE ipamwatch_subnet_largest_free_block_addresses gauge
ipamwatch_subnet_largest_free_block_addresses{availability_zone="us-west-2a",subnet_id="subnet-aaa"} 8
# TYPE ipamwatch_subnet_fragmentation_ratio gauge
ipamwatch_subnet_fragmentation_ratio{availability_zone="us-west-2a",subnet_id="subnet-aaa"} 1
# TYPE ipamwatch_subnet_analyzed gauge
ipamwatch_subnet_analyzed{availability_zone="us-west-2a",subnet_id="subnet-aaa"} 1
ipamwatch_subnet_analyzed{availability_zone="us-west-2b",subnet_id="subnet-v6"} 0
# TYPE ipamwatch_subnet_last_success_timestamp_seconds gauge
ipamwatch_subnet_last_success_timestamp_seconds 1.7956e+09
`

func TestFetch(t *testing.T) {
	t.Parallel()
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(sample)) })
	c, err := NewClient(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	views, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	v, ok := views["subnet-aaa"]
	if !ok || len(views) != 1 {
		t.Fatalf("views = %+v (the IPv6-only subnet must be dropped)", views)
	}
	if v.Size != 1024 || v.FreeAddresses != 140 || v.FreePrefixBlocks != 0 || v.LargestFreeBlock != 8 || v.FragmentationRatio != 1 || v.AvailabilityZone != "us-west-2a" || v.At.IsZero() {
		t.Errorf("view = %+v", v)
	}
}

func TestFetchFailures(t *testing.T) {
	t.Parallel()
	cases := map[string]http.HandlerFunc{
		"500":     func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
		"garbage": func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("{not prometheus text\n")) },
		"empty":   func(w http.ResponseWriter, _ *http.Request) {},
		"oversized": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(strings.Repeat("# comment line\n", 1<<12)))
		},
		"hung": func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c, err := NewClient(serve(t, h), Options{Timeout: 300 * time.Millisecond, MaxBodyBytes: 1 << 14})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.Fetch(context.Background()); err == nil {
				t.Fatal("no error")
			} else if name == "empty" && !errors.Is(err, ErrNoAnalysis) {
				t.Errorf("empty answer: %v, want ErrNoAnalysis", err)
			}
		})
	}
	if _, err := NewClient("", Options{}); err == nil {
		t.Error("empty URL accepted")
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte("ipamwatch_subnet_free_addresses{subnet_id=\"x\"} NaN\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Parse(strings.NewReader(string(b)), 1<<16)
	})
}

// A standby replica's answer is retried; the leader's is used.
func TestFetchSkipsStandbyReplica(t *testing.T) {
	t.Parallel()
	var calls atomic.Int32
	url := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		if calls.Add(1) < 3 {
			_, _ = w.Write([]byte("# TYPE ipamwatch_subnet_leader gauge\nipamwatch_subnet_leader 0\n"))
			return
		}
		_, _ = w.Write([]byte("# TYPE ipamwatch_subnet_leader gauge\nipamwatch_subnet_leader 1\n" + sample))
	})
	c, err := NewClient(url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(context.Background()); err != nil || calls.Load() != 3 {
		t.Fatalf("err %v after %d calls, want success on the 3rd", err, calls.Load())
	}
	always := serve(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# TYPE ipamwatch_subnet_leader gauge\nipamwatch_subnet_leader 0\n"))
	})
	c2, _ := NewClient(always, Options{})
	if _, err := c2.Fetch(context.Background()); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("only standbys: %v, want ErrNotLeader", err)
	}
}
