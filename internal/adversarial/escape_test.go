package adversarial_test

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// escapes are terminal control sequences: retitle the window, clear the screen, a C1 CSI,
// a bidirectional override, and a newline that would forge a line of the report.
const escapes = "\x1b]0;owned\x07\x1b[2J\u009b31m\u202e\nFINDINGS none"

// noRawControl fails the test when out holds a byte a terminal would act on.
func noRawControl(t *testing.T, what, out string) {
	t.Helper()
	if where, bad := rawControl(out); bad {
		t.Errorf("%s holds a raw control character (%s):\n%q", what, where, out)
	}
	if strings.Contains(out, "\u202e") || strings.Contains(out, "\nFINDINGS none") {
		t.Errorf("%s holds a raw bidirectional override or a forged line:\n%q", what, out)
	}
}

// hostileLog is ipamd.log with escapes in failure lines (a JSON line broken by raw bytes is
// still classified, as text).
func hostileLog(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ipamd.log")
	line := `{"level":"error","ts":"2026-11-26T02:13:00.000Z","caller":"ipamd/ipamd.go:801","msg":"Failed to increase pool size: api error InsufficientFreeAddressesInSubnet: ` + escapes + `"}` + "\n"
	if err := os.WriteFile(p, []byte(strings.Repeat(line, 3)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// `diagnose --bundle` and `classify` print log text, member names and file contents escaped.
func TestEscapesInCLIOutput(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b := filepath.Join(dir, "bundle")
	logDir := filepath.Join(b, "var_log", "aws-routed-eni")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		t.Fatal(err)
	}
	hostileLog(t, logDir)
	if err := os.MkdirAll(filepath.Join(b, "ipamd"), 0o755); err != nil {
		t.Fatal(err)
	}
	// ipamd was down: curl's error text is quoted into the report.
	if err := os.WriteFile(filepath.Join(b, "ipamd", "enis.json"), []byte("curl: (7) Failed to connect "+escapes), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, "diagnose", "--bundle", b)
	if r.code != exitCritical || !strings.Contains(r.stdout, "subnet_exhausted") {
		t.Fatalf("exit %d, no finding:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	noRawControl(t, "diagnose stdout", r.stdout)
	noRawControl(t, "diagnose stderr", r.stderr)
	if !strings.Contains(r.stdout, `\x1b]0;owned\x07`) {
		t.Errorf("the escaped form is not shown:\n%s", r.stdout)
	}

	// Member names with escapes, in an archive: refused, and named escaped.
	parts := [][]byte{gz(t, member(t, "./../"+escapes, []byte("x"))), gz(t, append(member(t, "./ipamd/enis.json", []byte(enisJSON)), trailer...))}
	p, _ := archive(t, "names.tar.gz", parts...)
	r = runCLI(t, "diagnose", "--bundle", p)
	if !ran(r.code) || !strings.Contains(r.stderr, "path traversal refused") {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	noRawControl(t, "diagnose stderr (member names)", r.stderr)

	r = runCLI(t, "classify", hostileLog(t, dir))
	if r.code != 0 || !strings.Contains(r.stdout, "subnet_exhausted") {
		t.Fatalf("classify: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	noRawControl(t, "classify stdout", r.stdout)
}

// The agent's /diagnosis?format=text and /metrics show what ipamd and the logs said escaped.
func TestEscapesInAgentOutput(t *testing.T) {
	t.Parallel()
	quoted, err := json.Marshal(escapes) // a JSON string holding the raw sequences
	if err != nil {
		t.Fatal(err)
	}
	srv := newUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/enis":
			_, _ = w.Write([]byte(enisJSON))
		case "/v1/eni-configs":
			_, _ = w.Write(quoted)
		case "/v1/ipamd-env-settings":
			_, _ = w.Write([]byte(`{"WARM_IP_TARGET":` + string(quoted) + `}`))
		default:
			_, _ = w.Write([]byte(`{}`))
		}
	})
	a := startAgent(t, "--ipamd.address", srv.URL, "--log.ipamd", hostileLog(t, t.TempDir()))
	var text string
	testtools.WaitFor(t, waitLimit, "the hostile log line in /diagnosis", func() bool {
		_, text, _ = get(a.base+"/diagnosis?format=text", 20*time.Second)
		return strings.Contains(text, "subnet_exhausted") && strings.Contains(text, "ENIConfig")
	})
	noRawControl(t, "/diagnosis?format=text", text)
	if !strings.Contains(text, `\x1b]0;owned\x07`) {
		t.Errorf("the escaped form is not shown:\n%s", text)
	}
	noRawControl(t, "/metrics", a.scrape(t))
}
