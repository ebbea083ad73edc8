package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ipamwatch/ipamwatch/diagnosis"
)

// realThreads reads logparse/testdata/real.txt: real log lines posted in public threads, each
// after a "# source: URL" line and an "expect" line. It groups the lines by their source.
func realThreads(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../../logparse/testdata/real.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]string{}
	source := ""
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	expect := false
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "# source: "):
			source = strings.TrimPrefix(l, "# source: ")
		case strings.HasPrefix(l, "#") || strings.HasPrefix(l, "== ") || strings.TrimSpace(l) == "":
		case strings.HasPrefix(l, "expect "):
			expect = true
		case expect:
			out[source] = append(out[source], l)
			expect = false
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDiagnoseRealThreads feeds the log lines of each public thread whose cause the thread
// settled, as the only file of a bundle (what a user pastes), and checks the diagnosis names
// that cause, marked "logs only", and that the look-alike noise gives no finding.
func TestDiagnoseRealThreads(t *testing.T) {
	t.Parallel()
	threads := realThreads(t)
	const cni = "https://github.com/aws/amazon-vpc-cni-k8s/"
	for _, tc := range []struct {
		source string
		want   string // "" = no warning or critical finding
	}{
		{cni + "issues/36", "eni_limit"},
		{cni + "issues/547", "eni_limit"},
		{cni + "issues/2309", "eni_limit"},
		{cni + "pull/1773", "subnet_exhausted"},
		{cni + "issues/40", "subnet_exhausted"},
		{cni + "issues/3105", "subnet_exhausted"},
		{cni + "pull/1585", "prefix_fragmented"},
		{cni + "pull/782", "unauthorized"},
		{cni + "issues/2839", "unauthorized"},
		{cni + "pull/1536", "unauthorized"},
		{"https://github.com/eksctl-io/eksctl/issues/8768", "unauthorized"},
		{cni + "issues/104", "aws_node_rbac_denied"},
		{"https://github.com/pulumi/pulumi-aws/issues/3589", "aws_node_rbac_denied"},
		{cni + "issues/2669", "imds_failure"},
		{cni + "pull/1011", "imds_failure"},
		{cni + "issues/123", "ec2_throttled"},
		{cni + "issues/871", "ip_pool_empty"},
		{cni + "issues/575", "aws_node_not_ready"},
		{cni + "issues/1008", "aws_node_not_ready"},
		{cni + "issues/1847", "aws_node_not_ready"},
		{cni + "issues/2423", "aws_node_not_ready"},
		{cni + "issues/1590", "aws_node_not_ready"},
		{cni + "issues/611", "custom_networking_misconfigured"},
		{cni + "issues/2683", "custom_networking_misconfigured"},
		{cni + "issues/533", "cni_unknown_instance_type"},
		{cni + "pull/98", "cni_unknown_instance_type"},
		{"https://github.com/aws/amazon-vpc-resource-controller-k8s/pull/218", "branch_eni_exhausted"},
		// Routine output and the look-alike noise: 0 false alarms.
		{cni + "issues/2749", ""},
		{cni + "issues/2203", ""},
		{cni + "issues/2045", ""},
		{cni + "issues/2073", ""},
		{cni + "issues/989", ""},
		{cni + "issues/3534", ""},
	} {
		lines, ok := threads[tc.source]
		if !ok {
			t.Errorf("no lines from %s in real.txt", tc.source)
			continue
		}
		t.Run(strings.TrimPrefix(tc.source, "https://"), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			logDir := filepath.Join(dir, "var_log", "aws-routed-eni")
			if err := os.MkdirAll(logDir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(logDir, "ipamd.log"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			code, out, stderr := runCLI(t, "diagnose", "--bundle", dir, "--format", "json")
			if code != 0 && code != 3 {
				t.Fatalf("exit %d: %s", code, stderr)
			}
			var rep diagnosis.Report
			if err := json.Unmarshal([]byte(out), &rep); err != nil {
				t.Fatalf("json: %v\n%s", err, out)
			}
			var got []string
			for _, f := range rep.Findings {
				if f.Severity != diagnosis.SeverityInfo {
					got = append(got, string(f.Cause))
				}
				if f.Cause == diagnosis.Cause(tc.want) && f.Basis != diagnosis.BasisLogsOnly {
					t.Errorf("%s from logs alone has basis %q, want %q", f.Cause, f.Basis, diagnosis.BasisLogsOnly)
				}
			}
			if tc.want == "" && len(got) > 0 || tc.want != "" && !slices.Contains(got, tc.want) {
				t.Errorf("findings %v, want %q", got, tc.want)
			}
			if len(rep.Missing) == 0 {
				t.Errorf("a logs-only input must list the missing sources")
			}
		})
	}
}

// TestDiagnoseLogFlag: a pasted excerpt on stdin and a plugin.log given with --log, plain or
// gzip, diagnose on their own.
func TestDiagnoseLogFlag(t *testing.T) {
	t.Parallel()
	threads := realThreads(t)
	excerpt := strings.Join(threads["https://github.com/aws/amazon-vpc-cni-k8s/issues/36"], "\n") + "\n"
	var out, errb bytes.Buffer
	code := dispatch(context.Background(), []string{"diagnose", "--log", "-", "--format", "json"}, streams{in: strings.NewReader(excerpt), out: &out, err: &errb})
	if code != 0 && code != 3 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var rep diagnosis.Report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Findings) == 0 || rep.Findings[0].Cause != diagnosis.CauseENILimit {
		t.Errorf("stdin excerpt: findings %+v, want eni_limit", rep.Findings)
	}

	dir := t.TempDir()
	plugin := filepath.Join(dir, "plugin.log.gz")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write([]byte(strings.Join(threads["https://github.com/aws/amazon-vpc-cni-k8s/issues/1590"], "\n") + "\n"))
	_ = zw.Close()
	if err := os.WriteFile(plugin, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, text, stderr := runCLI(t, "diagnose", "--log", plugin)
	if code != 0 && code != 3 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(text, "aws_node_not_ready") || !strings.Contains(text, "PARTIAL EVIDENCE") {
		t.Errorf("plugin.log.gz: report lacks aws_node_not_ready or the partial-evidence line:\n%s", text)
	}
	if code, _, _ := runCLI(t, "diagnose", "--log", plugin, "--bundle", dir); code != 2 {
		t.Errorf("--log with --bundle: exit %d, want 2", code)
	}
}
