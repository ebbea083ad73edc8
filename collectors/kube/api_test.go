package kube

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNewAPIValidates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	notPEM := filepath.Join(dir, "ca.crt")
	for path, content := range map[string]string{empty: "\n", notPEM: "not a certificate"} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no host", Config{}, "URL is empty"},
		{"not a URL", Config{Host: "10.100.0.1:443"}, "must be http(s)://host"},
		{"other scheme", Config{Host: "ftp://10.100.0.1"}, "must be http(s)://host"},
		{"negative timeout", Config{Host: "https://h", Timeout: -time.Second}, "timeout"},
		{"CA file missing", Config{Host: "https://h", CAFile: filepath.Join(dir, "nope")}, "CA bundle"},
		{"CA file without PEM", Config{Host: "https://h", CAFile: notPEM}, "holds no PEM certificate"},
		{"token file missing", Config{Host: "https://h", TokenFile: filepath.Join(dir, "nope")}, "service account token"},
		{"token file empty", Config{Host: "https://h", TokenFile: empty}, "is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := NewAPI(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewAPI(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
			}
		})
	}
}

// TestTLSWithCAFile: the API server's certificate is verified against the CA bundle, and a
// server the bundle does not vouch for is refused.
func TestTLSWithCAFile(t *testing.T) {
	t.Parallel()
	s := fixtureServer(t)
	srv := httptest.NewTLSServer(s)
	t.Cleanup(srv.Close)
	other := httptest.NewTLSServer(s)
	t.Cleanup(other.Close)
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	fetch := func(host string) error {
		api, err := NewAPI(Config{Host: host, CAFile: ca})
		if err != nil {
			t.Fatal(err)
		}
		defer api.CloseIdleConnections()
		c, err := NewClient(api, Options{NodeName: testNode})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Fetch(context.Background())
		return err
	}
	if err := fetch(srv.URL); err != nil {
		t.Fatalf("with the server's CA: %v", err)
	}
	// httptest servers share one certificate: a system-roots client is what "another CA" means.
	api, err := NewAPI(Config{Host: other.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer api.CloseIdleConnections()
	c, err := NewClient(api, Options{NodeName: testNode})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Fetch(context.Background()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v, want a certificate error", err)
	}
}

// TestTokenRotation: kubelet rewrites the projected token; the next request carries the new
// one without a 401 first, and a 401 (token rotated within the same second, same size) makes
// the client read the file again and retry once.
func TestTokenRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tokenPath := filepath.Join(dir, "token")
	writeToken := func(tok string, mod time.Time) {
		t.Helper()
		// As kubelet does it: a new file swapped in by rename.
		tmp := filepath.Join(dir, ".token.tmp")
		if err := os.WriteFile(tmp, []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(tmp, mod, mod); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, tokenPath); err != nil {
			t.Fatal(err)
		}
	}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	writeToken("token-one", t0)
	s := fixtureServer(t)
	s.token = "token-one"
	api := s.serve(t, Config{TokenFile: tokenPath})
	c, err := NewClient(api, Options{NodeName: testNode})
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(step string) {
		t.Helper()
		if _, err := c.Fetch(context.Background()); err != nil {
			t.Fatalf("%s: %v", step, err)
		}
	}
	fetch("first token")

	// Rotation: new content, new mtime. The old token is refused from now on.
	writeToken("token-two", t0.Add(48*time.Minute))
	s.mu.Lock()
	s.token = "token-two"
	s.mu.Unlock()
	before := len(s.seen())
	fetch("after rotation")
	if got := len(s.seen()) - before; got != 2 {
		t.Errorf("after rotation: %d requests, want 2 (the new token read before sending, no 401)", got)
	}

	// Same size, same mtime: only the 401 tells; one re-read and retry.
	writeToken("token-thr", t0.Add(48*time.Minute))
	s.mu.Lock()
	s.token = "token-thr"
	s.mu.Unlock()
	before = len(s.seen())
	fetch("after an unnoticeable rotation")
	if got := len(s.seen()) - before; got != 3 {
		t.Errorf("unnoticeable rotation: %d requests, want 3 (401, retry, list)", got)
	}

	// A token the API server keeps refusing: a clear error, after exactly one retry.
	s.mu.Lock()
	s.token = "revoked-for-everyone"
	s.mu.Unlock()
	before = len(s.seen())
	_, err = c.Fetch(context.Background())
	if err == nil || !strings.Contains(err.Error(), "unauthorized (HTTP 401)") || !strings.Contains(err.Error(), tokenPath) {
		t.Fatalf("refused token: %v, want a 401 error naming %s", err, tokenPath)
	}
	if got := len(s.seen()) - before; got != 2 {
		t.Errorf("refused token: %d requests, want 2 (one retry with the re-read token)", got)
	}
}

// TestThrottling: a 429 with Retry-After is waited out and retried when the wait fits in
// the call's time; otherwise the call fails and no request is sent before Retry-After.
func TestThrottling(t *testing.T) {
	t.Parallel()
	var throttle atomic.Int32 // requests still to refuse
	retryAfterSeconds := "1"
	s := fixtureServer(t)
	s.fail = func(w http.ResponseWriter, r *http.Request) bool {
		if throttle.Add(-1) < 0 {
			return false
		}
		w.Header().Set("Retry-After", retryAfterSeconds)
		writeStatus(w, http.StatusTooManyRequests, metav1.StatusReasonTooManyRequests, "too many requests, please try again later")
		return true
	}
	api := s.serve(t, Config{Timeout: 10 * time.Second})
	var slept []time.Duration
	now := time.Now()
	api.now = func() time.Time { return now }
	api.sleep = func(_ context.Context, d time.Duration) error {
		slept = append(slept, d)
		now = now.Add(d)
		return nil
	}
	c, err := NewClient(api, Options{NodeName: testNode})
	if err != nil {
		t.Fatal(err)
	}

	throttle.Store(1)
	if _, err := c.Fetch(context.Background()); err != nil {
		t.Fatalf("one 429 with Retry-After 1: %v", err)
	}
	if diff := cmp.Diff([]time.Duration{time.Second}, slept); diff != "" {
		t.Errorf("waits (-want +got):\n%s", diff)
	}

	// Retry-After longer than the call may take: fail now, and send nothing until then.
	retryAfterSeconds = "30"
	throttle.Store(1)
	slept = nil
	_, err = c.Fetch(context.Background())
	if !errors.Is(err, ErrThrottled) || !strings.Contains(err.Error(), "Retry-After 30s") {
		t.Fatalf("long Retry-After: %v, want ErrThrottled naming the wait", err)
	}
	if len(slept) != 0 {
		t.Errorf("slept %v although the wait does not fit in the timeout", slept)
	}
	before := len(s.seen())
	now = now.Add(29 * time.Second)
	if _, err := c.Fetch(context.Background()); !errors.Is(err, ErrThrottled) {
		t.Fatalf("before Retry-After: %v, want ErrThrottled", err)
	}
	if n := len(s.seen()) - before; n != 0 {
		t.Errorf("%d requests sent before Retry-After passed", n)
	}
	now = now.Add(time.Second)
	if _, err := c.Fetch(context.Background()); err != nil {
		t.Fatalf("after Retry-After: %v", err)
	}

	// A server that keeps refusing: bounded attempts, then the error.
	retryAfterSeconds = "1"
	throttle.Store(100)
	before = len(s.seen())
	if _, err := c.Fetch(context.Background()); !errors.Is(err, ErrThrottled) {
		t.Fatalf("endless 429: %v, want ErrThrottled", err)
	}
	if n := len(s.seen()) - before; n != maxAttempts {
		t.Errorf("endless 429: %d requests, want %d", n, maxAttempts)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	t.Parallel()
	for h, want := range map[string]time.Duration{
		"1": time.Second, "0": 0, "-5": 0, "": defaultRetryAfter, "soon": defaultRetryAfter,
		"86400": maxRetryAfter, "Mon, 01 Jan 2001 00:00:00 GMT": 0,
	} {
		if got := retryAfter(h); got != want {
			t.Errorf("retryAfter(%q) = %s, want %s", h, got, want)
		}
	}
}

func TestAPIErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		nodeName string
		fail     func(w http.ResponseWriter, r *http.Request) bool
		timeout  time.Duration
		wantErr  []string
	}{
		{
			name:    "403 on pods names the verb and resource",
			fail:    forbid("/api/v1/pods", "list", "pods", "at the cluster scope"),
			wantErr: []string{`forbidden to list pods`, `the agent's ClusterRole needs verb "list" on resource "pods"`, `cannot list resource "pods"`},
		},
		{
			name:    "403 on the node names the verb and resource",
			fail:    forbid("/api/v1/nodes/"+testNode, "get", "nodes", "at the cluster scope"),
			wantErr: []string{`forbidden to get nodes`, `needs verb "get" on resource "nodes"`},
		},
		{
			name:     "node not found",
			nodeName: "ip-10-9-9-9.eu-west-1.compute.internal",
			wantErr:  []string{`node "ip-10-9-9-9.eu-west-1.compute.internal" not found`},
		},
		{
			name: "500 from the API server",
			fail: func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/api/v1/pods" {
					return false
				}
				writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "etcdserver: leader changed")
				return true
			},
			wantErr: []string{"kubernetes: list pods (spec.nodeName=" + testNode + "): HTTP 500 InternalError", "leader changed"},
		},
		{
			name: "an error page that is not a Status is quoted, bounded",
			fail: func(w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(http.StatusBadGateway)
				_, _ = io.WriteString(w, "<html>bad gateway</html>"+strings.Repeat("x", 100<<10))
				return true
			},
			wantErr: []string{"HTTP 502: <html>bad gateway</html>xxx", "..."},
		},
		{
			name: "control characters in the server's message are not passed on",
			fail: func(w http.ResponseWriter, r *http.Request) bool {
				writeStatus(w, http.StatusInternalServerError, metav1.StatusReasonInternalError, "\x1b]0;pwned\x07\x1b[2Jgone\nnext line")
				return true
			},
			wantErr: []string{"HTTP 500 InternalError: ?]0;pwned??[2Jgone?next line"},
		},
		{
			name: "malformed body",
			fail: func(w http.ResponseWriter, r *http.Request) bool {
				if !strings.HasPrefix(r.URL.Path, "/api/v1/nodes/") {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = fmt.Fprint(w, `{"apiVersion":"v1","kind":"Node","metadata":{"name":`)
				return true
			},
			wantErr: []string{"kubernetes: get nodes", "decoding the answer"},
		},
		{
			name: "a list that is not a PodList",
			fail: func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/api/v1/pods" {
					return false
				}
				writeJSON(w, http.StatusOK, map[string]any{"kind": "NodeList", "items": []any{}})
				return true
			},
			wantErr: []string{"kubernetes: list pods", `"NodeList", not a PodList`},
		},
		{
			name: "a redirect is not followed",
			fail: func(w http.ResponseWriter, r *http.Request) bool {
				http.Redirect(w, r, "http://169.254.169.254/", http.StatusFound)
				return true
			},
			wantErr: []string{"kubernetes: get nodes", "HTTP 302"},
		},
		{
			name: "hung API server times out",
			fail: func(w http.ResponseWriter, r *http.Request) bool {
				<-r.Context().Done()
				return true
			},
			timeout: 300 * time.Millisecond,
			wantErr: []string{"kubernetes: get nodes", "did not answer in time"},
		},
		{
			name: "an answer that stalls half-way times out",
			fail: func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != "/api/v1/pods" {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, `{"kind":"PodList","items":[`)
				w.(http.Flusher).Flush()
				<-r.Context().Done()
				return true
			},
			timeout: 300 * time.Millisecond,
			wantErr: []string{"kubernetes: list pods", "did not answer in time"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fixtureServer(t)
			s.fail = tc.fail
			nodeName := tc.nodeName
			if nodeName == "" {
				nodeName = testNode
			}
			c, err := NewClient(s.serve(t, Config{Timeout: tc.timeout}), Options{NodeName: nodeName})
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.Fetch(context.Background())
			if err == nil {
				t.Fatalf("Fetch succeeded, want error; got %+v", got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if len(err.Error()) > 2000 {
				t.Errorf("error is %d bytes long: a hostile answer must not fill logs and /diagnosis", len(err.Error()))
			}
		})
	}
}

