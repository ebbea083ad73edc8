package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

// saWaitTimeout bounds the wait for a namespace's default ServiceAccount.
const saWaitTimeout = 30 * time.Second

// startServiceAccounts runs the harness's stand-in for the controller-manager's ServiceAccount
// controller: it lists and watches namespaces and creates the `default` ServiceAccount in each,
// whether a test made the namespace through CreateNamespace, Apply, kubectl or client-go.
func (s *Server) startServiceAccounts() {
	ctx, cancel := context.WithCancel(context.Background())
	s.stopSA, s.saDone = cancel, make(chan struct{})
	go func() {
		defer close(s.saDone)
		for ctx.Err() == nil {
			if err := s.syncServiceAccounts(ctx); err != nil && ctx.Err() == nil {
				// The API server is busy or restarting its watch cache: list again shortly.
				select {
				case <-ctx.Done():
				case <-time.After(200 * time.Millisecond):
				}
			}
		}
	}()
}

// syncServiceAccounts lists the namespaces, gives each its ServiceAccount, then follows the
// watch until it ends.
func (s *Server) syncServiceAccounts(ctx context.Context) error {
	list, err := s.client.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for i := range list.Items {
		s.ensureServiceAccount(ctx, &list.Items[i])
	}
	w, err := s.client.CoreV1().Namespaces().Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		switch ev.Type {
		case watch.Added, watch.Modified:
			if ns, ok := ev.Object.(*corev1.Namespace); ok {
				s.ensureServiceAccount(ctx, ns)
			}
		case watch.Error:
			return fmt.Errorf("namespace watch: %v", ev.Object)
		}
	}
	return nil
}

func (s *Server) ensureServiceAccount(ctx context.Context, ns *corev1.Namespace) {
	if ns.Status.Phase == corev1.NamespaceTerminating {
		return
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: ns.Name}}
	// Errors other than "exists" surface to the test as a missing ServiceAccount
	// (waitServiceAccount's timeout, or the admission error of its Pod).
	_, _ = s.client.CoreV1().ServiceAccounts(ns.Name).Create(ctx, sa, metav1.CreateOptions{})
}

// waitServiceAccount waits until namespace ns has its default ServiceAccount.
func (s *Server) waitServiceAccount(ctx context.Context, ns string) error {
	ctx, cancel := context.WithTimeout(ctx, saWaitTimeout)
	defer cancel()
	for {
		_, err := s.client.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("namespace %s has no default ServiceAccount after %s: %w", ns, saWaitTimeout, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// CreateNamespace creates namespace name and waits for its default ServiceAccount, so Pods can
// be created in it at once. Namespaces are never deleted: without a controller-manager a
// deleted namespace stays Terminating, so tests pick names that do not collide (NewNamespace).
func (s *Server) CreateNamespace(t testing.TB, name string) {
	t.Helper()
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := s.client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", name, err)
	}
	if err := s.waitServiceAccount(ctx, name); err != nil {
		t.Fatal(err)
	}
}

// NewNamespace creates a namespace named after the test, with a random suffix, and returns its
// name: the way tests on a shared server keep apart.
func (s *Server) NewNamespace(t testing.TB) string {
	t.Helper()
	name := dnsLabel(t.Name(), 50)
	suffix := make([]byte, 3)
	if _, err := rand.Read(suffix); err != nil {
		t.Fatal(err)
	}
	name += "-" + hex.EncodeToString(suffix)
	s.CreateNamespace(t, name)
	return name
}

// dnsLabel turns s into an RFC 1123 label of at most max characters ("TestX/case_1" ->
// "testx-case-1").
func dnsLabel(s string, max int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(s) {
		ok := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		switch {
		case ok:
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > 0:
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= max {
			break
		}
	}
	out := strings.Trim(b.String(), "-")
	if len(out) > max {
		out = strings.Trim(out[:max], "-")
	}
	if out == "" {
		out = "test"
	}
	return out
}

// ServiceAccountToken returns a token for ServiceAccount ns/name from the TokenRequest API,
// as a kubelet would mount it (audience: the API server). The API server refuses an expiry
// under 10 minutes.
func (s *Server) ServiceAccountToken(t testing.TB, ns, name string, expiry time.Duration) string {
	t.Helper()
	secs := int64(expiry / time.Second)
	req := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &secs}}
	resp, err := s.client.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), name, req, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("TokenRequest for %s/%s: %v", ns, name, err)
	}
	return resp.Status.Token
}

// CreateServiceAccount creates ServiceAccount ns/name (AlreadyExists is fine).
func (s *Server) CreateServiceAccount(t testing.TB, ns, name string) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	_, err := s.client.CoreV1().ServiceAccounts(ns).Create(context.Background(), sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatalf("creating ServiceAccount %s/%s: %v", ns, name, err)
	}
}
