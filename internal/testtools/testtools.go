// Package testtools helps tests that drive real external programs (Prometheus, promtool,
// Alertmanager, mtail, the EC2 metadata mock, helm, buildah). Locally a missing program skips
// the test; in CI (IPAMWATCH_REQUIRE_TOOLS=1, set by .ci/run) it fails it, so a missing
// install step can never turn into a silently green run.
package testtools

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

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

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
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
