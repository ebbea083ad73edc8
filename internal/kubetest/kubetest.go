// Package kubetest runs a real Kubernetes API server for tests: kube-apiserver v1.37.2 (built
// from the k8s.io/kubernetes module by scripts/install-tools.sh) over Debian's etcd, both on
// free 127.0.0.1 ports, with real authentication (a static admin token, ServiceAccount tokens
// from the TokenRequest API), RBAC and Node authorization, and admission. It drives the real
// kubectl v1.37.2 against it and runs prometheus-operator v0.85.0 on it (operator.go).
//
// There is no kubelet, scheduler or controller-manager: nothing runs in a Pod, Deployments make
// no Pods, namespaces are never finalized. The one controller-manager job tests cannot do
// without is imitated: every namespace gets its `default` ServiceAccount, without which the
// ServiceAccount admission plugin refuses every Pod.
//
// A server takes about 10 s to start on an idle machine (more on a busy one), so tests in one
// package usually share one (see Shared) and keep apart by namespace (NewNamespace). Start gives
// a test its own server when it changes cluster-wide state in ways others must not see.
//
// Missing programs skip the test locally and fail it when IPAMWATCH_REQUIRE_TOOLS=1, as
// internal/testtools does. The package is imported only by tests.
package kubetest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// Versions of the programs the harness runs. scripts/install-tools.sh builds them under these
// names (BinaryName) from the modules in e2e/kube and e2e/promoperator; TestVersionsAgree keeps
// the three places in step.
const (
	KubeVersion     = "v1.37.2"
	OperatorVersion = "v0.85.0"
)

// AdminUser is the name the admin token authenticates as (group system:masters).
const AdminUser = "admin"

// EtcdPath is Debian's etcd-server (3.4), called by path like the awscli.
const EtcdPath = "/usr/bin/etcd"

// Timeouts for start-up. Generous: two cores shared with parallel builds and tests make a
// 10-second start take a minute at worst.
const (
	etcdReadyTimeout      = 60 * time.Second
	apiserverReadyTimeout = 3 * time.Minute
	stopGrace             = 10 * time.Second
)

// Server is a running kube-apiserver with its etcd. Fields are read-only.
type Server struct {
	// URL is the API server's address, https://127.0.0.1:PORT.
	URL string
	// CAFile is the PEM CA that signed the serving certificate.
	CAFile string
	// Kubeconfig is an admin kubeconfig (token, group system:masters) for URL.
	Kubeconfig string
	// AdminToken authenticates as AdminUser.
	AdminToken string
	// Dir holds the server's files: logs (etcd.log, kube-apiserver.log), keys, kubeconfig.
	Dir string
	// BinDir holds `kubectl` (a link to the cached kubectl-v1.37.2); Env puts it first on
	// PATH so that command lines from docs run as pasted.
	BinDir string

	client   *kubernetes.Clientset
	rest     *rest.Config
	http     *http.Client
	kubectl  string
	etcd     *process
	apiserv  *process
	stopSA   context.CancelFunc
	saDone   chan struct{}
	stopOnce sync.Once

	mu             sync.Mutex
	crdsInstalled  bool
	namespaceCount int
}

// binaries are the programs a server needs, looked up before anything starts so that a missing
// one skips or fails the test with a clear message.
type binaries struct{ etcd, apiserver, kubectl string }

func lookupBinaries(t testing.TB) binaries {
	t.Helper()
	b := binaries{
		apiserver: testtools.LookupBin(t, BinaryName("kube-apiserver")),
		kubectl:   testtools.LookupBin(t, BinaryName("kubectl")),
	}
	if fi, err := os.Stat(EtcdPath); err != nil || fi.Mode()&0o111 == 0 {
		missingTool(t, "%s (Debian etcd-server) not installed", EtcdPath)
	}
	b.etcd = EtcdPath
	return b
}

// BinaryName is the name under which scripts/install-tools.sh caches program in GOPATH/bin:
// kube-apiserver-v1.37.2, kubectl-v1.37.2, prometheus-operator-v0.85.0.
func BinaryName(program string) string {
	if program == "prometheus-operator" {
		return program + "-" + OperatorVersion
	}
	return program + "-" + KubeVersion
}

// Start starts a server for this test alone and stops it (both processes, by PID) when the
// test ends. Its files live in a t.TempDir, quoted on failure.
func Start(t testing.TB) *Server {
	t.Helper()
	bins := lookupBinaries(t)
	s, err := start(t.TempDir(), bins)
	if err != nil {
		t.Fatalf("starting kube-apiserver: %v", err)
	}
	t.Cleanup(s.stop)
	return s
}

