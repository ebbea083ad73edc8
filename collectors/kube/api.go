package kube

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/common/version"
)

// The agent talks to the API server with net/http and local structs instead of client-go:
// three calls (GET its Node, LIST its pods, POST an Event) did not justify client-go's typed
// clientset, scheme and k8s.io/api, which were about two thirds of the agent binary's code
// and most of its resident memory above node_exporter's (docs/performance.md). This file is
// what client-go's rest package did for us: in-cluster configuration, the rotating
// ServiceAccount token, timeouts, 429 with Retry-After, bounded answers and errors that say
// which RBAC rule is missing.

// ErrNotInCluster is returned by InClusterConfig when the process is not
// running in a pod.
var ErrNotInCluster = errors.New("kubernetes: not running inside a cluster")

// ErrThrottled is wrapped by the error of a request the API server refused with 429 (or a
// 503 with Retry-After) for longer than the request could wait.
var ErrThrottled = errors.New("kubernetes: throttled by the API server")

// ServiceAccountDir is where kubelet mounts the pod's ServiceAccount token, CA bundle and
// namespace (a projected volume; the token is rotated in place).
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Bounds on what the API server may send. etcd refuses requests over 1.5 MiB by default
// (--max-request-bytes), so no stored Node or Pod is larger than that; the margin covers
// JSON's overhead over the stored protobuf.
const (
	// maxObjectBytes bounds one object: the Node, or one item of the pod list.
	maxObjectBytes = 3 << 20
	// maxListBytes bounds the whole pod list as streamed. It is read item by item, so it
	// bounds time and bandwidth, not memory.
	maxListBytes = 64 << 20
	// maxListItems bounds the number of pods read from one list. Kubelet admits at most
	// --max-pods (110 by default, 737 for the largest EKS instance types), but finished pods
	// stay listed until they are garbage-collected, so the bound is generous.
	maxListItems = 5000
	// maxStatusBytes bounds the error body (a metav1.Status) that is read for its message.
	maxStatusBytes = 64 << 10
	// maxTokenBytes bounds the token file (a JWT is about 1 KiB).
	maxTokenBytes = 64 << 10
	// maxMessageBytes bounds the server's message quoted in an error.
	maxMessageBytes = 512
)

const (
	// maxAttempts bounds the requests of one call: the first, a retry after a 401 with a
	// re-read token, and retries after a 429 whose Retry-After fits in the request's time.
	maxAttempts = 3
	// defaultRetryAfter is the wait after a 429 that gives no usable Retry-After.
	defaultRetryAfter = time.Second
	// maxRetryAfter caps a Retry-After the agent honours (the API server's priority and
	// fairness answers 429 with "Retry-After: 1").
	maxRetryAfter = 5 * time.Minute
)

// Config says how to reach the API server.
type Config struct {
	// Host is the API server's base URL, e.g. https://10.100.0.1:443. Required.
	Host string
	// CAFile is a PEM bundle that verifies the API server's certificate; empty uses the
	// system roots. In a pod: ServiceAccountDir/ca.crt.
	CAFile string
	// TokenFile holds the bearer token; it is re-read when it changes and after a 401, as
	// kubelet rotates projected ServiceAccount tokens in place. Empty sends no token.
	TokenFile string
	// Timeout bounds each call, retries included (default DefaultTimeout).
	Timeout time.Duration
}

// InClusterConfig is the configuration of a pod: the API server from KUBERNETES_SERVICE_HOST
// and KUBERNETES_SERVICE_PORT, the CA bundle and token from ServiceAccountDir.
func InClusterConfig() (Config, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return Config{}, fmt.Errorf("%w (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are unset; run the agent as a pod or disable the Kubernetes source)", ErrNotInCluster)
	}
	return Config{
		Host:      "https://" + net.JoinHostPort(host, port),
		CAFile:    ServiceAccountDir + "/ca.crt",
		TokenFile: ServiceAccountDir + "/token",
	}, nil
}

// API is a minimal Kubernetes API client. It is safe for concurrent use.
type API struct {
	base      *url.URL
	hc        *http.Client
	token     *tokenFile
	timeout   time.Duration
	userAgent string
	now       func() time.Time
	// sleep waits d or until ctx is done (tests make it instant).
	sleep func(ctx context.Context, d time.Duration) error

	mu sync.Mutex
	// notBefore is when the API server allows the next request after a 429 the agent
	// could not wait out; calls before it fail without a request.
	notBefore time.Time
}

