package webserver

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/goleak"
	"golang.org/x/crypto/bcrypt"
)

// start serves mux with cfg on 127.0.0.1:0 and returns the base URL; the server stops at
// cleanup and must return nil.
func start(t *testing.T, cfg Config, mux *http.ServeMux) string {
	t.Helper()
	cfg.ListenAddresses = []string{"127.0.0.1:0"}
	s, err := New(cfg, mux)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return "http://" + s.Addrs()[0].String()
}

func testMux() *http.ServeMux {
	mux := http.NewServeMux()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGauge(prometheus.GaugeOpts{Name: "test_up", Help: "Always 0."}))
	mux.Handle("/metrics", MetricsHandler(reg, slog.New(slog.DiscardHandler), time.Second))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	return mux
}

// noKeepAlive leaves no idle client connection (and its goroutines) behind a request.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func do(t *testing.T, method, url string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

func TestLandingPageAndMethods(t *testing.T) {
	t.Parallel()
	base := start(t, Config{Landing: web.LandingConfig{
		Name: "ipamwatch test", Description: "a test server", Version: "(version=1.2.3)",
		Links: []web.LandingLinks{{Address: "/metrics", Text: "Metrics"}, {Address: "/healthz", Text: "Health"}},
	}}, testMux())

	code, hdr, body := do(t, http.MethodGet, base+"/")
	if code != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), "text/html") {
		t.Fatalf("landing page: %d %s", code, hdr.Get("Content-Type"))
	}
	for _, want := range []string{"<h1>ipamwatch test</h1>", "a test server", "Version: (version=1.2.3)", `href="/metrics"`, `href="/healthz"`} {
		if !strings.Contains(body, want) {
			t.Errorf("landing page lacks %q", want)
		}
	}
	if strings.Contains(body, "debug/pprof") {
		t.Error("landing page links pprof, which is not served")
	}
	if code, _, _ := do(t, http.MethodGet, base+"/nope"); code != http.StatusNotFound {
		t.Errorf("unknown path: %d, want 404", code)
	}
	if code, _, body := do(t, http.MethodGet, base+"/metrics"); code != http.StatusOK || !strings.Contains(body, "test_up 0") {
		t.Errorf("/metrics: %d %q", code, body)
	}
	for _, path := range []string{"/", "/metrics", "/healthz", "/nope"} {
		if code, _, _ := do(t, http.MethodHead, base+path); path != "/nope" && code != http.StatusOK {
			t.Errorf("HEAD %s: %d, want 200", path, code)
		}
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch, http.MethodOptions, "PROPFIND"} {
			code, hdr, _ := do(t, m, base+path)
			if code != http.StatusMethodNotAllowed || hdr.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: %d Allow %q, want 405 and GET, HEAD", m, path, code, hdr.Get("Allow"))
			}
		}
	}
}

func TestWebConfigBasicAuth(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("test-password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(file, []byte("basic_auth_users:\n  prom: "+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := start(t, Config{WebConfigFile: file}, testMux())
	if code, _, _ := do(t, http.MethodGet, base+"/metrics"); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/metrics", nil)
	req.SetBasicAuth("prom", "test-password")
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("with credentials: %d, want 200", resp.StatusCode)
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	bad := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(bad, []byte("tls_server_config: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Config{ListenAddresses: []string{":0"}, WebConfigFile: bad}, http.NewServeMux()); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad web config: %v", err)
	}
	if _, err := New(Config{}, http.NewServeMux()); err == nil {
		t.Error("no listen address accepted")
	}
	s, err := New(Config{ListenAddresses: []string{"127.0.0.1:0", "127.0.0.1:-1"}}, http.NewServeMux())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err == nil || !strings.Contains(err.Error(), "127.0.0.1:-1") {
		t.Errorf("bad address: %v", err)
	}
}

// Many idle keep-alive connections (the attack that took the agent past its memory limit:
// 10,000 of them held 10,000 goroutines and about 220 MiB) are served at most MaxConnections
// at a time, then closed by the idle timeout; the server's goroutines stay bounded
// throughout, every connection ends closed by the server, and the server still answers.
func TestIdleConnectionsAreBoundedAndClosed(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	const (
		limit = 8
		conns = 400
	)
	base := runtime.NumGoroutine()
	cfg := Config{MaxConnections: limit, IdleTimeout: 50 * time.Millisecond, ReadHeaderTimeout: 2 * time.Second}
	ctx, cancel := context.WithCancel(context.Background())
	cfg.ListenAddresses = []string{"127.0.0.1:0"}
	s, err := New(cfg, testMux())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	addr := s.Addrs()[0].String()

	// Sample the goroutine count while the attack runs.
	var peak int
	var mu sync.Mutex
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			n := runtime.NumGoroutine()
			mu.Lock()
			peak = max(peak, n)
			mu.Unlock()
			select {
			case <-stopSampling:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	// Raw connections: each sends one keep-alive request and then reads nothing, so the
	// client side holds no goroutine; the server must close them.
	cs := make([]net.Conn, 0, conns)
	for range conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		cs = append(cs, c)
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
	}
	// Each connection gets its answer and then EOF: closed by the server, not by us.
	for i, c := range cs {
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a guard against hanging only
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("connection %d: no response: %v", i, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("connection %d: status %d", i, resp.StatusCode)
		}
		if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
			t.Fatalf("connection %d: want EOF (closed by the idle timeout), got %v", i, err)
		}
		c.Close()
	}
	close(stopSampling)
	<-sampled
	// Per served connection net/http runs one goroutine (two while a request is read); the
	// rest is the server's own handful and this test's sampler.
	if extra := peak - base; extra > 2*limit+8 {
		t.Errorf("goroutines peaked at %d above the start, want at most %d for %d connections and a cap of %d", extra, 2*limit+8, conns, limit)
	}
	t.Logf("%d idle keep-alive connections: goroutines peaked %d above the start (cap %d)", conns, peak-base, limit)

	if code, _, body := do(t, http.MethodGet, "http://"+addr+"/healthz"); code != http.StatusOK || body != "ok\n" {
		t.Errorf("after the attack: %d %q", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
}