// TestAnswerBounds: answers larger than any real one fail with the bound that was hit, and
// memory holds one pod at a time while a long list streams by.
func TestAnswerBounds(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", maxObjectBytes)
	tests := []struct {
		name string
		body func(w io.Writer)
		path string
		want string
	}{
		{
			name: "node too large",
			path: "/api/v1/nodes/" + testNode,
			body: func(w io.Writer) { fmt.Fprintf(w, `{"kind":"Node","metadata":{"name":%q}}`, big) },
			want: errObjectTooLarge.Error(),
		},
		{
			name: "one pod too large",
			path: "/api/v1/pods",
			body: func(w io.Writer) { fmt.Fprintf(w, `{"kind":"PodList","items":[{"metadata":{"name":%q}}]}`, big) },
			want: errObjectTooLarge.Error(),
		},
		{
			name: "too many pods",
			path: "/api/v1/pods",
			body: func(w io.Writer) {
				_, _ = io.WriteString(w, `{"kind":"PodList","items":[{}`)
				for i := 0; i < maxListItems; i++ {
					_, _ = io.WriteString(w, `,{}`)
				}
				_, _ = io.WriteString(w, `]}`)
			},
			want: errTooManyItems.Error(),
		},
		{
			name: "endless list",
			path: "/api/v1/pods",
			body: func(w io.Writer) {
				_, _ = io.WriteString(w, `{"kind":"PodList","items":[`)
				item := `{"metadata":{"name":"` + strings.Repeat("p", 60<<10) + `"}},`
				for i := 0; i < maxListBytes/len(item)+2; i++ {
					if _, err := io.WriteString(w, item); err != nil {
						return
					}
				}
			},
			want: errListTooLarge.Error(),
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := fixtureServer(t)
			s.fail = func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != tc.path {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				tc.body(w)
				return true
			}
			_, err := s.client(t, Options{}).Fetch(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Fetch = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestPodListStreams: a 40 MiB list of 2,000 pods is read with a heap that grows by far less
// than the list (it holds one pod, not the list). Not parallel: it measures the heap.
func TestPodListStreams(t *testing.T) {
	const pods = 2000
	annotation := strings.Repeat("a", 20<<10) // a large last-applied-configuration
	var maxHeap, base uint64
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	base = ms.HeapAlloc
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, `{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[`)
		for i := 0; i < pods; i++ {
			if i > 0 {
				_, _ = io.WriteString(pw, ",")
			}
			_, _ = fmt.Fprintf(pw, `{"metadata":{"name":"p%d","namespace":"app","annotations":{"kubectl.kubernetes.io/last-applied-configuration":%q}},"spec":{"nodeName":%q,"containers":[{"name":"c","image":"i"}]},"status":{"phase":"Running","podIP":"10.0.0.%d"}}`,
				i, annotation, testNode, i%250)
		}
		_, _ = io.WriteString(pw, `]}`)
		pw.Close()
	}()
	sel, _ := parseSelector(DefaultAWSNodeLabel)
	tl := newTally(testNode, "kube-system", sel, "aws-node")
	n, err := decodePodList(pr, func(p *podObject) {
		tl.add(p)
		if tl.k.Pods%250 == 0 {
			runtime.GC()
			runtime.ReadMemStats(&ms)
			maxHeap = max(maxHeap, ms.HeapAlloc)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != pods || tl.k.Pods != pods {
		t.Fatalf("decoded %d pods, counted %d, want %d", n, tl.k.Pods, pods)
	}
	if grew := int64(maxHeap) - int64(base); grew > 4<<20 {
		t.Errorf("heap grew by %d bytes while a %d-byte list streamed by; want under 4 MiB", grew, pods*len(annotation))
	}
}

// TestCreateNodeEvent: the Event is a valid core/v1 Event (the test server decodes it
// strictly) in the one namespace RBAC grants, on the Node, found by `kubectl describe node`
// (uid = node name, as kubelet writes it).
func TestCreateNodeEvent(t *testing.T) {
	t.Parallel()
	s := &apiServer{t: t}
	api := s.serve(t, Config{})
	at := time.Date(2026, 12, 3, 9, 30, 0, 0, time.UTC)
	msg := strings.Repeat("é", 600) // 1200 bytes: cut at a character boundary
	if err := api.CreateNodeEvent(context.Background(), NodeEvent{Node: testNode, Type: "Warning", Reason: "IPAllocationAtRisk", Message: msg, Time: at}); err != nil {
		t.Fatal(err)
	}
	evs := s.recorded()
	if len(evs) != 1 {
		t.Fatalf("%d events recorded, want 1", len(evs))
	}
	ev := evs[0]
	want := corev1.Event{
		TypeMeta:            metav1.TypeMeta{Kind: "Event", APIVersion: "v1"},
		ObjectMeta:          metav1.ObjectMeta{Name: testNode + "." + strconv.FormatInt(at.UnixNano(), 16), Namespace: "default"},
		InvolvedObject:      corev1.ObjectReference{Kind: "Node", Name: testNode, UID: testNode, APIVersion: "v1"},
		Reason:              "IPAllocationAtRisk",
		Message:             strings.Repeat("é", 512),
		Type:                "Warning",
		Source:              corev1.EventSource{Component: "ipamwatch", Host: testNode},
		FirstTimestamp:      metav1.NewTime(at),
		LastTimestamp:       metav1.NewTime(at),
		Count:               1,
		ReportingController: "ipamwatch",
		ReportingInstance:   testNode,
	}
	if diff := cmp.Diff(want, ev, cmp.Comparer(func(a, b metav1.Time) bool { return a.Equal(&b) })); diff != "" {
		t.Errorf("event (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"POST /api/v1/namespaces/default/events?"}, s.seen()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}

	s.fail = forbid("/api/v1/namespaces/default/events", "create", "events", `in the namespace "default"`)
	err := api.CreateNodeEvent(context.Background(), NodeEvent{Node: testNode, Type: "Normal", Reason: "IPCeilingChanged", Time: at})
	var apiErr *APIError
	if !errors.As(err, &apiErr) || !apiErr.Forbidden() {
		t.Fatalf("forbidden: %v, want a forbidden *APIError", err)
	}
	if want := `a Role in namespace "default" bound to the agent's ServiceAccount needs verb "create" on resource "events"`; !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if err := api.CreateNodeEvent(context.Background(), NodeEvent{Node: "Bad_Name"}); err == nil {
		t.Error("an event on an invalid node name was sent")
	}
}
