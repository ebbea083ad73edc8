package commandtest

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestAWSFork checks that an aws command run through the fork server behaves as /usr/bin/aws:
// its output goes to the caller's stdout and stderr, its exit status comes back (252 for an
// unknown option, as awscli exits), and each command sees its own environment even when
// several run at once.
func TestAWSFork(t *testing.T) {
	t.Parallel()
	// None of these commands calls AWS; awsFunc still names an endpoint.
	env := append(awsEnv(t), "COMMANDTEST_AWS_ENDPOINT=http://127.0.0.1:1")
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	run := func(script string, extra ...string) (string, string, int) {
		out, errs, err := bash(ctx, awsFunc+script, append(slices.Clone(env), extra...))
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return out, errs, code
	}
	if out, errs, code := run("aws --version"); code != 0 || !strings.HasPrefix(out, "aws-cli/2.") {
		t.Errorf("aws --version: exit %d, stdout %q, stderr %q", code, out, errs)
	}
	if out, errs, code := run("aws ec2 describe-subnets --no-such-option"); code != 252 || !strings.Contains(errs, "Unknown options: --no-such-option") || out != "" {
		t.Errorf("unknown option: exit %d (want 252), stdout %q, stderr %q", code, out, errs)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			region := fmt.Sprintf("eu-test-%d", i)
			out, errs, code := run("aws configure list", "AWS_REGION="+region)
			if code != 0 || !strings.Contains(out, region) {
				t.Errorf("aws configure list with AWS_REGION=%s: exit %d, stdout %q, stderr %q", region, code, out, errs)
			}
		}()
	}
	wg.Wait()
}
