package commandtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// awsCLIPath is Debian's awscli v2, called by path: some machines have a pip awscli v1
// earlier on PATH.
const awsCLIPath = "/usr/bin/aws"

// eksModelFile is where scripts/install-tools.sh leaves the EKS model of the aws-sdk npm
// package: $XDG_CACHE_HOME (or ~/.cache)/ipamwatch/aws-sdk-js-VERSION/eks-2017-11-01.min.json.
func eksModelFile() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "ipamwatch", "aws-sdk-js-"+awsSDKJSVersion, "eks-2017-11-01.min.json")
}

var awsSetup struct {
	once sync.Once
	err  error
	// fork is the awscli fork server (testdata/awsfork/server.py); socket is where it listens.
	fork   *exec.Cmd
	socket string
}

// awsEnv returns the environment the awscli runs in: dummy credentials, no profile, config
// or metadata lookups of the machine, no pager, and a HOME whose ~/.aws/models holds the EKS
// model with Pod Identity (added once with `aws configure add-model`). A missing awscli or
// model skips the test locally and fails it in CI.
func awsEnv(t testing.TB) []string {
	t.Helper()
	if fi, err := os.Stat(awsCLIPath); err != nil || fi.Mode()&0o111 == 0 {
		missing(t, "%s (Debian's awscli v2) not installed", awsCLIPath)
	}
	model := eksModelFile()
	if _, err := os.Stat(model); err != nil {
		missing(t, "the EKS model of aws-sdk %s is not in %s", awsSDKJSVersion, model)
	}
	env := cleanEnv()
	awsSetup.once.Do(func() {
		min, err := os.ReadFile(model)
		if err != nil {
			awsSetup.err = err
			return
		}
		b, err := botocoreModel(min)
		if err != nil {
			awsSetup.err = err
			return
		}
		f := filepath.Join(tools.awsHome, "eks-2017-11-01.json")
		if awsSetup.err = os.WriteFile(f, b, 0o644); awsSetup.err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, awsCLIPath, "configure", "add-model", "--service-name", "eks", "--service-model", "file://"+f)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			awsSetup.err = errors.New("aws configure add-model: " + err.Error() + ": " + string(out))
			return
		}
		awsSetup.err = startAWSFork(env)
	})
	if awsSetup.err != nil {
		t.Fatalf("setting up the awscli: %v", awsSetup.err)
	}
	// Clipped: callers append their own variables, some from parallel subtests.
	return slices.Clip(append(env, "COMMANDTEST_AWS_SOCKET="+awsSetup.socket,
		"COMMANDTEST_AWS_CLIENT="+filepath.Join(repoRoot(t), "internal", "commandtest", "testdata", "awsfork", "client.py")))
}

// startAWSFork starts the awscli fork server (testdata/awsfork/server.py) with the Python
// that /usr/bin/aws names on its #! line, and waits until it listens. stopAWSFork ends it.
func startAWSFork(env []string) error {
	b, err := os.ReadFile(awsCLIPath)
	if err != nil {
		return err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	python, ok := strings.CutPrefix(line, "#!")
	if !ok || strings.ContainsAny(strings.TrimSpace(python), " \t") {
		return fmt.Errorf("%s does not start with #!/path/to/python: %q", awsCLIPath, line)
	}
	_, file, _, _ := runtime.Caller(0)
	server := filepath.Join(filepath.Dir(file), "testdata", "awsfork", "server.py")
	awsSetup.socket = filepath.Join(tools.awsHome, "awscli.sock")
	cmd := exec.Command(strings.TrimSpace(python), server, awsSetup.socket)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	// Ends with the test binary even if it dies before TestMain stops it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting the awscli fork server: %w", err)
	}
	awsSetup.fork = cmd
	exited := make(chan error, 1) // buffered: nobody reads it once the server listens
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
		select {
		case err := <-exited:
			return fmt.Errorf("the awscli fork server exited: %w: %s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		if _, err := os.Stat(awsSetup.socket); err == nil {
			return nil
		}
	}
	_ = cmd.Process.Kill()
	err = <-exited // stderr is complete once Wait returned
	return fmt.Errorf("the awscli fork server did not listen on %s within a minute (%w): %s", awsSetup.socket, err, stderr.String())
}

// stopAWSFork stops the fork server, if one started.
func stopAWSFork() {
	if awsSetup.fork != nil && awsSetup.fork.Process != nil {
		_ = awsSetup.fork.Process.Kill()
	}
}

// cleanEnv is the process environment without the user's AWS settings, plus the test's.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "HOME=") || strings.HasPrefix(kv, "KUBECONFIG=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+tools.awsHome,
		"AWS_ACCESS_KEY_ID=AKIDCOMMANDTEST", // dummies: the fake does not check signatures
		"AWS_SECRET_ACCESS_KEY=commandtest-not-a-secret",
		"AWS_REGION=us-east-1", // every command names its own --region; this is only a default
		"AWS_CONFIG_FILE="+filepath.Join(tools.awsHome, "config"),
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(tools.awsHome, "credentials"),
		"AWS_EC2_METADATA_DISABLED=true",
		"AWS_PAGER=",
		"AWS_CLI_AUTO_PROMPT=off",
	)
}

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if testtools.Required() {
		t.Fatalf(format+" (IPAMWATCH_REQUIRE_TOOLS=1): run scripts/install-tools.sh", args...)
	}
	t.Skipf(format+"; run scripts/install-tools.sh", args...)
}

// awsFunc is the shell function that sends every aws command of a script to the fake. It runs
// Debian's awscli (/usr/bin/aws's awscli.clidriver.main) in a child of the fork server, which
// has imported it once, instead of starting Python anew for each command.
const awsFunc = `aws() { /usr/bin/python3 -S "$COMMANDTEST_AWS_CLIENT" --endpoint-url "$COMMANDTEST_AWS_ENDPOINT" "$@"; }` + "\n"

// bash runs a script with bash and returns what it printed.
func bash(ctx context.Context, script string, env []string) (stdout, stderr string, err error) {
	cmd := exec.CommandContext(ctx, "bash", "-c", script)
	cmd.Env = env
	cmd.Stdin = strings.NewReader("")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	return out.String(), errb.String(), err
}
