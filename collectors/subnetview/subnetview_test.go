package subnetview

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/nodestate"
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

// TestTrend: the client reports how fast a subnet fills from the analysis' EC2 polls it saw,
// once there are three polls over ten minutes; a repeated poll (same last-success time) counts
// once, and polls older than the window fall out.
func TestTrend(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	at, free := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), 500
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "ipamwatch_subnet_size_addresses{availability_zone=\"a\",subnet_id=\"subnet-t\"} 1024\n"+
			"ipamwatch_subnet_free_addresses{availability_zone=\"a\",subnet_id=\"subnet-t\"} %d\n"+
			"ipamwatch_subnet_last_success_timestamp_seconds %d\n", free, at.Unix())
	}))
	t.Cleanup(srv.Close)
	c, err := NewClient(srv.URL, Options{})
	if err != nil {
		t.Fatal(err)
	}
	step := func(d time.Duration, used int) *nodestate.SubnetTrend {
		t.Helper()
		mu.Lock()
		at, free = at.Add(d), free-used
		mu.Unlock()
		v, err := c.Fetch(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return v["subnet-t"].Trend
	}
	if tr := step(0, 0); tr != nil {
		t.Fatalf("trend after one poll: %+v", tr)
	}
	step(5*time.Minute, 5)
	if tr := step(0, 0); tr != nil { // the same poll again
		t.Fatalf("trend after two polls: %+v", tr)
	}
	tr := step(5*time.Minute, 5) // 10 addresses in 10 minutes
	if tr == nil || tr.Polls != 3 || tr.Span != 10*time.Minute || math.Abs(tr.PerHour-60) > 1e-9 {
		t.Fatalf("trend %+v, want 60 addresses an hour over 3 polls and 10 minutes", tr)
	}
	for range 30 { // two and a half hours flat: the filling polls leave the window
		tr = step(5*time.Minute, 0)
	}
	if tr == nil || tr.PerHour != 0 || tr.Span != TrendWindow {
		t.Fatalf("trend %+v after a flat window", tr)
	}
}
