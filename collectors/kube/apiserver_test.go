package kube

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// apiServer speaks the few core/v1 endpoints the agent may call, from k8s.io/api objects
// encoded the way the API server encodes them, and applies the field selector the way the
// real API server does. Anything else is a 404 and is recorded, so a test can prove no
// unscoped request (and no watch) was made. Events are decoded strictly into core/v1
// Events: a field the real API server would not know fails the test.
type apiServer struct {
	t     testing.TB
	nodes []corev1.Node
	pods  []corev1.Pod
	// ignoreSelector answers every pod, as a proxy that drops field selectors would.
	ignoreSelector bool
	// token, when set, is the only bearer token accepted (401 otherwise).
	token string

	// fail, when set, answers instead of the handler when it returns true.
	fail func(w http.ResponseWriter, r *http.Request) bool

	mu       sync.Mutex
	requests []*http.Request
	events   []corev1.Event
}

func (s *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, r.Clone(r.Context()))
	tok := s.token
	s.mu.Unlock()
	if tok != "" && r.Header.Get("Authorization") != "Bearer "+tok {
		writeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
		return
	}
	if s.fail != nil && s.fail(w, r) {
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/api/v1/nodes/"):
		name := strings.TrimPrefix(r.URL.Path, "/api/v1/nodes/")
		for _, n := range s.nodes {
			if n.Name == name {
				n.TypeMeta = metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}
				writeJSON(w, http.StatusOK, n)
				return
			}
		}
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, fmt.Sprintf("nodes %q not found", name))
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/pods":
		if r.URL.Query().Has("watch") {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "this test server refuses watches")
			return
		}
		sel, err := fields.ParseSelector(r.URL.Query().Get("fieldSelector"))
		if err != nil {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return
		}
		out := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "81240"}}
		for _, p := range s.pods {
			if s.ignoreSelector || sel.Matches(fields.Set{"spec.nodeName": p.Spec.NodeName, "metadata.namespace": p.Namespace, "metadata.name": p.Name}) {
				out.Items = append(out.Items, p)
			}
		}
		writeJSON(w, http.StatusOK, out)
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/api/v1/namespaces/") && strings.HasSuffix(r.URL.Path, "/events"):
		var ev corev1.Event
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "decoding Event: "+err.Error())
			s.t.Errorf("event body is not a core/v1 Event: %v", err)
			return
		}
		ns := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/api/v1/namespaces/"), "/events")
		if ev.Namespace != ns {
			writeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "the namespace of the provided object does not match the namespace sent on the request")
			return
		}
		s.mu.Lock()
		s.events = append(s.events, ev)
		s.mu.Unlock()
		writeJSON(w, http.StatusCreated, ev)
	default:
		writeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "not served by the test API server: "+r.Method+" "+r.URL.Path)
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

// forbid answers 403 like the API server's RBAC authorizer for requests to path.
func forbid(path, verb, resource, scope string) func(w http.ResponseWriter, r *http.Request) bool {
	return func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != path {
			return false
		}
		writeJSON(w, http.StatusForbidden, metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusFailure,
			Message: fmt.Sprintf(`%s is forbidden: User "system:serviceaccount:ipamwatch:ipamwatch" cannot %s resource %q in API group "" %s`,
				resource, verb, resource, scope),
			Reason:  metav1.StatusReasonForbidden,
			Details: &metav1.StatusDetails{Kind: resource},
			Code:    http.StatusForbidden,
		})
		return true
	}
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

func (s *apiServer) recorded() []corev1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]corev1.Event(nil), s.events...)
}

// serve starts s over plain HTTP and returns an API client for it.
func (s *apiServer) serve(t testing.TB, cfg Config) *API {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	cfg.Host = srv.URL
	api, err := NewAPI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(api.CloseIdleConnections)
	return api
}

// client starts s and returns a Client for testNode (or opts.NodeName).
func (s *apiServer) client(t testing.TB, opts Options) *Client {
	t.Helper()
	if opts.NodeName == "" {
		opts.NodeName = testNode
	}
	c, err := NewClient(s.serve(t, Config{}), opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// legacy returns the previous client-go path (legacyFetch) against the server c talks to.
func (c *Client) legacy(t testing.TB) kubernetes.Interface {
	t.Helper()
	return legacyClient(t, &rest.Config{Host: c.api.base.String()})
}

// fixtureServer serves testdata/node.json and testdata/pods.json.
func fixtureServer(t testing.TB) *apiServer {
	t.Helper()
	n, pods := fixtures(t)
	return &apiServer{t: t, nodes: []corev1.Node{*n}, pods: pods.Items}
}

// fixtures loads testdata/node.json and testdata/pods.json as k8s.io/api objects.
func fixtures(t testing.TB) (*corev1.Node, *corev1.PodList) {
	t.Helper()
	var node corev1.Node
	var pods corev1.PodList
	for name, into := range map[string]any{"node.json": &node, "pods.json": &pods} {
		b, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(into); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return &node, &pods
}
