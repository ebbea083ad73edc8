package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// The tests in this file run the real binary: signals, the linker's version stamp and shell
// completion can only be seen from outside the process.

var (
	binOnce sync.Once
	binDir  string
	binPath string
	binErr  error
)

// stamp is what the binary of these tests is stamped with, as the Makefile and goreleaser do.
var stamp = map[string]string{
	"Version":   "9.8.7-test",
	"Revision":  "0123456789abcdef",
	"Branch":    "test-branch",
	"BuildUser": "tester@ci",
	"BuildDate": "20261203-12:00:00",
}

// buildBinary compiles cmd/ipamwatch once for the package's tests, with this test binary's
// build tags (so the agent-only suite runs the agent-only binary).
func buildBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		binDir, binErr = os.MkdirTemp("", "ipamwatch-bin-")
		if binErr != nil {
			return
		}
		binPath = filepath.Join(binDir, "ipamwatch")
		var ldflags []string
		for k, v := range stamp {
			ldflags = append(ldflags, "-X", "github.com/prometheus/common/version."+k+"="+v)
		}
		args := []string{"build", "-o", binPath, "-ldflags", strings.Join(ldflags, " ")}
		if tags := testBuildTags(); tags != "" {
			args = append(args, "-tags", tags)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

func testBuildTags() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-tags" {
				return s.Value
			}
		}
	}
	return ""
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// started is a running binary whose output is collected.
type started struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	err            error
}

func startBinary(t *testing.T, args ...string) *started {
	t.Helper()
	p := &started{cmd: exec.Command(buildBinary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// exitCode waits for the process; -1 means it was killed by a signal (the signal was not
// handled). The wait is bounded only to keep a broken build from hanging the suite.
func (p *started) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("still running two minutes after the signal; stderr:\n%s", p.stderr.String())
	}
	var ee *exec.ExitError
	switch {
	case p.err == nil:
		return 0
	case errors.As(p.err, &ee):
		return ee.ExitCode()
	}
	t.Fatalf("wait: %v", p.err)
	return 0
}

// until polls cond (every 10 ms, for at most a minute) and reports whether it held.
func until(cond func() bool) bool {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return false
}

// hasOpen reports whether process pid has path open.
func hasOpen(pid int, path string) bool {
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && l == path {
			return true
		}
	}
	return false
}

// inFIFOOpen reports whether a thread of pid sleeps in the kernel's FIFO open.
func inFIFOOpen(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
	for _, w := range tasks {
		if b, _ := os.ReadFile(w); string(b) == "wait_for_partner" || string(b) == "fifo_open" {
			return true
		}
	}
	return false
}

// stuck reports whether main had to give up on the command after the signal (the command
// did not stop by itself: its reads do not follow the context).
func stuck(p *started) bool { return strings.Contains(p.stderr.String(), "did not stop within") }

func mkfifo(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "fifo")
	if err := syscall.Mkfifo(p, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return p
}

