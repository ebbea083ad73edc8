package demo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubeAPI is the simulated node's Kubernetes API server: the three calls the agent makes
// (GET its Node, LIST its pods with the spec.nodeName field selector, POST an Event), over
// TLS with a bearer token, objects encoded as k8s.io/api types the way the API server
// encodes them. The agent talks to it exactly as to a cluster's API server.
type kubeAPI struct {
	token string

	mu     sync.Mutex
	node   corev1.Node
	pods   map[string]corev1.Pod // namespace/name
	events []corev1.Event
}

func newKubeAPI() (*kubeAPI, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	return &kubeAPI{token: "demo-" + hex.EncodeToString(b), pods: map[string]corev1.Pod{}}, nil
}

func (k *kubeAPI) setNode(n corev1.Node) {
	k.mu.Lock()
	defer k.mu.Unlock()
	n.TypeMeta = metav1.TypeMeta{Kind: "Node", APIVersion: "v1"}
	k.node = n
}

func (k *kubeAPI) putPod(p corev1.Pod) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.pods[p.Namespace+"/"+p.Name] = p
}

// podsIn returns the pods of one namespace by name.
func (k *kubeAPI) podsIn(ns string) map[string]corev1.Pod {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := map[string]corev1.Pod{}
	for _, p := range k.pods {
		if p.Namespace == ns {
			out[p.Name] = p
		}
	}
	return out
}

func (k *kubeAPI) deletePod(ns, name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.pods, ns+"/"+name)
}

func (k *kubeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer "+k.token {
		writeKubeStatus(w, http.StatusUnauthorized, metav1.StatusReasonUnauthorized, "Unauthorized")
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/nodes/"+k.node.Name:
		writeKubeJSON(w, http.StatusOK, k.node)
	case r.Method == http.MethodGet && r.URL.Path == "/api/v1/pods":
		sel := r.URL.Query().Get("fieldSelector")
		name, ok := strings.CutPrefix(sel, "spec.nodeName=")
		if !ok && sel != "" {
			writeKubeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, "this simulator selects pods by spec.nodeName only")
			return
		}
		list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
		keys := make([]string, 0, len(k.pods))
		for key := range k.pods {
			keys = append(keys, key)
		}
		sort.Strings(keys)
		for _, key := range keys {
			if p := k.pods[key]; !ok || p.Spec.NodeName == name {
				list.Items = append(list.Items, p)
			}
		}
		writeKubeJSON(w, http.StatusOK, list)
	case r.Method == http.MethodPost && r.URL.Path == "/api/v1/namespaces/default/events":
		var ev corev1.Event
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&ev); err != nil {
			writeKubeStatus(w, http.StatusBadRequest, metav1.StatusReasonBadRequest, err.Error())
			return
		}
		if len(k.events) < 1000 {
			k.events = append(k.events, ev)
		}
		writeKubeJSON(w, http.StatusCreated, ev)
	default:
		writeKubeStatus(w, http.StatusNotFound, metav1.StatusReasonNotFound, "the demo API server does not serve "+r.Method+" "+r.URL.Path)
	}
}

func writeKubeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeKubeStatus(w http.ResponseWriter, code int, reason metav1.StatusReason, msg string) {
	writeKubeJSON(w, code, metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: msg, Reason: reason, Code: int32(code),
	})
}

// KubeEvents returns the reasons of the Events the agent wrote, oldest first.
func (n *Node) KubeEvents() []string {
	n.kube.mu.Lock()
	defer n.kube.mu.Unlock()
	out := make([]string, 0, len(n.kube.events))
	for _, ev := range n.kube.events {
		out = append(out, ev.Reason)
	}
	return out
}

// selfSignedTLS makes a certificate for 127.0.0.1 and writes it, PEM, to caFile, where the
// agent reads it as its CA bundle.
func selfSignedTLS(caFile string) (*tls.Config, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ipamwatch demo kube-apiserver"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * 365 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("writing the demo CA: %w", err)
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, nil
}