// NewAPI checks cfg (the CA bundle parses, the token file is readable) and builds the
// client. It does not contact the API server.
func NewAPI(cfg Config) (*API, error) {
	if cfg.Host == "" {
		return nil, errors.New("kubernetes: API server URL is empty")
	}
	base, err := url.Parse(strings.TrimRight(cfg.Host, "/"))
	if err != nil || (base.Scheme != "https" && base.Scheme != "http") || base.Host == "" {
		return nil, fmt.Errorf("kubernetes: API server URL %q must be http(s)://host[:port]", cfg.Host)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("kubernetes: timeout must not be negative, got %s", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := readBounded(cfg.CAFile, 4<<20)
		if err != nil {
			return nil, fmt.Errorf("kubernetes: CA bundle: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kubernetes: CA bundle %s holds no PEM certificate", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	a := &API{
		base:      base,
		timeout:   cfg.Timeout,
		userAgent: "ipamwatch/" + version.Version,
		now:       time.Now,
		sleep:     sleepCtx,
	}
	if cfg.TokenFile != "" {
		a.token = &tokenFile{path: cfg.TokenFile}
		if _, err := a.token.get(false); err != nil {
			return nil, err
		}
	}
	a.hc = &http.Client{
		// HTTP/1.1 on one kept-alive connection: a poll makes two requests a minute, and
		// per-request deadlines cover a connection that died silently, which HTTP/2 would
		// need pings to notice.
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSClientConfig:       tlsCfg,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: cfg.Timeout,
			MaxIdleConnsPerHost:   1,
			IdleConnTimeout:       90 * time.Second,
			// Compression stays on, as in client-go: the transport asks for gzip and
			// inflates transparently, and the bounds apply to the inflated bytes.
		},
		// Redirects are not part of the API; following one could send the token elsewhere.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return a, nil
}

// CloseIdleConnections closes the kept-alive connection to the API server.
func (a *API) CloseIdleConnections() { a.hc.CloseIdleConnections() }

// request is one API call, described well enough to name it in an error.
type request struct {
	method string
	path   string
	query  url.Values
	body   []byte
	// verb and resource are the RBAC terms of the call; namespace is empty at cluster
	// scope; what names the object or the selection, for messages.
	verb, resource, namespace, what string
}

// do runs req and hands a 2xx answer to decode; the body is closed afterwards. 401, 429 and
// errors are handled here (see the constants above for the retry policy).
func (a *API) do(ctx context.Context, req request, decode func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()
	if wait := a.throttledFor(); wait > 0 {
		return req.errorf("%w: the API server asked to wait %s more (Retry-After)", ErrThrottled, wait.Round(time.Second))
	}
	u := *a.base
	u.Path += req.path
	u.RawQuery = req.query.Encode()
	reread := false
	for attempt := 1; ; attempt++ {
		resp, err := a.send(ctx, req, u.String(), reread) //nolint:bodyclose // every branch below closes it (drainClose, statusError)
		if err != nil {
			return err
		}
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			err := decode(resp.Body)
			drainClose(resp.Body)
			if err != nil {
				return req.errorf("decoding the answer: %w", timeoutCause(ctx, err))
			}
			return nil
		case resp.StatusCode == http.StatusUnauthorized && a.token != nil && !reread && attempt < maxAttempts:
			// The token may have been rotated since it was read: read it again, once.
			drainClose(resp.Body)
			reread = true
			continue
		case resp.StatusCode == http.StatusTooManyRequests || (resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != ""):
			wait := retryAfter(resp.Header.Get("Retry-After"))
			drainClose(resp.Body)
			// The call's deadline is on the real clock; a.now may be a test's.
			if deadline, ok := ctx.Deadline(); attempt < maxAttempts && (!ok || time.Until(deadline) > wait) {
				if err := a.sleep(ctx, wait); err != nil {
					return req.errorf("%w: waiting %s (Retry-After): %w", ErrThrottled, wait, timeoutCause(ctx, err))
				}
				continue
			}
			a.mu.Lock()
			a.notBefore = a.now().Add(wait)
			a.mu.Unlock()
			return req.errorf("%w: HTTP %d, Retry-After %s; no request before then", ErrThrottled, resp.StatusCode, wait)
		default:
			return a.statusError(req, resp)
		}
	}
}

func (a *API) send(ctx context.Context, req request, u string, rereadToken bool) (*http.Response, error) {
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u, body)
	if err != nil {
		return nil, req.errorf("%w", err)
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", a.userAgent)
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if a.token != nil {
		tok, err := a.token.get(rereadToken)
		if err != nil {
			return nil, req.errorf("%w", err)
		}
		hr.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := a.hc.Do(hr)
	if err != nil {
		if isTimeout(ctx, err) {
			return nil, req.errorf("API server did not answer in time (%s): %w", a.timeout, err)
		}
		return nil, req.errorf("%w", err)
	}
	return resp, nil
}

func (a *API) throttledFor() time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.notBefore.Sub(a.now())
}

// status is the part of a metav1.Status the agent reads from an error answer.
type status struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// statusError turns a non-2xx answer into an *APIError, quoting the server's message.
func (a *API) statusError(req request, resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxStatusBytes))
	drainClose(resp.Body)
	e := &APIError{Verb: req.verb, Resource: req.resource, Namespace: req.namespace, What: req.what, Code: resp.StatusCode}
	var st status
	if json.Unmarshal(b, &st) == nil && st.Kind == "Status" {
		e.Reason, e.Message = st.Reason, st.Message
	} else {
		e.Message = strings.TrimSpace(string(b))
	}
	if a.token != nil {
		e.TokenFile = a.token.path
	}
	e.Message = clip(e.Message, maxMessageBytes)
	return e
}

// APIError is an error answer of the API server to one call.
type APIError struct {
	// Verb, Resource and Namespace are the RBAC terms of the call (Namespace empty at
	// cluster scope); What names the object or selection.
	Verb, Resource, Namespace, What string
	Code                            int
	// Reason and Message come from the metav1.Status the API server sent, if any.
	Reason, Message string
	// TokenFile is where the rejected token was read (401).
	TokenFile string
}

func (e *APIError) Error() string {
	call := fmt.Sprintf("kubernetes: %s %s (%s)", e.Verb, e.Resource, e.What)
	var b strings.Builder
	switch {
	case e.Code == http.StatusForbidden:
		fmt.Fprintf(&b, "kubernetes: forbidden to %s %s (%s): ", e.Verb, e.Resource, e.What)
		if e.Namespace == "" {
			fmt.Fprintf(&b, "the agent's ClusterRole needs verb %q on resource %q", e.Verb, e.Resource)
		} else {
			fmt.Fprintf(&b, "a Role in namespace %q bound to the agent's ServiceAccount needs verb %q on resource %q", e.Namespace, e.Verb, e.Resource)
		}
	case e.Code == http.StatusUnauthorized:
		fmt.Fprintf(&b, "%s: unauthorized (HTTP 401): ", call)
		if e.TokenFile != "" {
			fmt.Fprintf(&b, "the API server rejected the token in %s, read again after the first 401 (expired, or its ServiceAccount deleted?)", e.TokenFile)
		} else {
			b.WriteString("no token configured")
		}
	case e.Code == http.StatusNotFound && e.Resource == "nodes":
		fmt.Fprintf(&b, "kubernetes: node %q not found (is the node name taken from spec.nodeName?)", e.What)
	default:
		fmt.Fprintf(&b, "%s: HTTP %d", call, e.Code)
		if e.Reason != "" {
			b.WriteString(" " + e.Reason)
		}
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	return b.String()
}

// Forbidden reports whether the API server refused the call (RBAC).
func (e *APIError) Forbidden() bool { return e.Code == http.StatusForbidden }

// errorf wraps an error of req with what it was.
func (r request) errorf(format string, a ...any) error {
	return fmt.Errorf("kubernetes: %s %s (%s): %w", r.verb, r.resource, r.what, fmt.Errorf(format, a...))
}

// retryAfter reads a Retry-After header in seconds (the form the API server sends) or as
// an HTTP date, bounded to [0, maxRetryAfter].
func retryAfter(h string) time.Duration {
	h = strings.TrimSpace(h)
	if s, err := strconv.Atoi(h); err == nil {
		d := time.Duration(s) * time.Second
		if s < 0 {
			d = 0
		}
		return min(d, maxRetryAfter)
	}
	if t, err := http.ParseTime(h); err == nil {
		return min(max(time.Until(t), 0), maxRetryAfter)
	}
	return defaultRetryAfter
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// drainClose reads a little of what is left, so the connection can be reused, and closes.
func drainClose(rc io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, rc, 64<<10)
	_ = rc.Close()
}

func isTimeout(ctx context.Context, err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout())
}

// timeoutCause says "did not answer in time" for an error caused by the deadline.
func timeoutCause(ctx context.Context, err error) error {
	if isTimeout(ctx, err) {
		return fmt.Errorf("API server did not answer in time: %w", err)
	}
	return err
}

// clip bounds text from the API server to n bytes and replaces what is not printable
// (terminal escape sequences, newlines) with '?': it ends up in logs, /diagnosis and
// terminals.
func clip(s string, n int) string {
	cut := len(s) > n
	if cut {
		s = s[:n]
	}
	s = strings.Map(func(r rune) rune {
		if r == utf8.RuneError || !unicode.IsPrint(r) {
			return '?'
		}
		return r
	}, s)
	if cut {
		s += "..."
	}
	return s
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// tokenFile is the bearer token, read again when the file changes. Kubelet replaces a
// projected token (atomically, through a symlink swap) when 80% of its lifetime has passed,
// and the old one expires: a token read once at start stops working after about an hour
// (or a year, with the API server's legacy extension). A stat per request (two a minute)
// notices the change at once; a 401 also forces a re-read.
type tokenFile struct {
	path string

	mu    sync.Mutex
	token string
	mod   time.Time
	size  int64
}

func (t *tokenFile) get(force bool) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	fi, err := os.Stat(t.path)
	if err != nil {
		if t.token != "" && !force {
			return t.token, nil // a moment between kubelet's swaps; the next call looks again
		}
		return "", fmt.Errorf("service account token: %w", err)
	}
	if !force && t.token != "" && fi.ModTime().Equal(t.mod) && fi.Size() == t.size {
		return t.token, nil
	}
	b, err := readBounded(t.path, maxTokenBytes)
	if err != nil {
		return "", fmt.Errorf("service account token: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("service account token: %s is empty", t.path)
	}
	t.token, t.mod, t.size = tok, fi.ModTime(), fi.Size()
	return tok, nil
}
