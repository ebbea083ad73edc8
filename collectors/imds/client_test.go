package imds

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func newTestClient(t *testing.T, opts Options) *Client {
	t.Helper()
	c, err := NewClient(opts)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestNewClientValidates(t *testing.T) {
	t.Parallel()
	for _, opts := range []Options{
		{Timeout: -time.Second},
		{Retries: 11},
		{Endpoint: "169.254.169.254"},
		{Endpoint: "ftp://169.254.169.254"},
		{Endpoint: "http://"},
	} {
		if _, err := NewClient(opts); err == nil {
			t.Errorf("NewClient(%+v) accepted invalid options", opts)
		}
	}
	c, err := NewClient(Options{})
	if err != nil {
		t.Fatalf("NewClient with defaults: %v", err)
	}
	c.Close()
}

func TestFetchFakeServer(t *testing.T) {
	t.Parallel()
	for _, v2Only := range []bool{false, true} {
		t.Run(fmt.Sprintf("v2only=%v", v2Only), func(t *testing.T) {
			t.Parallel()
			f := &fakeIMDS{values: multiENIValues(), v2Only: v2Only}
			c := newTestClient(t, Options{Endpoint: startFake(t, f)})
			got, err := c.Fetch(context.Background())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if diff := cmp.Diff(wantMultiENI(), got); diff != "" {
				t.Errorf("metadata mismatch (-want +got):\n%s", diff)
			}
			if !f.seen(http.MethodPut, "/latest/api/token") {
				t.Error("client never asked for an IMDSv2 token")
			}
		})
	}
}

func TestFetchFakeServerFailures(t *testing.T) {
	t.Parallel()
	const m1 = "network/interfaces/macs/0a:11:22:33:44:02/"
	tests := []struct {
		name    string
		edit    func(f *fakeIMDS)
		wantErr string
	}{
		{
			name:    "500 on a required path",
			edit:    func(f *fakeIMDS) { f.status = map[string]int{"instance-type": 500} },
			wantErr: "reading instance-type: HTTP 500",
		},
		{
			name:    "500 on an optional list is an error, not empty",
			edit:    func(f *fakeIMDS) { f.status = map[string]int{m1 + "ipv6s": 500} },
			wantErr: "ipv6s: HTTP 500",
		},
		{
			name:    "oversized answer",
			edit:    func(f *fakeIMDS) { f.values["instance-type"] = strings.Repeat("m", maxBody+10) },
			wantErr: "answer larger than",
		},
		{
			name: "every path 404 (metadata category disabled)",
			edit: func(f *fakeIMDS) {
				f.v2Only = true
				f.status = map[string]int{}
				f.values = map[string]string{}
			},
			wantErr: "required path instance-id",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeIMDS{values: multiENIValues()}
			tc.edit(f)
			c := newTestClient(t, Options{Endpoint: startFake(t, f), Retries: -1})
			got, err := c.Fetch(context.Background())
			if err == nil {
				t.Fatalf("Fetch succeeded, want error containing %q: %+v", tc.wantErr, got)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestFetchRetries: a transient 503 is retried with the default Retries and is an error when
// retries are disabled.
func TestFetchRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retries int
		wantErr bool
	}{{retries: 0, wantErr: false}, {retries: -1, wantErr: true}} {
		t.Run(fmt.Sprintf("retries=%d", tc.retries), func(t *testing.T) {
			t.Parallel()
			f := &fakeIMDS{values: multiENIValues(), failFirst: map[string]int{"placement/availability-zone": 1}}
			c := newTestClient(t, Options{Endpoint: startFake(t, f), Retries: tc.retries})
			_, err := c.Fetch(context.Background())
			if (err != nil) != tc.wantErr {
				t.Fatalf("Fetch error = %v, wantErr %v", err, tc.wantErr)
			}
			if tc.wantErr && !strings.Contains(err.Error(), "HTTP 503") {
				t.Errorf("error %q should carry the status", err)
			}
		})
	}
}

// TestFetchDeadEndpoint: nothing listens. Fetch must give up after the first path instead of
// walking every path (and the SDK must not retry for a minute).
func TestFetchDeadEndpoint(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Options{Endpoint: closedPort(t)})
	start := time.Now()
	_, err := c.Fetch(context.Background())
	t.Logf("dead endpoint: Fetch returned after %v: %v", time.Since(start), err)
	if err == nil {
		t.Fatal("Fetch against a closed port succeeded")
	}
	if !strings.Contains(err.Error(), "reading instance-id: IMDS unreachable") {
		t.Fatalf("error %q should name the first path and say IMDS is unreachable", err)
	}
}

// TestFetchHungEndpoint: the endpoint accepts and never answers. The per-call timeout ends
// the fetch at the first path.
func TestFetchHungEndpoint(t *testing.T) {
	t.Parallel()
	c := newTestClient(t, Options{Endpoint: hungListener(t), Timeout: 300 * time.Millisecond})
	start := time.Now()
	_, err := c.Fetch(context.Background())
	t.Logf("hung endpoint: Fetch returned after %v: %v", time.Since(start), err)
	if err == nil {
		t.Fatal("Fetch against a hung endpoint succeeded")
	}
	if !strings.Contains(err.Error(), "instance-id") {
		t.Fatalf("error %q should name the first path", err)
	}
}

// TestFetchHonorsCancel: a canceled parent context stops Fetch without any request.
func TestFetchHonorsCancel(t *testing.T) {
	t.Parallel()
	f := &fakeIMDS{values: multiENIValues()}
	c := newTestClient(t, Options{Endpoint: startFake(t, f)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Fetch(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

// startMock runs AWS's amazon-ec2-metadata-mock on a free port and returns its URL.
func startMock(t *testing.T, cfg map[string]any, extra ...string) string {
	t.Helper()
	bin := testtools.Lookup(t, "ec2-metadata-mock")
	port := testtools.FreePort(t)
	dir := t.TempDir()
	args := []string{"-n", "127.0.0.1", "-p", fmt.Sprint(port)}
	if cfg != nil {
		b, err := json.Marshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "aemm-config.json")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		args = append(args, "-c", p)
	}
	args = append(args, extra...)
	cmd := exec.Command(bin, args...)
	// HOME points at the temp dir so a developer's ~/aemm-config.json cannot leak in.
	cmd.Env = append(os.Environ(), "HOME="+dir)
	cmd.Dir = dir
	var out lockedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting ec2-metadata-mock: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if err := <-exited; err != nil {
			t.Logf("ec2-metadata-mock stopped: %v", err)
		}
	})

	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	hc := &http.Client{Timeout: time.Second}
	defer hc.CloseIdleConnections()
	for i := 0; i < 200; i++ {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("ec2-metadata-mock exited early (%v):\n%s", err, out.String())
		default:
		}
		resp, err := hc.Get(url + "/latest")
		if err == nil {
			_ = resp.Body.Close()
			return url
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("ec2-metadata-mock not ready on %s:\n%s", url, out.String())
	return ""
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestFetchMetadataMock runs against AWS's metadata mock in its default (v1 and v2) and
// IMDSv2-only modes, with values overridden through its config file. The mock serves one
// interface and no network-card/ipv4-prefix/ipv6-prefix paths, which exercises the
// optional-path handling against AWS's own 404 answers.
func TestFetchMetadataMock(t *testing.T) {
	t.Parallel()
	cfg := map[string]any{"metadata": map[string]any{
		// The mock serves the card index at "network-card-index"; EC2 documents
		// "network-card". Move the mock's path (written with the mock's default MAC, which it
		// rewrites to the overridden one) so the test reads what a real instance serves. Left
		// as is, the mock answers network-card with a directory listing, which the decoder
		// rightly rejects.
		"paths": map[string]any{
			"mac-network-interface-card-index": "/latest/meta-data/network/interfaces/macs/0e:49:61:0f:c3:11/network-card",
		},
		"values": map[string]any{
			"mac-network-interface-card-index": "0",
			"instance-id":                      "i-0feedfacecafe0001",
			"instance-type":                    "m5.large",
			"mac":                              "0a:1b:2c:3d:4e:5f",
			"local-ipv4":                       "10.20.30.40",
			"mac-local-ipv4s":                  "10.20.30.40",
			"mac-network-interface-id":         "eni-0123456789abcdef0",
			"mac-subnet-id":                    "subnet-0fedcba9876543210",
			"mac-subnet-ipv4-cidr-block":       "10.20.0.0/16",
			"mac-vpc-id":                       "vpc-0a1b2c3d",
			"mac-vpc-ipv4-cidr-blocks":         "10.20.0.0/16",
			"placement-region":                 "ap-southeast-2",
			"placement-availability-zone":      "ap-southeast-2a",
			"placement-availability-zone-id":   "apse2-az1",
		}}}
	want := &nodestate.Metadata{
		InstanceID: "i-0feedfacecafe0001", InstanceType: "m5.large", Region: "ap-southeast-2",
		AvailabilityZone: "ap-southeast-2a", AZID: "apse2-az1", PrimaryMAC: "0a:1b:2c:3d:4e:5f",
		LocalIPv4: "10.20.30.40",
		Interfaces: []nodestate.Interface{{
			MAC: "0a:1b:2c:3d:4e:5f", InterfaceID: "eni-0123456789abcdef0", SubnetID: "subnet-0fedcba9876543210",
			SubnetCIDR: "10.20.0.0/16", VPCID: "vpc-0a1b2c3d", VPCCIDRs: []string{"10.20.0.0/16"},
			LocalIPv4s: []string{"10.20.30.40"},
			// The mock's default for the ipv6s path.
			IPv6s: []string{"2001:db8:8:4::2"},
		}},
	}
	for _, mode := range []struct {
		name  string
		extra []string
	}{
		{name: "IMDSv1 and v2", extra: nil},
		{name: "IMDSv2 only", extra: []string{"-I"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			url := startMock(t, cfg, mode.extra...)
			c := newTestClient(t, Options{Endpoint: url})
			got, err := c.Fetch(context.Background())
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("metadata mismatch (-want +got):\n%s", diff)
			}
		})
	}

	// Without a token the IMDSv2-only mock must refuse a plain GET: proves -I is in force, so
	// the success above really went through the token flow.
	t.Run("IMDSv2 only refuses v1", func(t *testing.T) {
		t.Parallel()
		url := startMock(t, nil, "-I")
		hc := &http.Client{Timeout: 2 * time.Second}
		defer hc.CloseIdleConnections()
		resp, err := hc.Get(url + "/latest/meta-data/instance-id")
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("IMDSv1 GET against -I mock: status %d, want 401", resp.StatusCode)
		}
	})
}
