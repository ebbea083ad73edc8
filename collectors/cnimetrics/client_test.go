package cnimetrics

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func hang(t *testing.T) http.HandlerFunc {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	return func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/metrics"
}

func client(t *testing.T, url string, opts Options) *Client {
	t.Helper()
	c, err := NewClient(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// TestFetchTracksIncreases: a fake aws-node whose counters move between scrapes.
func TestFetchTracksIncreases(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	pages := []string{
		"# TYPE awscni_no_available_ip_addresses counter\nawscni_no_available_ip_addresses 5\n# TYPE awscni_eni_max gauge\nawscni_eni_max 3\n",
		"# TYPE awscni_no_available_ip_addresses counter\nawscni_no_available_ip_addresses 8\n# TYPE awscni_eni_max gauge\nawscni_eni_max 3\n",
		"# TYPE awscni_no_available_ip_addresses counter\nawscni_no_available_ip_addresses 2\n",
	}
	var accept string
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		accept = r.Header.Get("Accept")
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write([]byte(pages[0]))
		if len(pages) > 1 {
			pages = pages[1:]
		}
	}))
	c := client(t, url, Options{})
	var got []float64
	for range 3 {
		m, err := c.Fetch(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m.NoAvailableIPIncrease)
	}
	if want := []float64{0, 3, 2}; !equal(got, want) {
		t.Errorf("increases %v, want %v (first poll, +3, reset to 2)", got, want)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.HasPrefix(accept, "text/plain") {
		t.Errorf("Accept = %q, want the text format", accept)
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFetchFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		handler  func(t *testing.T) http.HandlerFunc
		opts     Options
		is       error
		contains string
	}{
		{
			name: "500",
			handler: func(*testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) }
			},
			contains: `HTTP 500: "boom"`,
		},
		{
			name:    "hung",
			handler: hang,
			opts:    Options{Timeout: 100 * time.Millisecond},
			is:      context.DeadlineExceeded,
		},
		{
			name: "slow drip",
			handler: func(t *testing.T) http.HandlerFunc {
				h := hang(t)
				return func(w http.ResponseWriter, r *http.Request) {
					_, _ = w.Write([]byte("# TYPE awscni_eni_max gauge\n"))
					w.(http.Flusher).Flush()
					h(w, r)
				}
			},
			opts: Options{Timeout: 100 * time.Millisecond},
			is:   context.DeadlineExceeded,
		},
		{
			name: "oversized",
			handler: func(*testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) {
					_, _ = w.Write([]byte(strings.Repeat("# padding line that is a comment\n", 1<<15)))
				}
			},
			opts: Options{MaxBodyBytes: 64 << 10},
			is:   ErrBodyTooLarge,
		},
		{
			name: "malformed",
			handler: func(*testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("awscni_eni_max{ 3\n")) }
			},
			contains: "parsing metrics text",
		},
		{
			name: "empty (metrics disabled behind a proxy)",
			handler: func(*testing.T) http.HandlerFunc {
				return func(http.ResponseWriter, *http.Request) {}
			},
			is: ErrEmpty,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url := serve(t, tc.handler(t))
			c := client(t, url, tc.opts)
			m, err := c.Fetch(context.Background())
			if err == nil {
				t.Fatalf("Fetch succeeded: %+v", m)
			}
			if m != nil {
				t.Error("metrics returned next to an error")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want %v", err, tc.is)
			}
			if tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("err = %v, want %q", err, tc.contains)
			}
			if !strings.Contains(err.Error(), url) {
				t.Errorf("err = %v does not name the URL", err)
			}
		})
	}
}

// TestFailedFetchKeepsTracker: increases after an outage cover everything since the last success.
func TestFailedFetchKeepsTracker(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	step := 0
	url := serve(t, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		step++
		switch step {
		case 1:
			_, _ = w.Write([]byte("awscni_no_available_ip_addresses 1\n"))
		case 2:
			http.Error(w, "down", http.StatusServiceUnavailable)
		default:
			_, _ = w.Write([]byte("awscni_no_available_ip_addresses 6\n"))
		}
	}))
	c := client(t, url, Options{})
	if _, err := c.Fetch(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(context.Background()); err == nil {
		t.Fatal("second Fetch should fail")
	}
	m, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m.NoAvailableIPIncrease != 5 {
		t.Errorf("increase %v, want 5", m.NoAvailableIPIncrease)
	}
}

func TestFetchCancelled(t *testing.T) {
	t.Parallel()
	c := client(t, serve(t, hang(t)), Options{Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := c.Fetch(ctx)
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestFetchRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String() + "/metrics"
	_ = l.Close()
	c := client(t, url, Options{Timeout: time.Second})
	if _, err := c.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), url) {
		t.Fatalf("err = %v", err)
	}
}

func TestNewClientValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, wantErr string }{
		{DefaultURL, ""},
		{"https://10.0.0.1:61678/metrics", ""},
		{"", "empty"},
		{"127.0.0.1:61678/metrics", "CNI metrics URL"},
		{"ftp://127.0.0.1:61678/metrics", "scheme"},
		{"unix:/x.sock", "scheme"},
		{"http:///metrics", "missing host"},
		{"http://[::1/metrics", "CNI metrics URL"},
	} {
		c, err := NewClient(tc.url, Options{})
		if c != nil {
			c.Close()
		}
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("NewClient(%q): %v", tc.url, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("NewClient(%q) err = %v, want %q", tc.url, err, tc.wantErr)
		}
	}
}
