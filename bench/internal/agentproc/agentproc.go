// Package agentproc runs the real ipamwatch binary as a child process for the benchmarks
// (so that what is measured is the shipped program, not an in-process copy) and reads its
// /metrics. Only the benchmark programs under bench/ use it.
package agentproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Agent is one running `ipamwatch run`.
type Agent struct {
	Base   string // http://127.0.0.1:PORT
	cmd    *exec.Cmd
	stderr *os.File
	done   chan error
	// exitErr is how the process ended after Stop (a signal exit after SIGTERM is expected).
	exitErr error
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Start runs `bin run --web.listen-address 127.0.0.1:PORT args...` with its stderr in a
// temporary file (shown when it fails), and waits up to readyWithin for /readyz.
func Start(bin string, args []string, readyWithin time.Duration) (*Agent, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	errf, err := os.CreateTemp("", "ipamwatch-bench-agent-*.log")
	if err != nil {
		return nil, err
	}
	all := append([]string{"run", "--web.listen-address", fmt.Sprintf("127.0.0.1:%d", port), "--log.level", "warn"}, args...)
	cmd := exec.Command(bin, all...)
	cmd.Stderr = errf
	if err := cmd.Start(); err != nil {
		errf.Close()
		os.Remove(errf.Name())
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	a := &Agent{Base: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, stderr: errf, done: make(chan error, 1)}
	go func() { a.done <- cmd.Wait() }()
	deadline := time.Now().Add(readyWithin)
	for {
		select {
		case err := <-a.done:
			a.done <- err
			return nil, fmt.Errorf("agent exited before ready: %w: %s", err, a.StderrTail())
		default:
		}
		if code, _, err := Get(a.Base+"/readyz", 2*time.Second); err == nil && code == http.StatusOK {
			return a, nil
		}
		if time.Now().After(deadline) {
			tail := a.StderrTail()
			a.Stop()
			return nil, fmt.Errorf("agent not ready within %s: %s", readyWithin, tail)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// PID is the agent's process id.
func (a *Agent) PID() int { return a.cmd.Process.Pid }

// StderrTail returns the last 2 KiB the agent wrote to stderr.
func (a *Agent) StderrTail() string {
	b, _ := os.ReadFile(a.stderr.Name())
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return strings.TrimSpace(string(b))
}

// Stop sends SIGTERM, waits up to 10 s (then kills), and removes the stderr file.
func (a *Agent) Stop() {
	_ = a.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case a.exitErr = <-a.done:
	case <-time.After(10 * time.Second):
		_ = a.cmd.Process.Kill()
		a.exitErr = <-a.done
	}
	a.stderr.Close()
	os.Remove(a.stderr.Name())
}

// Get fetches url with a timeout and returns the status and body.
func Get(url string, timeout time.Duration) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// Sample returns the value of the series written exactly as `name{labels}` (or `name` when
// labels is empty) in a text exposition.
func Sample(body []byte, series string) (float64, bool) {
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, series+" ") {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(line[len(series)+1:]), 64)
		return v, err == nil
	}
	return 0, false
}

// SeriesCount counts the sample lines of an exposition (lines that are not comments).
func SeriesCount(body []byte) int {
	n := 0
	for _, l := range strings.Split(string(body), "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			n++
		}
	}
	return n
}

// Quantiles summarises durations.
type Quantiles struct {
	N             int
	P50, P99, Max time.Duration
}

// Summarize sorts d in place and returns its nearest-rank p50, p99 and max.
func Summarize(d []time.Duration) (Quantiles, error) {
	if len(d) == 0 {
		return Quantiles{}, errors.New("no samples")
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	rank := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.999999) - 1
		if i < 0 {
			i = 0
		}
		return d[i]
	}
	return Quantiles{N: len(d), P50: rank(0.50), P99: rank(0.99), Max: d[len(d)-1]}, nil
}

// Ms renders a duration in milliseconds with two decimals.
func Ms(d time.Duration) string { return strconv.FormatFloat(float64(d)/1e6, 'f', 2, 64) }

// CPUTicks is utime+stime of process pid from /proc/PID/stat, in USER_HZ ticks (1/100 s).
func CPUTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may hold spaces: count fields after it.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command field", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// After the name: state(3) ... utime(14) stime(15), so indexes 11 and 12 here.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return u + s, nil
}
