// Package testtools holds the helpers the repository's tests share: golden files (Golden),
// waiting for a condition (WaitFor), free ports, and finding the real external programs that
// tests drive (Prometheus, promtool, Alertmanager, mtail, the EC2 metadata mock, helm,
// buildah, awscli, and through internal/kubetest kube-apiserver, etcd, kubectl and
// prometheus-operator). Locally a missing program skips the test; in CI
// (IPAMWATCH_REQUIRE_TOOLS=1, set by .ci/run) it fails it, so a missing install step can
// never turn into a silently green run.
package testtools

import (
	"context"
	"errors"
	"fmt"
	"go/build"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// Required reports whether missing tools must fail tests instead of skipping them.
func Required() bool { return os.Getenv("IPAMWATCH_REQUIRE_TOOLS") == "1" }

// Lookup returns the path of program name, or skips (locally) / fails (CI) the test.
func Lookup(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if Required() {
			t.Fatalf("%s not found on PATH (IPAMWATCH_REQUIRE_TOOLS=1): run scripts/install-tools.sh", name)
		}
		t.Skipf("%s not installed; run scripts/install-tools.sh", name)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. It picks ports below
// Linux's ephemeral range (32768-60999 by default), at random: a port the kernel hands out
// for :0 is also the next one it gives an outgoing connection, so between this check and the
// program that binds it another process's connection could take it (seen as "address already
// in use" when many tests run at once).
func FreePort(t testing.TB) int {
	t.Helper()
	for range 50 {
		port := 20000 + rand.IntN(12000)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			l.Close()
			return port
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("finding a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// Golden compares got with the golden file at path, or rewrites the file when update is set
// (each package's -update flag). The failure names the file and how to regenerate it.
func Golden(t testing.TB, path string, got []byte, update bool) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file %s (rerun the test with -update to create it): %v", path, err)
	}
	if diff := cmp.Diff(string(want), string(got)); diff != "" {
		t.Errorf("%s differs (-want +got); if intended, rerun with -update:\n%s", path, diff)
	}
}

// GoldenSection is Golden for the generated part of a hand-written file: what stands between
// the first begin marker and the next end marker must equal want; with update set that part
// is rewritten and the rest of the file kept.
func GoldenSection(t testing.TB, path, begin, end, want string, update bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	before, rest, ok1 := strings.Cut(doc, begin)
	got, after, ok2 := strings.Cut(rest, end)
	if !ok1 || !ok2 {
		t.Fatalf("%s lacks the generated-section markers %q ... %q", path, begin, end)
	}
	if update {
		if err := os.WriteFile(path, []byte(before+begin+want+end+after), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("the generated section of %s is out of date (-want +got); rerun the test with -update:\n%s", path, diff)
	}
}

// WaitFor polls cond until it holds, and fails the test when it still does not after
// timeout, naming what it waited for. The polls start 1 ms apart and back off to 50 ms: a
// check of local state answers at once, one over HTTP is not hammered.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	WaitForNoError(t, timeout, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = errors.New("condition not met")

// WaitForNoError is WaitFor for a check that says why it does not hold yet: the failure
// quotes its last error.
func WaitForNoError(t testing.TB, timeout time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	pause := time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %v", timeout, what, err)
		}
		time.Sleep(pause)
		pause = min(2*pause, 50*time.Millisecond)
	}
}

// missing skips the test locally, or fails it when IPAMWATCH_REQUIRE_TOOLS=1.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if Required() {
		t.Fatalf("%s (IPAMWATCH_REQUIRE_TOOLS=1): run scripts/install-tools.sh", msg)
	}
	t.Skipf("%s; run scripts/install-tools.sh", msg)
}

// LookupBin is Lookup that also looks in $(go env GOPATH)/bin, where scripts/install-tools.sh
// puts what it builds, so that `go test` finds those programs without that directory on PATH.
func LookupBin(t testing.TB, name string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range filepath.SplitList(build.Default.GOPATH) {
		p := filepath.Join(dir, "bin", name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	missing(t, "%s not found on PATH nor in GOPATH/bin", name)
	return ""
}

// AWSCLIPath is where Debian's awscli v2 installs aws. Tests call it by this path, never
// through PATH, where some machines have a pip-installed awscli v1 first.
const AWSCLIPath = "/usr/bin/aws"

// AWSCLI returns the path of Debian's awscli v2 and an environment to run it in against a local
// fake: dummy static credentials, region us-east-1, no config or credentials file of the user,
// no IMDS lookups, no pager. Pass `--endpoint-url http://127.0.0.1:PORT` on the command line.
// Append to the environment to override a value (the last one wins, as in os/exec).
func AWSCLI(t testing.TB) (path string, env []string) {
	t.Helper()
	fi, err := os.Stat(AWSCLIPath)
	if err != nil || fi.Mode()&0o111 == 0 {
		missing(t, "%s (Debian's awscli v2) not installed", AWSCLIPath)
	}
	dir := t.TempDir()
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") {
			continue // the user's profile, keys or endpoint must not reach the fake
		}
		env = append(env, kv)
	}
	env = append(env,
		"AWS_ACCESS_KEY_ID=AKIDIPAMWATCHTEST", // dummies: the fake does not check signatures
		"AWS_SECRET_ACCESS_KEY=ipamwatch-test-not-a-secret",
		"AWS_REGION=us-east-1",
		"AWS_DEFAULT_REGION=us-east-1",
		"AWS_CONFIG_FILE="+filepath.Join(dir, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_CLI_AUTO_PROMPT=off",
	)
	return AWSCLIPath, env
}

// getClient opens a connection per request, so that a test's servers see no idle
// keep-alive connections from it.
var getClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

// Get fetches url within timeout and returns the status and up to 64 MiB of the body.
func Get(url string, timeout time.Duration) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := getClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	return resp.StatusCode, string(b), err
}

// CloseIdleConnections closes what Get keeps open (nothing, unless a request is in flight).
func CloseIdleConnections() { getClient.CloseIdleConnections() }
