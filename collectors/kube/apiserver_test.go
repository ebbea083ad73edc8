package kube

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/rest"
)

// apiServer speaks the few core/v1 endpoints the agent may call, from testdata, and applies
// field and label selectors the way the real API server does. Anything else is a 404 and is
// recorded, so a test can prove no unscoped request was made.
type apiServer struct {
	t    *testing.T
	node []byte
	pods corev1.PodList

	// fail, when set, answers instead of the handler for a matching "METHOD path" prefix.
	fail func(w http.ResponseWriter, r *http.Request) bool

	mu       sync.Mutex
	requests []*http.Request
}

func newAPIServer(t *testing.T) *apiServer {
	t.Helper()
	node, err := os.ReadFile(filepath.Join("testdata", "node.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, pods := fixtures(t)
	return &apiServer{t: t, node: node, pods: *pods}
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Clone(context.Background()))
	s.mu.Unlock()
	if s.fail != nil && s.fail(w, r) {
		return
	}
	if r.Method != http.MethodGet {
		writeStatus(w, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed, "only GET is served")
		return
	}
	q := r.URL.Query()
	switch {
	case r.URL.Path == "/api/v1/nodes/"+testNode:
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(s.node)
	case strings.HasPrefix(r.URL.Path, "/api/v1/nodes/"):
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("nodes %q not found", strings.TrimPrefix(r.URL.Path, "/api/v1/nodes/")))
	case r.URL.Path == "/api/v1/pods":
		sel, err := fields.ParseSelector(q.Get("fieldSelector"))
		if err != nil {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return
		}
		out := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, ListMeta: s.pods.ListMeta}
		for _, p := range s.pods.Items {
			if sel.Matches(fields.Set{"spec.nodeName": p.Spec.NodeName, "metadata.namespace": p.Namespace, "metadata.name": p.Name}) {
				out.Items = append(out.Items, p)
			}
		}
		writeJSON(w, http.StatusOK, out)
	default:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "not served by the test API server: "+r.URL.Path)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeJSON(w, code, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

func (s *apiServer) seen() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, r := range s.requests {
		out = append(out, r.Method+" "+r.URL.Path+"?"+r.URL.RawQuery)
	}
	return out
}

func (s *apiServer) start(t *testing.T, opts Options) *Client {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	if opts.NodeName == "" {
		opts.NodeName = testNode
	}
	c, err := newForConfig(&rest.Config{Host: srv.URL}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAPIServerFetch(t *testing.T) {
	t.Parallel()
	s := newAPIServer(t)
	c := s.start(t, Options{})
	got, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if diff := cmp.Diff(wantFixture(), got, cmpKube); diff != "" {
		t.Errorf("kube mismatch (-want +got):\n%s", diff)
	}

	// The request pattern the package doc promises: two requests, both scoped to this node,
	// both allowed to come from the API server's cache.
	want := []string{
		// timeout= is client-go passing Options.Timeout on so the server gives up too.
		"GET /api/v1/nodes/" + testNode + "?resourceVersion=0&timeout=10s",
		"GET /api/v1/pods?fieldSelector=spec.nodeName%3D" + testNode + "&resourceVersion=0&timeout=10s&timeoutSeconds=10",
	}
	if diff := cmp.Diff(want, s.seen()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.requests {
		if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "ipamwatch/") {
			t.Errorf("User-Agent %q, want ipamwatch/<version> so API server audit logs name us", ua)
		}
		if acc := r.Header.Get("Accept"); !strings.Contains(acc, "application/vnd.kubernetes.protobuf") {
			t.Errorf("Accept %q does not offer protobuf", acc)
		}
	}
}

func TestAPIServerErrors(t *testing.T) {
	t.Parallel()
	forbid := func(path, verb, resource string) func(w http.ResponseWriter, r *http.Request) bool {
		return func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != path {
				return false
			}
			writeJSON(w, http.StatusForbidden, metav1.Status{
				TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
				Status:   metav1.StatusFailure,
				Message: fmt.Sprintf(`%s is forbidden: User "system:serviceaccount:ipamwatch:ipamwatch" cannot %s resource %q in API group "" at the cluster scope`,
					resource, verb, resource),
				Reason:  metav1.StatusReasonForbidden,
				Details: &metav1.StatusDetails{Kind: resource},
				Code:    http.StatusForbidden,
			})
			return true
		}
	}
	tests := []struct {
		name     string
		nodeName string
		fail     func(w http.ResponseWriter, r *http.Request) bool
		timeout  time.Duration
		wantErr  []string
	}{
		{
			name:    "403 on pods names the verb and resource",
			fail:    forbid("/api/v1/pods", "list", "pods"),
			wantErr: []string{`forbidden to list pods`, `needs verb "list" on resource "pods"`},
		},
		{
			name:    "403 on the node names the verb and resource",
			fail:    forbid("/api/v1/nodes/"+testNode, "get", "nodes"),
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
			wantErr: []string{"kubernetes: list pods (spec.nodeName=" + testNode + ")", "leader changed"},
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
			wantErr: []string{"kubernetes: get nodes"},
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
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newAPIServer(t)
			s.fail = tc.fail
			c := s.start(t, Options{NodeName: tc.nodeName, Timeout: tc.timeout})
			got, err := c.Fetch(context.Background())
			if err == nil {
				t.Fatalf("Fetch succeeded, want error; got %+v", got)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestAPIServerProxyIgnoringSelector: a proxy (or an old fake) that drops the field selector
// returns the whole cluster's pods; the in-memory guard must still count only this node.
func TestAPIServerProxyIgnoringSelector(t *testing.T) {
	t.Parallel()
	s := newAPIServer(t)
	s.fail = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/api/v1/pods" {
			return false
		}
		out := s.pods
		out.TypeMeta = metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}
		writeJSON(w, http.StatusOK, out)
		return true
	}
	c := s.start(t, Options{})
	got, err := c.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantFixture(), got, cmpKube); diff != "" {
		t.Errorf("kube mismatch (-want +got):\n%s", diff)
	}
}
