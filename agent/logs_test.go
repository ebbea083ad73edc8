package agent_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// Lines in the shape of ipamd's (the classifier corpus has the same messages).
const (
	routineLine   = `{"level":"info","ts":"2026-11-26T02:14:07.100Z","caller":"rpc/rpc.pb.go:863","msg":"Received AddNetwork for NS /var/run/netns/cni-1, Sandbox 7c2f9a1b, ifname eth0"}`
	exhaustedLine = `{"level":"error","ts":"2026-11-26T02:14:07.123Z","caller":"ipamd/ipamd.go:680","msg":"Unable to attach IPs/Prefixes for the ENI, subnet doesn't seem to have enough IPs/Prefixes. Consider using new subnet or carve a reserved range using create-subnet-cidr-reservation"}`
	poolEmptyLine = `{"level":"error","ts":"2026-11-26T02:14:07.200Z","caller":"datastore/data_store.go:607","msg":"DataStore has no available IP/Prefix addresses"}`
)

// logsOnlyConfig is an agent that reads ipamd.log and nothing else.
func logsOnlyConfig(t *testing.T, path string, backfill int64, now func() time.Time) agent.Config {
	return agent.Config{
		ListenAddresses: []string{fmt.Sprintf("127.0.0.1:%d", testtools.FreePort(t))},
		IPAMDLog:        path,
		LogBackfill:     backfill,
		Kubernetes:      "off",
		DisableIMDS:     true,
		DiagnoseEvery:   50 * time.Millisecond,
		Now:             now,
	}
}

// The one-shot mode (diagnose) reads a log's tail as the agent does at start: a backfill
// that starts on a line start keeps that line, a line over the length limit is cut and
// classified, and a last line without its newline is not read yet.
func TestOnceReadsLogsAsRunStarts(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ipamd.log")
	head := strings.Repeat(routineLine+"\n", 3)
	tail := exhaustedLine + "\n" +
		`{"level":"info","msg":"` + strings.Repeat("x", 70<<10) + `"}` + "\n" + // over 64 KiB
		exhaustedLine + "\n" +
		poolEmptyLine // still being written
	if err := os.WriteFile(path, []byte(head+tail), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 26, 2, 15, 0, 0, time.UTC)}
	cfg := logsOnlyConfig(t, path, int64(len(tail)), clock.Now)

	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	a.RunOnce(context.Background())
	_, once := a.Report()

	live, err := agent.New(logsOnlyConfig(t, path, cfg.LogBackfill, clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, live)
	var run nodestate.State
	testtools.WaitFor(t, waitLimit, "the agent to read the tail", func() bool {
		_, run = live.Report()
		return run.Logs != nil && len(run.Logs.Files) == 1 && run.Logs.Files[0].Bytes == uint64(len(tail))
	})

	totals := func(s nodestate.State) map[string]uint64 {
		out := map[string]uint64{}
		for name, c := range s.Logs.Classes {
			out[name] = c.Total
		}
		return out
	}
	if diff := cmp.Diff(map[string]uint64{"subnet_exhausted": 2}, totals(once)); diff != "" {
		t.Errorf("one-shot class totals (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(totals(run), totals(once)); diff != "" {
		t.Errorf("class totals (-run +once):\n%s", diff)
	}
	want := []nodestate.LogFile{{Path: path, Readable: true, Lines: 3, Bytes: uint64(len(tail))}}
	if diff := cmp.Diff(want, once.Logs.Files); diff != "" {
		t.Errorf("one-shot file state (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(run.Logs.Files, once.Logs.Files); diff != "" {
		t.Errorf("file state (-run +once):\n%s", diff)
	}
	if s, ok := once.Sources[nodestate.SourceLogs]; ok && !s.Up {
		t.Errorf("logs source = %+v, want not failed", s)
	}
}

// ipamwatch_log_file_readable drops to 0 when the log and its directory vanish, and comes
// back when they reappear.
func TestLogReadableFollowsTheFile(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "aws-routed-eni")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ipamd.log")
	if err := os.WriteFile(path, []byte(routineLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 11, 26, 2, 15, 0, 0, time.UTC)}
	cfg := logsOnlyConfig(t, path, 0, clock.Now)
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	runAgent(t, a)
	base := "http://" + cfg.ListenAddresses[0]
	readable := func(want float64) func() bool {
		return func() bool {
			_, body := get(t, base+"/metrics")
			v, ok := metricValue(body, `ipamwatch_log_file_readable{log="ipamd"}`)
			return ok && v == want
		}
	}
	testtools.WaitFor(t, waitLimit, "the log readable", readable(1))
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	gone := readable(0)
	testtools.WaitFor(t, waitLimit, "the log unreadable", func() bool {
		clock.Add(time.Second) // the tailer tolerates a missing name for a few seconds
		return gone()
	})
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(routineLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	testtools.WaitFor(t, waitLimit, "the log readable again", readable(1))
}