// The first SIGINT or SIGTERM stops a one-shot command on endless or silent input: before,
// Ctrl-C did nothing and only SIGKILL ended `classify /dev/zero`. Exit 1: interrupted.
func TestBinaryStopsOnSignal(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/proc/self/fd"); err != nil {
		t.Skip("needs /proc")
	}
	t.Run("classify /dev/zero, SIGINT", func(t *testing.T) {
		t.Parallel()
		p := startBinary(t, "classify", "/dev/zero")
		if !until(func() bool { return hasOpen(p.cmd.Process.Pid, "/dev/zero") }) {
			t.Fatal("classify never opened /dev/zero")
		}
		if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
			t.Fatal(err)
		}
		if code := p.exitCode(t); code != 1 || !strings.Contains(p.stderr.String(), "context canceled") || stuck(p) {
			t.Errorf("exit %d, stderr %q; want 1 and the cancellation, from the command itself", code, p.stderr.String())
		}
	})
	fifoCase := func(name string, sig os.Signal, args func(fifo string) []string) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fifo := mkfifo(t)
			p := startBinary(t, args(fifo)...)
			if !until(func() bool { return inFIFOOpen(p.cmd.Process.Pid) }) {
				// Kernels that hide wchan: give the process time to reach the open.
				time.Sleep(2 * time.Second)
			}
			if err := p.cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			if code := p.exitCode(t); code != 1 || stuck(p) {
				t.Errorf("exit %d, stderr %q; want 1, from the command itself", code, p.stderr.String())
			}
			// Release the abandoned open, if the process is somehow still there.
			if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
		})
	}
	fifoCase("classify FIFO without writer, SIGTERM", syscall.SIGTERM, func(f string) []string { return []string{"classify", f} })
	fifoCase("diagnose --log FIFO without writer, SIGINT", os.Interrupt, func(f string) []string { return []string{"diagnose", "--log", f} })
	// A bundle is a directory or a regular file: a FIFO is refused before it is opened.
	t.Run("diagnose --bundle FIFO is refused", func(t *testing.T) {
		t.Parallel()
		p := startBinary(t, "diagnose", "--bundle", mkfifo(t))
		if code := p.exitCode(t); code != 1 || !strings.Contains(p.stderr.String(), "not a directory or a regular file") {
			t.Errorf("exit %d, stderr %q; want 1 and the refusal", code, p.stderr.String())
		}
	})

	t.Run("run, SIGTERM", func(t *testing.T) {
		t.Parallel()
		addr := fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))
		p := startBinary(t, "run", "--web.listen-address="+addr, "--kubernetes=off", "--imds.disable",
			"--ipamd.address=", "--cni.metrics-url=", "--log.ipamd=", "--log.plugin=", "--log.format=logfmt")
		if !until(func() bool {
			resp, err := http.Get("http://" + addr + "/healthz")
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}) {
			t.Fatalf("the agent never served /healthz; stderr:\n%s", p.stderr.String())
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.exitCode(t); code != 0 {
			t.Errorf("exit %d after SIGTERM, want 0 (a graceful stop); stderr:\n%s", code, p.stderr.String())
		}
	})
}

// The linker stamp (-X github.com/prometheus/common/version.*, as the Makefile and
// goreleaser set it) reaches --version, and the build tags are reported.
func TestBinaryVersionStamp(t *testing.T) {
	t.Parallel()
	tags := testBuildTags()
	if tags == "" {
		tags = "unknown" // prometheus/common's word for a build without -tags
	}
	want := fmt.Sprintf(`ipamwatch, version %s (branch: %s, revision: %s)
  build user:       %s
  build date:       %s
  go version:       %s
  platform:         %s
  tags:             %s
`, stamp["Version"], stamp["Branch"], stamp["Revision"], stamp["BuildUser"], stamp["BuildDate"], goVersion(t), goPlatform(), tags)
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(buildBinary(t), args...).Output()
		if err != nil || string(out) != want {
			t.Errorf("%v: %v\n%s\nwant:\n%s", args, err, out, want)
		}
	}
}

func goVersion(t *testing.T) string {
	out, err := exec.Command("go", "version", buildBinary(t)).Output()
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(out)) // "<path>: go1.27.3"
	return f[len(f)-1]
}

func goPlatform() string {
	out, err := exec.Command("go", "env", "GOOS", "GOARCH").Output()
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(out))
	return f[0] + "/" + f[1]
}

// Shell completion through the binary: the words kingpin offers, and bash running the
// script `ipamwatch completion bash` prints.
func TestBinaryCompletion(t *testing.T) {
	t.Parallel()
	bin := buildBinary(t)
	for words, want := range map[string][]string{
		"":            {"run", "diagnose", "classify", "maxpods", "completion"},
		"classify --": {"--format", "--summary", "--max-line-bytes"},
		"run --":      {"--web.telemetry-path", "--interval.ipamd", "--events", "--log.format"},
		"diagnose --": {"--bundle", "--timeout"},
	} {
		out, err := exec.Command(bin, append([]string{"--completion-bash"}, strings.Fields(words)...)...).Output()
		if err != nil {
			t.Fatalf("--completion-bash %s: %v", words, err)
		}
		got := strings.Fields(string(out))
		for _, w := range want {
			if !contains(got, w) {
				t.Errorf("completing %q: %s missing from %v", words, w, got)
			}
		}
		if words == "diagnose --" && contains(got, "--events") {
			t.Errorf("diagnose completes --events, which it does not take")
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash not installed")
	}
	script := `source <("$BIN" completion bash)
COMP_WORDS=("$BIN" classify --for); COMP_CWORD=2
_ipamwatch_bash_autocomplete
printf '%s\n' "${COMPREPLY[@]}"`
	cmd := exec.Command(bash, "-c", script)
	cmd.Env = append(os.Environ(), "BIN="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "--format" {
		t.Errorf("bash completion of 'classify --for': %v %q, want --format", err, out)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}