// Shared starts one server on first use and lets every test of a package use it, saving the
// start-up per test. Its zero value is ready; declare it next to TestMain:
//
//	var kube kubetest.Shared
//
//	func TestMain(m *testing.M) { os.Exit(kube.Run(m)) }
//
//	func TestX(t *testing.T) {
//		srv := kube.Get(t)
//		ns := srv.NewNamespace(t)
//		...
//	}
//
// Tests on a shared server work in their own namespaces and must not rely on cluster-scoped
// objects other tests create (Nodes, ClusterRoles): name those uniquely too.
type Shared struct {
	once    sync.Once
	running bool // set by Run; Get refuses without it, so no server outlives the test binary
	srv     *Server
	err     error
	dir     string
}

// Run runs the package's tests and stops the server afterwards, if one was started.
func (sh *Shared) Run(m *testing.M) int {
	sh.running = true
	code := m.Run()
	if sh.srv != nil {
		sh.srv.stop()
	}
	if sh.dir != "" {
		if code == 0 {
			os.RemoveAll(sh.dir)
		} else {
			fmt.Fprintf(os.Stderr, "kubetest: the shared server's files (logs, kubeconfig) are kept in %s\n", sh.dir)
		}
	}
	return code
}

// Get returns the shared server, starting it on the first call. A failed start fails every
// test that asks for it.
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	if !sh.running {
		t.Fatal("kubetest.Shared.Get needs TestMain to call Shared.Run (it stops the server)")
	}
	bins := lookupBinaries(t)
	sh.once.Do(func() {
		sh.dir, sh.err = os.MkdirTemp("", "kubetest-")
		if sh.err == nil {
			sh.srv, sh.err = start(sh.dir, bins)
		}
	})
	if sh.err != nil {
		t.Fatalf("starting the shared kube-apiserver: %v", sh.err)
	}
	return sh.srv
}

// start brings up etcd and kube-apiserver in dir. The free ports it picks may be taken by
// another program before the server binds them; that case is retried with new ports.
func start(dir string, bins binaries) (*Server, error) {
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var s *Server
		var retry bool
		s, retry, err = startOnce(filepath.Join(dir, "attempt-"+strconv.Itoa(attempt)), bins)
		if err == nil {
			return s, nil
		}
		if !retry {
			break
		}
	}
	return nil, err
}

func startOnce(dir string, bins binaries) (s *Server, retry bool, err error) {
	startedAt := time.Now()
	pki, err := writePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return nil, false, fmt.Errorf("writing keys and certificates: %w", err)
	}
	s = &Server{
		Dir:        dir,
		CAFile:     pki.caCert,
		AdminToken: pki.adminToken,
		Kubeconfig: filepath.Join(dir, "kubeconfig"),
		BinDir:     filepath.Join(dir, "bin"),
		kubectl:    bins.kubectl,
	}
	defer func() {
		if err != nil {
			s.stop()
		}
	}()

	ports, err := freePorts(3)
	if err != nil {
		return s, false, err
	}
	clientPort, peerPort, securePort := ports[0], ports[1], ports[2]
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	s.etcd, err = startProcess("etcd", filepath.Join(dir, "etcd.log"), minimalEnv(), bins.etcd,
		"--name", "kubetest",
		"--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
		"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
		"--initial-cluster", "kubetest="+peerURL,
		"--logger", "zap", "--log-outputs", "stderr", "--log-level", "warn",
	)
	if err != nil {
		return s, false, err
	}
	plain := &http.Client{Timeout: 2 * time.Second}
	if err := s.etcd.waitReady(etcdReadyTimeout, 100*time.Millisecond, func() error {
		return checkOK(plain, clientURL+"/health", "", `"health":"true"`)
	}); err != nil {
		return s, s.etcd.portInUse(), err
	}

	s.URL = fmt.Sprintf("https://127.0.0.1:%d", securePort)
	s.apiserv, err = startProcess("kube-apiserver", filepath.Join(dir, "kube-apiserver.log"), minimalEnv(), bins.apiserver,
		"--etcd-servers", clientURL,
		"--bind-address", "127.0.0.1",
		"--secure-port", strconv.Itoa(securePort),
		"--tls-cert-file", pki.servingCert, "--tls-private-key-file", pki.servingKey,
		"--cert-dir", filepath.Join(dir, "pki"),
		"--service-account-issuer", "https://kubernetes.default.svc",
		"--service-account-key-file", pki.saPub,
		"--service-account-signing-key-file", pki.saKey,
		"--token-auth-file", pki.tokens,
		"--authorization-mode", "Node,RBAC",
		"--service-cluster-ip-range", "10.96.0.0/16",
		"--profiling=false",
		"--v", "1",
	)
	if err != nil {
		return s, false, err
	}
	ca, err := os.ReadFile(pki.caCert)
	if err != nil {
		return s, false, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	s.http = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
	if err := s.apiserv.waitReady(apiserverReadyTimeout, 250*time.Millisecond, func() error {
		return checkOK(s.http, s.URL+"/readyz", s.AdminToken, "ok")
	}); err != nil {
		return s, s.apiserv.portInUse(), err
	}

	if err := s.writeKubeconfig(); err != nil {
		return s, false, err
	}
	if err := os.MkdirAll(s.BinDir, 0o755); err != nil {
		return s, false, err
	}
	if err := os.Symlink(bins.kubectl, filepath.Join(s.BinDir, "kubectl")); err != nil {
		return s, false, err
	}
	s.rest = &rest.Config{
		Host:            s.URL,
		BearerToken:     s.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile},
		QPS:             100,
		Burst:           200,
	}
	if s.client, err = kubernetes.NewForConfig(s.rest); err != nil {
		return s, false, err
	}
	s.startServiceAccounts()
	// The API server creates default, kube-system, kube-public and kube-node-lease itself;
	// the stand-in controller gives each its ServiceAccount. Waiting for the one in default
	// proves both ran before any test creates a Pod.
	if err := s.waitServiceAccount(context.Background(), "default"); err != nil {
		return s, false, err
	}
	if err := os.WriteFile(filepath.Join(dir, "startup.txt"),
		[]byte(fmt.Sprintf("ready after %s\n", time.Since(startedAt).Round(10*time.Millisecond))), 0o644); err != nil {
		return s, false, err
	}
	return s, false, nil
}

