package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// buildIpamwatch compiles cmd/ipamwatch into dir once and returns the binary's path.
func buildIpamwatch(t *testing.T, dir string) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to build ipamwatch: %v", err)
	}
	bin := filepath.Join(dir, "ipamwatch")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "github.com/ipamwatch/ipamwatch/cmd/ipamwatch")
	cmd.Dir = ".." // the module root; go test runs in the package directory
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/ipamwatch: %v\n%s", err, out)
	}
	t.Logf("built ipamwatch in %s", time.Since(start).Round(100*time.Millisecond))
	return bin
}

// process is a child program in its own process group, so that stopping it also stops
// anything it started. Its output goes to a file in the test's temp dir, quoted on failure.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	err     error // valid after done is closed

	stopOnce sync.Once
}

// startProcess starts path with args and registers its stop in t.Cleanup.
func startProcess(t *testing.T, name, logDir string, env []string, path string, args ...string) *process {
	t.Helper()
	logPath := filepath.Join(logDir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("creating log of %s: %v", name, err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s (%s): %v", name, path, err)
	}
	p := &process{name: name, cmd: cmd, logPath: logPath, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		if err := p.stop(); err != nil {
			t.Logf("stopping %s: %v", name, err)
		}
		if t.Failed() {
			t.Logf("--- last output of %s ---\n%s", name, p.tail(3000))
		}
	})
	return p
}

// exited reports whether the process has ended, and how.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, p.err
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL if it has not ended within 10 s.
func (p *process) stop() error {
	var err error
	p.stopOnce.Do(func() {
		if ok, _ := p.exited(); ok {
			return
		}
		pgid := p.cmd.Process.Pid
		if e := syscall.Kill(-pgid, syscall.SIGTERM); e != nil && !errors.Is(e, syscall.ESRCH) {
			err = fmt.Errorf("SIGTERM to process group %d: %w", pgid, e)
		}
		select {
		case <-p.done:
			return
		case <-time.After(10 * time.Second):
		}
		if e := syscall.Kill(-pgid, syscall.SIGKILL); e != nil && !errors.Is(e, syscall.ESRCH) {
			err = errors.Join(err, fmt.Errorf("SIGKILL to process group %d: %w", pgid, e))
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Second):
			err = errors.Join(err, fmt.Errorf("process %d did not end after SIGKILL", pgid))
		}
	})
	return err
}

// tail returns the last n bytes of the process' output.
func (p *process) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return fmt.Sprintf("(reading %s: %v)", p.logPath, err)
	}
	if len(b) > n {
		b = b[len(b)-n:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// waitHTTP polls url until it answers 200, the process exits, or the deadline passes.
func waitHTTP(ctx context.Context, p *process, url string) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	var last error // set by every attempt before it is read
	for {
		if ok, err := p.exited(); ok {
			if err == nil {
				err = errors.New("exit status 0")
			}
			return fmt.Errorf("%s exited before %s answered (%w):\n%s", p.name, url, err, p.tail(2000))
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %s not ready: %w (last: %w)", p.name, url, ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// cleanEnv is the environment of this test without variables that would point a child at a
// real AWS account or change its behaviour, plus extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "KUBERNETES_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}
