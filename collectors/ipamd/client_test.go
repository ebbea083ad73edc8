package ipamd

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeIPAMD serves the four introspection routes from fixtures; override entries to misbehave.
func fakeIPAMD(t *testing.T, override map[string]http.HandlerFunc) *http.ServeMux {
	t.Helper()
	enis := readFixture(t, "v1.22-subnet.json")
	env := readFixture(t, "ipamd-env-settings.json")
	nu := readFixture(t, "networkutils-env-settings.json")
	static := func(body []byte) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		}
	}
	routes := map[string]http.HandlerFunc{
		PathENIs:            static(enis),
		PathENIConfigs:      static([]byte(`"us-west-2a"`)),
		PathIPAMDEnv:        static(env),
		PathNetworkUtilsEnv: static(nu),
	}
	for p, h := range override {
		routes[p] = h
	}
	mux := http.NewServeMux()
	for p, h := range routes {
		mux.HandleFunc(p, h)
	}
	// Like ipamd: any other path answers 200 with the command list.
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"AvailableCommands":["/v1/enis"]}`))
	})
	return mux
}

func startServer(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func newTestClient(t *testing.T, addr string, opts Options) *Client {
	t.Helper()
	if opts.Now == nil {
		opts.Now = func() time.Time { return fixtureNow }
	}
	c, err := NewClient(addr, opts)
	if err != nil {
		t.Fatalf("NewClient(%q): %v", addr, err)
	}
	t.Cleanup(c.Close)
	return c
}

// hang blocks until the client gives up or the test ends.
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

func TestFetchHealthy(t *testing.T) {
	t.Parallel()
	srv := startServer(t, fakeIPAMD(t, nil))
	c := newTestClient(t, srv.URL, Options{})
	st, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if st.Shape != ShapeMultiCard || len(st.ENIs) != 3 || st.ENIs[2].Assigned != 1 {
		t.Errorf("unexpected state: %+v", st)
	}
	if st.ENIConfig != "us-west-2a" {
		t.Errorf("ENIConfig = %q", st.ENIConfig)
	}
	if st.Env["WARM_ENI_TARGET"] != "1" || st.NetworkUtilsEnv["AWS_VPC_ENI_MTU"] != "9001" {
		t.Errorf("env = %v / %v", st.Env, st.NetworkUtilsEnv)
	}
	// The streaming client path agrees with the byte decoder on the same fixture.
	want, err := DecodeENIsAt(readFixture(t, "v1.22-subnet.json"), fixtureNow, DefaultCooldown)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want.ENIs, st.ENIs); diff != "" {
		t.Errorf("ENIs (-decoder +client):\n%s", diff)
	}
}

func TestFetchFailures(t *testing.T) {
	t.Parallel()
	status := func(code int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(code)
			_, _ = w.Write([]byte(body))
		}
	}
	body := func(b string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(b)) }
	}
	tests := []struct {
		name     string
		override func(t *testing.T) map[string]http.HandlerFunc
		opts     Options
		is       error
		contains string
	}{
		{
			name: "enis 500",
			override: func(*testing.T) map[string]http.HandlerFunc {
				return map[string]http.HandlerFunc{PathENIs: status(500, "datastore busy")}
			},
			contains: `HTTP 500: "datastore busy"`,
		},
		{
			name:     "enis hung",
			override: func(t *testing.T) map[string]http.HandlerFunc { return map[string]http.HandlerFunc{PathENIs: hang(t)} },
			opts:     Options{Timeout: 100 * time.Millisecond},
			is:       context.DeadlineExceeded,
		},
		{
			name: "enis slow drip",
			override: func(t *testing.T) map[string]http.HandlerFunc {
				h := hang(t)
				return map[string]http.HandlerFunc{PathENIs: func(w http.ResponseWriter, r *http.Request) {
					_, _ = w.Write([]byte(`{"0":{"TotalIPs":3,`))
					w.(http.Flusher).Flush()
					h(w, r)
				}}
			},
			opts: Options{Timeout: 100 * time.Millisecond},
			is:   context.DeadlineExceeded,
		},
		{
			name: "enis oversized",
			override: func(*testing.T) map[string]http.HandlerFunc {
				// Many short strings: the body limit, not the token limit, is what stops it.
				big := `{"TotalIPs":0,"AssignedIPs":0,"Padding":[` + strings.Repeat(`"xxxxxxxxxxxxxx",`, 1<<16) + `""],"ENIs":{}}`
				return map[string]http.HandlerFunc{PathENIs: body(big)}
			},
			opts: Options{MaxBodyBytes: 64 << 10},
			is:   ErrBodyTooLarge,
		},
		{
			name: "enis malformed",
			override: func(*testing.T) map[string]http.HandlerFunc {
				return map[string]http.HandlerFunc{PathENIs: body(`{"0":{"ENIs":`)}
			},
			contains: "unexpected EOF",
		},
		{
			name: "enis answers AvailableCommands",
			override: func(*testing.T) map[string]http.HandlerFunc {
				return map[string]http.HandlerFunc{PathENIs: body(`{"AvailableCommands":[]}`)}
			},
			is: ErrAvailableCommands,
		},
		{
			name: "enis pre-1.7",
			override: func(t *testing.T) map[string]http.HandlerFunc {
				return map[string]http.HandlerFunc{PathENIs: body(string(readFixture(t, "pre1.7-eniippools.json")))}
			},
			is: ErrUnsupportedVersion,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := startServer(t, fakeIPAMD(t, tc.override(t)))
			c := newTestClient(t, srv.URL, tc.opts)
			st, err := c.Fetch(context.Background())
			if err == nil {
				t.Fatalf("Fetch succeeded with %+v", st)
			}
			if st != nil {
				t.Errorf("state returned although /v1/enis failed")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want errors.Is %v", err, tc.is)
			}
			if tc.contains != "" && !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("err = %v, want it to contain %q", err, tc.contains)
			}
			if !strings.Contains(err.Error(), PathENIs) {
				t.Errorf("err = %v does not name the route", err)
			}
		})
	}
}

// TestFetchOptionalRoutes: a failing optional route never hides the ENI data; the fetch
// returns the state together with a *PartialError that names every failed route.
func TestFetchOptionalRoutes(t *testing.T) {
	t.Parallel()
	srv := startServer(t, fakeIPAMD(t, map[string]http.HandlerFunc{
		PathENIConfigs: func(w http.ResponseWriter, _ *http.Request) { http.NotFound(w, nil) },
		PathIPAMDEnv:   hang(t),
		PathNetworkUtilsEnv: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = w.Write([]byte(`{"AvailableCommands":[]}`))
		},
	}))
	// Long enough for the healthy routes on a loaded machine; the hung route uses all of it.
	c := newTestClient(t, srv.URL, Options{Timeout: 2 * time.Second})
	st, err := c.Fetch(context.Background())
	if st == nil || len(st.ENIs) != 3 {
		t.Fatalf("state = %+v, want the ENIs despite optional failures", st)
	}
	if st.ENIConfig != "" || st.Env != nil || st.NetworkUtilsEnv != nil {
		t.Errorf("failed routes left values behind: %q %v %v", st.ENIConfig, st.Env, st.NetworkUtilsEnv)
	}
	var pe *PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("Fetch err = %v, want a *PartialError", err)
	}
	if got := len(pe.Routes); got != 3 {
		t.Errorf("%d failed routes, want 3: %v", got, pe)
	}
	if !strings.Contains(pe.Routes[PathENIConfigs].Error(), "HTTP 404") {
		t.Errorf("eni-configs error = %v", pe.Routes[PathENIConfigs])
	}
	if !errors.Is(pe.Routes[PathIPAMDEnv], context.DeadlineExceeded) {
		t.Errorf("env error = %v, want deadline exceeded", pe.Routes[PathIPAMDEnv])
	}
	if !errors.Is(err, ErrPartial) || !errors.Is(err, ErrAvailableCommands) {
		t.Errorf("PartialError does not expose ErrPartial and the route errors: %v", pe)
	}
	for _, p := range []string{PathENIConfigs, PathIPAMDEnv, PathNetworkUtilsEnv} {
		if !strings.Contains(pe.Error(), p) {
			t.Errorf("PartialError text does not name %s: %v", p, pe)
		}
	}
}

func TestPartialClearedBySuccess(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	fail := true
	srv := startServer(t, fakeIPAMD(t, map[string]http.HandlerFunc{
		PathENIConfigs: func(w http.ResponseWriter, _ *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			if fail {
				http.NotFound(w, nil)
				return
			}
			_, _ = w.Write([]byte(`"default"`))
		},
	}))
	c := newTestClient(t, srv.URL, Options{})
	if st, err := c.Fetch(context.Background()); st == nil || !errors.Is(err, ErrPartial) {
		t.Fatalf("first Fetch: state %v, err %v; want a state and ErrPartial", st, err)
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	st, err := c.Fetch(context.Background())
	if err != nil || st.ENIConfig != "default" {
		t.Fatalf("second Fetch: err %v, state %+v", err, st)
	}
}

func TestFetchCancelledContext(t *testing.T) {
	t.Parallel()
	srv := startServer(t, fakeIPAMD(t, map[string]http.HandlerFunc{PathENIs: hang(t)}))
	c := newTestClient(t, srv.URL, Options{Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Fetch(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestFetchConnectionRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c := newTestClient(t, addr, Options{Timeout: time.Second})
	if _, err := c.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "http://"+addr+PathENIs) {
		t.Fatalf("err = %v, want a connection error naming the URL", err)
	}
}

func TestFetchUnixSocket(t *testing.T) {
	t.Parallel()
	dir, err := os.MkdirTemp("", "ipamd") // t.TempDir paths can exceed the 108-byte socket limit
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "ipamd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(fakeIPAMD(t, nil))
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)

	for _, addr := range []string{"unix:" + sock, "unix://" + sock} {
		c := newTestClient(t, addr, Options{})
		st, err := c.Fetch(context.Background())
		if err != nil {
			t.Fatalf("Fetch over %s: %v", addr, err)
		}
		if len(st.ENIs) != 3 || st.ENIConfig != "us-west-2a" {
			t.Errorf("state over %s = %+v", addr, st)
		}
	}

	c := newTestClient(t, "unix:"+filepath.Join(dir, "missing.sock"), Options{Timeout: time.Second})
	if _, err := c.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "unix:") {
		t.Errorf("err = %v, want an error naming the socket", err)
	}
}

func TestNewClientValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		addr    string
		opts    Options
		wantErr string
	}{
		{addr: "http://127.0.0.1:61679"},
		{addr: "127.0.0.1:61679"},
		{addr: "https://127.0.0.1:61679/"},
		{addr: "unix:/var/run/aws-node/introspection.sock"},
		{addr: "", wantErr: "empty"},
		{addr: "ftp://127.0.0.1:61679", wantErr: "scheme"},
		{addr: "http://", wantErr: "missing host"},
		{addr: "http://127.0.0.1:61679/v1/enis", wantErr: "no path"},
		{addr: "unix:relative.sock", wantErr: "absolute"},
		{addr: "unix:/x.sock", opts: Options{HTTPClient: http.DefaultClient}, wantErr: "unix socket"},
		{addr: "http://[::1", wantErr: "ipamd address"},
	} {
		c, err := NewClient(tc.addr, tc.opts)
		if c != nil {
			c.Close()
		}
		if tc.wantErr == "" {
			if err != nil {
				t.Errorf("NewClient(%q): %v", tc.addr, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("NewClient(%q) err = %v, want %q", tc.addr, err, tc.wantErr)
		}
	}
}