// StartupTime says how long the server took from the first key generated to ready (with the
// default ServiceAccount in place), for reports; "" if unknown.
func (s *Server) StartupTime() string {
	b, err := os.ReadFile(filepath.Join(s.Dir, "startup.txt"))
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(strings.TrimSpace(string(b)), "ready after ")
}

func (s *Server) writeKubeconfig() error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubetest"] = &clientcmdapi.Cluster{Server: s.URL, CertificateAuthority: s.CAFile}
	cfg.AuthInfos[AdminUser] = &clientcmdapi.AuthInfo{Token: s.AdminToken}
	cfg.Contexts["kubetest"] = &clientcmdapi.Context{Cluster: "kubetest", AuthInfo: AdminUser, Namespace: "default"}
	cfg.CurrentContext = "kubetest"
	return clientcmd.WriteToFile(*cfg, s.Kubeconfig)
}

// stop ends the stand-in controller, then the API server and etcd, by PID.
func (s *Server) stop() {
	s.stopOnce.Do(func() {
		if s.stopSA != nil {
			s.stopSA()
			<-s.saDone
		}
		s.apiserv.stop(stopGrace)
		s.etcd.stop(stopGrace)
	})
}

// Client is a client-go clientset authenticated as the admin.
func (s *Server) Client() kubernetes.Interface { return s.client }

// RESTConfig returns a copy of the admin client configuration, to build other clients from.
func (s *Server) RESTConfig() *rest.Config { return rest.CopyConfig(s.rest) }

// UserConfig returns a client configuration that authenticates with token and trusts the
// server's CA, e.g. for a ServiceAccount token from ServiceAccountToken.
func (s *Server) UserConfig(token string) *rest.Config {
	return &rest.Config{Host: s.URL, BearerToken: token, TLSClientConfig: rest.TLSClientConfig{CAFile: s.CAFile}}
}

// Get sends a GET to path (e.g. "/api/v1/namespaces/default/pods") with token and returns the
// status code and body: the raw view, to see the API server's own 401 and 403 answers.
func (s *Server) Get(ctx context.Context, path, token string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+path, nil)
	if err != nil {
		return 0, nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, 16<<20)
	return resp.StatusCode, body, err
}

// LogTail returns the last n lines of the API server's log, to quote in a failure.
func (s *Server) LogTail(n int) string { return s.apiserv.logTail(n) }

func checkOK(c *http.Client, url, token, want string) error {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := readCapped(resp.Body, 1<<20)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
		return fmt.Errorf("GET %s: %s: %.300s", url, resp.Status, body)
	}
	return nil
}

// minimalEnv is the environment the servers run with: the caller's, without variables that
// would point them at another cluster or proxy.
func minimalEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case name == "KUBECONFIG", strings.HasPrefix(name, "ETCD"),
			strings.EqualFold(name, "HTTP_PROXY"), strings.EqualFold(name, "HTTPS_PROXY"):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// freePorts returns n distinct TCP ports on 127.0.0.1 that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("finding a free port: %w", err)
		}
		defer l.Close() // held until all are picked, so the n ports differ
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

var errTooLarge = errors.New("response larger than the cap")

// readCapped reads r to its end, refusing more than limit bytes.
func readCapped(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return b, err
	}
	if int64(len(b)) > limit {
		return b[:limit], fmt.Errorf("%w (%d bytes)", errTooLarge, limit)
	}
	return b, nil
}
