package adversarial_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// bin is the ipamwatch binary built for this run, as `make build` builds it (the CLI); agentBin
// is the DaemonSet's build (`make build-agent`, -tags agentonly), which the agent attacks run.
var bin, agentBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "ipamwatch-adversarial-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, agentBin = filepath.Join(dir, "ipamwatch"), filepath.Join(dir, "ipamwatch-agent")
	for _, b := range []struct{ out, tags string }{{bin, ""}, {agentBin, "agentonly"}} {
		// The shipped builds: static and trimmed, as the Makefile makes them.
		cmd := exec.Command("go", "build", "-trimpath", "-tags", b.tags, "-o", b.out, "github.com/ipamwatch/ipamwatch/cmd/ipamwatch")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "go build %s: %v\n%s", b.tags, err, out)
			return 1
		}
	}
	return m.Run()
}

// cliRun is the outcome of one CLI run.
type cliRun struct {
	code           int
	stdout, stderr string
	maxRSS         int64         // bytes, from the kernel's rusage
	cpu            time.Duration // user + system
}

// runCLI runs the binary with args and measures it. The context bound only stops a run that
// went wrong; the assertions are on the measurements, never on how long the run took.
func runCLI(t *testing.T, args ...string) cliRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := cliRun{stdout: out.String(), stderr: errb.String()}
	if cmd.ProcessState == nil {
		t.Fatalf("%v: %v", args, err)
	}
	r.code = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.maxRSS = ru.Maxrss << 10 // KiB on Linux
		r.cpu = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return r
}

// agentProc is one running `ipamwatch run`.
type agentProc struct {
	base   string
	cmd    *exec.Cmd
	stderr string // path of its log
}

// startAgent runs the agent on a free loopback port with only the sources args enable, and
// waits for /healthz. It is stopped (SIGTERM, then SIGKILL) in t.Cleanup.
func startAgent(t *testing.T, args ...string) *agentProc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	base := []string{
		"run", "--web.listen-address", addr, "--kubernetes", "off", "--log.ipamd", "", "--log.plugin", "",
		"--ipamd.address", "", "--cni.metrics-url", "",
		"--interval.ipamd", "1s", "--interval.cni", "1s", "--interval.imds", "1s", "--log.level", "warn",
	}
	// A flag given again in args replaces the default above: the command line takes each
	// flag once.
	for i := 0; i+1 < len(base); {
		if strings.HasPrefix(base[i], "--") && slices.Contains(args, base[i]) {
			base = append(base[:i], base[i+2:]...)
			continue
		}
		i++
	}
	if !slices.Contains(args, "--imds.endpoint") {
		base = append(base, "--imds.disable")
	}
	logPath := filepath.Join(t.TempDir(), "agent.log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(agentBin, append(base, args...)...)
	cmd.Stderr = f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done); _ = f.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
			t.Errorf("agent did not stop within 30 s of SIGTERM")
		}
	})
	a := &agentProc{base: "http://" + addr, cmd: cmd, stderr: logPath}
	testtools.WaitFor(t, waitLimit, "the agent serving /healthz", func() bool {
		code, _, err := get(a.base+"/healthz", 2*time.Second)
		return err == nil && code == http.StatusOK
	})
	return a
}

// peakRSS is the agent's peak resident set so far (VmHWM).
func (a *agentProc) peakRSS(t *testing.T) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", a.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	m := regexp.MustCompile(`(?m)^VmHWM:\s+(\d+) kB$`).FindSubmatch(b)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/%d/status", a.cmd.Process.Pid)
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// log returns what the agent logged so far.
func (a *agentProc) log(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(a.stderr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// scrape reads /metrics and fails the test unless it answers 200.
func (a *agentProc) scrape(t *testing.T) string {
	t.Helper()
	code, body, err := get(a.base+"/metrics", 20*time.Second)
	if err != nil || code != http.StatusOK {
		t.Fatalf("scrape: %d %v: %.300s", code, err, body)
	}
	return body
}

// waitFor polls cond until it holds or a generous bound passes; only the outcome is asserted.
// exitCritical is diagnose's exit status when it ran and found a critical finding.
const exitCritical = 3

// ran reports a diagnose that completed: with (3) or without (0) a critical finding.
func ran(code int) bool { return code == 0 || code == exitCritical }

// waitLimit bounds each wait of the ipamwatch binary against hostile upstreams.
const waitLimit = 3 * time.Minute

// get is testtools.Get (one connection per request, the body up to 64 MiB).
var get = testtools.Get

// sample returns the value of the exact series `name{labels}` in a text exposition.
func sample(body, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			v, err := strconv.ParseFloat(rest, 64)
			return v, err == nil
		}
	}
	return 0, false
}

// rawControl returns the first byte of s a terminal would act on (C0 but newline, DEL, or a
// C1 control in UTF-8), and whether there is one.
func rawControl(s string) (string, bool) {
	for i, r := range s {
		if (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r <= 0x9f) {
			return fmt.Sprintf("%U at byte %d", r, i), true
		}
	}
	return "", false
}

const mib = 1 << 20
