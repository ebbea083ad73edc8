package commandtest

import (
	"fmt"
	"os"
	"testing"
)

// tools holds what TestMain prepares once for every test of the package.
var tools struct {
	// awsHome is the HOME the awscli runs with: its ~/.aws/models holds the newer EKS model.
	awsHome string
}

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "commandtest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	tools.awsHome = dir
	code := m.Run()
	stopAWSFork()
	os.RemoveAll(dir)
	os.Exit(code)
}
