package imds

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeIMDS is an httptest IMDS that speaks the paths and the IMDSv2 token flow (PUT
// /latest/api/token with a TTL header, then X-aws-ec2-metadata-token on every GET). It exists
// because amazon-ec2-metadata-mock serves exactly one interface and no ipv4-prefix paths.
type fakeIMDS struct {
	// values maps a path below /latest/meta-data/ (or "dynamic/...") to its answer.
	values map[string]string
	// v2Only rejects GETs without a valid token with 401, like IMDS with HttpTokens=required.
	v2Only bool
	// refuseToken, when set, is the status the token endpoint answers instead of a token.
	refuseToken int
	// status, when set for a path, is returned instead of its value.
	status map[string]int
	// failFirst answers the first n requests for a path with 503, then serves it.
	failFirst map[string]int
	// endless, when set for a path ("api/token" for the IMDSv2 token), answers 200 with a
	// body of up to endlessMax bytes, chunked, like a misbehaving or compromised host.
	endless map[string]bool

	mu       sync.Mutex
	requests []string
	endlessN int   // endless bodies started
	largest  int64 // bytes written of the largest endless body
}

// endlessMax stops an endless body in the fake, so a client without a bound ends too (with a
// failed test instead of an exhausted machine).
const endlessMax = 256 << 20

func (f *fakeIMDS) writeEndless(w http.ResponseWriter) {
	w.WriteHeader(http.StatusOK)
	unit := []byte(strings.Repeat("AQAEAFAKE", 4096))
	f.mu.Lock()
	f.endlessN++
	f.mu.Unlock()
	var total int64
	for total < endlessMax {
		n, err := w.Write(unit)
		total += int64(n)
		f.mu.Lock()
		f.largest = max(f.largest, total)
		f.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// endlessWritten returns how many endless bodies the fake started and the size of the
// largest one written so far.
func (f *fakeIMDS) endlessWritten() (n int, largest int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.endlessN, f.largest
}

const fakeToken = "AQAEAFAKE-token=="

func (f *fakeIMDS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Method+" "+r.URL.Path)
	f.mu.Unlock()
	if r.URL.Path == "/latest/api/token" {
		if r.Method != http.MethodPut {
			http.Error(w, "", http.StatusMethodNotAllowed)
			return
		}
		ttl := r.Header.Get("X-aws-ec2-metadata-token-ttl-seconds")
		if ttl == "" {
			http.Error(w, "", http.StatusBadRequest)
			return
		}
		if f.refuseToken != 0 {
			http.Error(w, http.StatusText(f.refuseToken), f.refuseToken)
			return
		}
		w.Header().Set("X-aws-ec2-metadata-token-ttl-seconds", ttl)
		if f.endless["api/token"] {
			f.writeEndless(w)
			return
		}
		_, _ = fmt.Fprint(w, fakeToken)
		return
	}
	if f.v2Only && r.Header.Get("X-aws-ec2-metadata-token") != fakeToken {
		http.Error(w, "", http.StatusUnauthorized)
		return
	}
	var key string
	switch {
	case strings.HasPrefix(r.URL.Path, "/latest/meta-data/"):
		key = strings.TrimPrefix(r.URL.Path, "/latest/meta-data/")
	case strings.HasPrefix(r.URL.Path, "/latest/dynamic/"):
		key = "dynamic/" + strings.TrimPrefix(r.URL.Path, "/latest/dynamic/")
	default:
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	n := f.failFirst[key]
	if n > 0 {
		f.failFirst[key] = n - 1
	}
	f.mu.Unlock()
	if n > 0 {
		http.Error(w, "throttled", http.StatusServiceUnavailable)
		return
	}
	if code, ok := f.status[key]; ok {
		http.Error(w, http.StatusText(code), code)
		return
	}
	if f.endless[key] {
		f.writeEndless(w)
		return
	}
	v, ok := f.values[key]
	if !ok {
		http.NotFound(w, r)
		return
	}
	_, _ = fmt.Fprint(w, v)
}

func (f *fakeIMDS) seen(method, path string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.requests {
		if r == method+" "+path {
			return true
		}
	}
	return false
}

// startFake serves f on 127.0.0.1 and returns its base URL.
func startFake(t *testing.T, f *fakeIMDS) string {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return srv.URL
}

// multiENIValues describes a prefix-delegation node with three ENIs on two network cards,
// written from the IMDS documentation's path list (values are documentation ranges).
func multiENIValues() map[string]string {
	const (
		m0 = "0a:11:22:33:44:01"
		m1 = "0a:11:22:33:44:02"
		m2 = "0a:11:22:33:44:03"
	)
	v := map[string]string{
		"instance-id":                    "i-0abc123def4567890",
		"instance-type":                  "m6i.32xlarge",
		"placement/region":               "eu-west-1",
		"placement/availability-zone":    "eu-west-1b",
		"placement/availability-zone-id": "euw1-az1",
		"local-ipv4":                     "10.0.1.10",
		"mac":                            m0,
		// listing order is not device order; the decoder sorts.
		"network/interfaces/macs/": m2 + "/\n" + m0 + "/\n" + m1 + "/",
	}
	add := func(mac string, kv map[string]string) {
		for k, val := range kv {
			v["network/interfaces/macs/"+mac+"/"+k] = val
		}
	}
	add(m0, map[string]string{
		"interface-id": "eni-0000000000000000a", "device-number": "0", "network-card": "0",
		"subnet-id": "subnet-0aaa", "subnet-ipv4-cidr-block": "10.0.0.0/20", "vpc-id": "vpc-0123",
		"vpc-ipv4-cidr-blocks": "10.0.0.0/16\n100.64.0.0/16", "local-ipv4s": "10.0.1.10",
		"ipv4-prefix": "10.0.2.16/28\n10.0.2.32/28",
	})
	add(m1, map[string]string{
		"interface-id": "eni-0000000000000000b", "device-number": "1", "network-card": "0",
		"subnet-id": "subnet-0bbb", "subnet-ipv4-cidr-block": "100.64.0.0/19", "vpc-id": "vpc-0123",
		"vpc-ipv4-cidr-blocks": "10.0.0.0/16\n100.64.0.0/16", "local-ipv4s": "100.64.0.5\n100.64.0.6\n100.64.0.7",
		"ipv6s": "2001:db8::5", "ipv6-prefix": "2001:db8:1::/80",
	})
	// An interface on the second network card.
	add(m2, map[string]string{
		"interface-id": "eni-0000000000000000c", "device-number": "2", "network-card": "1",
		"subnet-id": "subnet-0aaa", "subnet-ipv4-cidr-block": "10.0.0.0/20", "vpc-id": "vpc-0123",
		"vpc-ipv4-cidr-blocks": "10.0.0.0/16", "local-ipv4s": "10.0.3.3",
	})
	return v
}

// hungListener accepts connections and never answers, like an IMDS endpoint behind a
// black-holing hop.
func hungListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		done  = make(chan struct{})
	)
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return "http://" + l.Addr().String()
}

// closedPort returns an endpoint where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "http://" + addr
}

// mapSource is an in-memory source for decoder tests.
type mapSource struct {
	values    map[string]string
	errs      map[string]error
	regionDoc string
}

func (m mapSource) get(_ context.Context, path string) (string, error) {
	if err, ok := m.errs[path]; ok {
		return "", err
	}
	v, ok := m.values[path]
	if !ok {
		return "", fmt.Errorf("%s: %w", path, ErrNotFound)
	}
	return strings.TrimSpace(v), nil
}

func (m mapSource) region(context.Context) (string, error) {
	if m.regionDoc == "" {
		return "", fmt.Errorf("identity document: %w", ErrNotFound)
	}
	return m.regionDoc, nil
}
