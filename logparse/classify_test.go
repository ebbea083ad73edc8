package logparse

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// corpusRecord is one labelled record of testdata/corpus.txt or testdata/real.txt.
type corpusRecord struct {
	stream string
	lineNo int
	line   string   // the log line (the first one when the record spans several)
	lines  []string // every line of the record (lines=N)
	source string   // the "# source: " comment before the record, if any
	want   wantEvent
	has    string // the event's message must contain this (has=TOKEN)
}

// wantEvent is the comparable part of an Event.
type wantEvent struct {
	Class     string
	Level     string
	Code      string
	ENI       string
	Subnet    string
	Malformed bool
	Time      string // RFC 3339 nano, only compared when the expectation names one
}

func loadCorpus(t *testing.T) []corpusRecord {
	t.Helper()
	return loadRecords(t, "testdata/corpus.txt")
}

// loadRecords reads a labelled record file (format in the header of testdata/corpus.txt).
func loadRecords(t *testing.T, path string) []corpusRecord {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var out []corpusRecord
	stream, source := "", ""
	n := 0
	for sc.Scan() {
		n++
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "== stream "):
			stream = strings.TrimPrefix(l, "== stream ")
		case strings.HasPrefix(l, "# source: "):
			source = strings.TrimPrefix(l, "# source: ")
		case l == "" || strings.HasPrefix(l, "#"):
		case strings.HasPrefix(l, "expect "):
			w, nlines, has, err := parseExpect(strings.TrimPrefix(l, "expect "))
			if err != nil {
				t.Fatalf("%s:%d: %v", path, n, err)
			}
			r := corpusRecord{stream: stream, lineNo: n + 1, source: source, want: w, has: has}
			for range nlines {
				if !sc.Scan() {
					t.Fatalf("%s:%d: expect without its %d line(s)", path, n, nlines)
				}
				n++
				r.lines = append(r.lines, sc.Text())
			}
			r.line = r.lines[0]
			out = append(out, r)
			source = ""
		default:
			t.Fatalf("%s:%d: unexpected line outside a record: %q", path, n, l)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func parseExpect(s string) (w wantEvent, lines int, has string, err error) {
	f := strings.Fields(s)
	if len(f) == 0 {
		return w, 0, "", fmt.Errorf("empty expectation")
	}
	if _, ok := ParseClass(f[0]); !ok {
		return w, 0, "", fmt.Errorf("unknown class %q", f[0])
	}
	w = wantEvent{Class: f[0], Level: "unknown"}
	lines = 1
	for _, kv := range f[1:] {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "level":
			w.Level = v
		case "code":
			w.Code = v
		case "eni":
			w.ENI = v
		case "subnet":
			w.Subnet = v
		case "malformed":
			w.Malformed = true
		case "time":
			w.Time = v
		case "has":
			has = v
		case "lines":
			if lines, err = strconv.Atoi(v); err != nil || lines < 1 {
				return w, 0, "", fmt.Errorf("bad lines=%q", v)
			}
		default:
			return w, 0, "", fmt.Errorf("unknown key %q", k)
		}
	}
	return w, lines, has, nil
}

func got(ev Event, wantTime bool) wantEvent {
	g := wantEvent{Class: ev.Class.String(), Level: ev.Level.String(), Code: ev.Code, ENI: ev.ENI, Subnet: ev.Subnet, Malformed: ev.Malformed}
	if wantTime {
		g.Time = ev.Time.Format(time.RFC3339Nano)
	}
	return g
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	recs := loadCorpus(t)
	if len(recs) < 80 {
		t.Fatalf("corpus has %d records, expected at least 80", len(recs))
	}
	seen := map[Class]int{}
	var c *Classifier
	stream := "\x00"
	for _, r := range recs {
		if r.stream != stream {
			stream = r.stream
			// Lines without a time must not depend on the wall clock.
			c = NewClassifierWithClock(func() time.Time { return time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC) })
		}
		ev := c.Classify([]byte(r.line))
		if diff := cmp.Diff(r.want, got(ev, r.want.Time != "")); diff != "" {
			t.Errorf("corpus.txt:%d (stream %s) (-want +got):\n%s\nline: %s", r.lineNo, r.stream, diff, r.line)
		}
		cl, _ := ParseClass(r.want.Class)
		seen[cl]++
	}
	for _, cl := range append(Classes(), None) {
		if seen[cl] == 0 {
			t.Errorf("corpus has no line of class %s", cl)
		}
	}
}

func TestCorpusWithNewlines(t *testing.T) {
	t.Parallel()
	// The same lines with "\n" and "\r\n" endings classify the same.
	for _, r := range loadCorpus(t) {
		a := NewClassifier().Classify([]byte(r.line))
		b := NewClassifier().Classify([]byte(r.line + "\r\n"))
		if a.Class != b.Class || a.Level != b.Level || a.Code != b.Code || !bytes.Equal(a.Message, b.Message) {
			t.Errorf("corpus.txt:%d: trailing CRLF changes the result: %v/%v vs %v/%v", r.lineNo, a.Class, a.Level, b.Class, b.Level)
		}
	}
}

func TestClassNames(t *testing.T) {
	t.Parallel()
	want := []string{"subnet_exhausted", "prefix_fragmented", "subnet_discovery_excluded", "eni_limit", "eni_quota",
		"cni_unknown_instance_type", "ec2_throttled", "unauthorized", "aws_node_rbac_denied", "imds_failure",
		"eniconfig_unavailable", "eni_setup_failed", "ip_pool_empty", "branch_eni", "alloc_failed",
		"aws_node_api_server_unreachable", "aws_node_init_failed", "aws_node_panic", "aws_node_not_ready", "other_error"}
	var gotNames []string
	for _, c := range Classes() {
		gotNames = append(gotNames, c.String())
		back, ok := ParseClass(c.String())
		if !ok || back != c {
			t.Errorf("ParseClass(%q) = %v, %v", c.String(), back, ok)
		}
	}
	if diff := cmp.Diff(want, gotNames); diff != "" {
		t.Errorf("Classes() names (-want +got):\n%s", diff)
	}
	if None.String() != "none" {
		t.Errorf("None.String() = %q", None.String())
	}
	if c, ok := ParseClass("none"); !ok || c != None {
		t.Errorf("ParseClass(none) = %v, %v", c, ok)
	}
	for _, bad := range []string{"", "None", "SUBNET_EXHAUSTED", "subnet exhausted", "class(12)"} {
		if _, ok := ParseClass(bad); ok {
			t.Errorf("ParseClass(%q) accepted", bad)
		}
	}
	if s := Class(200).String(); s != "class(200)" {
		t.Errorf("Class(200).String() = %q", s)
	}
	// Classes returns a fresh slice.
	a := Classes()
	a[0] = OtherError
	if Classes()[0] != SubnetExhausted {
		t.Error("Classes() shares its backing array")
	}
	levels := []string{"unknown", "debug", "info", "warn", "error", "fatal"}
	for i, w := range levels {
		if g := Level(i).String(); g != w {
			t.Errorf("Level(%d) = %q, want %q", i, g, w)
		}
	}
}

func TestPatternTable(t *testing.T) {
	t.Parallel()
	for _, p := range patterns() {
		if p.fold && p.lit != strings.ToLower(p.lit) {
			t.Errorf("case-insensitive literal %q must be written in lower case", p.lit)
		}
		if p.id == idNone && !p.followUp && p.class == None {
			t.Errorf("literal %q has no class", p.lit)
		}
		if len(p.lit) < 2 {
			t.Errorf("literal %q: the scan's filter byte needs at least two bytes", p.lit)
		}
		if strings.ContainsAny(p.lit, "\"\\") {
			t.Errorf("literal %q contains a JSON string delimiter, which the scan reserves", p.lit)
		}
	}
}

func TestMessageAndTime(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line, msg, time string
		level                 Level
	}{
		{"zap escapes", `{"level":"error","ts":"2021-12-02T03:34:46.067Z","msg":"a \"quoted\" word\n\tstatus code: 400 \u00e9"}`,
			"a \"quoted\" word\n\tstatus code: 400 é", "2021-12-02T03:34:46.067Z", LevelError},
		{"zap offset without colon", `{"level":"INFO","ts":"2021-12-02T05:34:46.067+0200","msg":"x"}`, "x", "2021-12-02T03:34:46.067Z", LevelInfo},
		{"zap epoch float", `{"level":"warn","ts":1638415686.5,"msg":"y"}`, "y", "2021-12-02T03:28:06.5Z", LevelWarn},
		{"field before msg", `{"level":"warn","ts":"2021-12-02T03:34:46Z","error":"e","msg":"say \"hi\"","n":[1,{"a":"}"}]}`,
			"say \"hi\"", "2021-12-02T03:34:46Z", LevelWarn},
		{"kubectl timestamps prefix only", `2024-10-30T21:32:54.531987654Z {"level":"info","msg":"m"}`, "m", "2024-10-30T21:32:54.531987654Z", LevelInfo},
		{"zap surrogate pair", `{"level":"debug","ts":"2021-12-02T03:34:46Z","msg":"\ud83d\ude00"}`, "😀", "2021-12-02T03:34:46Z", LevelDebug},
		{"pre-2020", `2019-07-30T15:31:53Z [WARN] careful now`, "careful now", "2019-07-30T15:31:53Z", LevelWarn},
		{"logrus", `time="2024-09-11T20:38:58+01:00" level=warning msg="Copying config file... "`, "Copying config file... ", "2024-09-11T19:38:58Z", LevelWarn},
		{"klog has no year", `W0911 20:39:00.479123    4321 file.go:1] hello there`, "hello there", "0001-01-01T00:00:00Z", LevelWarn},
		{"free text", `  something happened  `, "something happened", "0001-01-01T00:00:00Z", LevelUnknown},
		{"bad month", `2019-13-30T15:31:53Z [ERROR] x`, "2019-13-30T15:31:53Z [ERROR] x", "0001-01-01T00:00:00Z", LevelUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := NewClassifier().Classify([]byte(tt.line))
			if string(ev.Message) != tt.msg {
				t.Errorf("Message = %q, want %q", ev.Message, tt.msg)
			}
			if g := ev.Time.Format(time.RFC3339Nano); g != tt.time {
				t.Errorf("Time = %s, want %s", g, tt.time)
			}
			if ev.Level != tt.level {
				t.Errorf("Level = %v, want %v", ev.Level, tt.level)
			}
		})
	}
}

// TestFollowUpClock covers follow-up lines without timestamps: the injected clock decides
// whether they are inside ipamd's 2-minute backoff.
func TestFollowUpClock(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC)
	c := NewClassifierWithClock(func() time.Time { return now })
	specific := []byte(`[ERROR] failed: InsufficientCidrBlocks: There are not enough free cidr blocks in the specified subnet`)
	follow := []byte(`Recently we had InsufficientCidr error hence will wait for 2m0s before retrying`)
	if ev := c.Classify(follow); ev.Class != SubnetExhausted {
		t.Fatalf("follow-up without context = %v, want subnet_exhausted", ev.Class)
	}
	if ev := c.Classify(specific); ev.Class != PrefixFragmented || ev.Code != "InsufficientCidrBlocks" {
		t.Fatalf("specific line = %v %q", ev.Class, ev.Code)
	}
	now = now.Add(119 * time.Second)
	if ev := c.Classify(follow); ev.Class != PrefixFragmented {
		t.Errorf("follow-up after 119s = %v, want prefix_fragmented", ev.Class)
	}
	now = now.Add(2 * time.Second)
	if ev := c.Classify(follow); ev.Class != SubnetExhausted {
		t.Errorf("follow-up after 121s = %v, want subnet_exhausted", ev.Class)
	}
	// Another stream has its own state.
	other := NewClassifierWithClock(func() time.Time { return now })
	if ev := other.Classify(follow); ev.Class != SubnetExhausted {
		t.Errorf("fresh stream follow-up = %v", ev.Class)
	}
	// A follow-up line does not extend the window.
	if ev := c.Classify(specific); ev.Class != PrefixFragmented {
		t.Fatal(ev.Class)
	}
	for range 3 {
		now = now.Add(60 * time.Second)
		c.Classify(follow)
	}
	if ev := c.Classify(follow); ev.Class != SubnetExhausted {
		t.Errorf("follow-ups kept the window open: %v", ev.Class)
	}
}

func TestLevelRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, line string
		want       Class
	}{
		{"debug code ignored", `{"level":"debug","msg":"x InsufficientCidrBlocks y"}`, None},
		{"info code counts", `{"level":"info","msg":"x InsufficientCidrBlocks y"}`, PrefixFragmented},
		{"info phrase ignored", `{"level":"info","msg":"Unable to discover attached ENI from metadata service"}`, None},
		{"warn phrase counts", `{"level":"warn","msg":"Unable to discover attached ENI from metadata service"}`, IMDSFailure},
		// ipamd writes this one at INFO (pkg/ipamd/rpc_handler.go, v1.12 to v1.23): it counts there.
		{"branch ENI at info counts", `{"level":"info","msg":"Send AddNetworkReply: failed to get Branch ENI resource"}`, BranchENI},
		{"RBAC forbidden is not IAM", `{"level":"error","msg":"pods is forbidden: User "system:serviceaccount:kube-system:aws-node" cannot list resource "pods" in API group "" at the cluster scope"}`, AWSNodeRBACDenied},
		{"error generic", `{"level":"error","msg":"something broke"}`, OtherError},
		{"fatal generic", `{"level":"fatal","msg":"something broke"}`, OtherError},
		{"error trap", `{"level":"error","msg":"Send AddNetworkReply: IPv4Addr: 10.0.0.1, err: <nil>"}`, None},
		{"unknown level phrase", `add cmd: failed to assign an IP address to container`, AllocFailed},
		{"unknown level no error", `ERROR something broke`, None},
		{"case varies", `{"level":"ERROR","msg":"EXCEEDED INSTANCE ENI ATTACHMENT LIMIT"}`, ENILimit},
		{"code beats wrapper", `{"level":"error","msg":"Failed to increase pool size: failed to assign an IP address to container: RequestLimitExceeded"}`, EC2Throttled},
		{"quota beats limit words", `{"level":"error","msg":"NetworkInterfaceLimitExceeded after max ENI already attached"}`, ENIQuota},
		{"code is case-sensitive", `{"level":"info","msg":"insufficientcidrblocks"}`, None},
		{"level after msg, debug", `{"ts":"2024-01-01T00:00:00Z","msg":"x InsufficientCidrBlocks y","level":"debug"}`, None},
		{"level after msg, error", `{"ts":"2024-01-01T00:00:00Z","msg":"something broke","level":"error"}`, OtherError},
		{"extra field carries the cause", `{"level":"error","ts":"2024-01-01T00:00:00Z","msg":"Failed","error":"RequestLimitExceeded: slow down"}`, EC2Throttled},
		{"field before msg", `{"level":"warn","logger":"ipamd","error":"InsufficientCidrBlocks","msg":"failed"}`, PrefixFragmented},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if g := NewClassifier().Classify([]byte(tt.line)).Class; g != tt.want {
				t.Errorf("Classify(%s) = %v, want %v", tt.line, g, tt.want)
			}
		})
	}
}

// routineLines are the kind of line that make up >99% of ipamd.log.
var routineLines = []string{
	`{"level":"debug","ts":"2024-09-11T20:39:00.479Z","caller":"ipamd/ipamd.go:673","msg":"IP pool is too low: available (19) < ENI target (1) * addrsPerENI (9)"}`,
	`{"level":"info","ts":"2024-09-11T20:39:00.479Z","caller":"rpc/rpc.pb.go:863","msg":"Send AddNetworkReply: IPv4Addr: 10.4.128.118, IPv6Addr: , DeviceNumber: 0, err: <nil>"}`,
	`{"level":"debug","ts":"2024-09-11T20:39:04.052Z","caller":"ipamd/ipamd.go:798","msg":"Found ENI: eni-0a1b2c3d4e5f60718, mac 0a:1b:2c:3d:4e:5f, device 2"}`,
	`{"level":"info","ts":"2024-09-11T20:39:04.052Z","caller":"ipamd/introspect.go:60","msg":"Handling http request: GET, from: 127.0.0.1:48812, URI: /v1/enis"}`,
	`{"level":"debug","ts":"2024-09-11T20:39:04.052Z","caller":"datastore/data_store.go:607","msg":"Get free IP from prefix failed no free IP available in the prefix - 10.4.130.16/28"}`,
	`{"level":"debug","ts":"2024-09-11T20:39:04.052Z","caller":"ipamd/ipamd.go:1512","msg":"Node found \"ip-10-4-129-144.eu-central-1.compute.internal\" - no of taints - 0"}`,
	`2019-07-30T15:31:53Z [DEBUG] Reconcile existing ENI eni-0a1b2c3d4e5f60718 IP pool`,
	`[pod/aws-node-x7k2p/aws-node] {"level":"info","ts":"2024-09-11T20:39:00.479Z","msg":"Received AddNetwork for NS /var/run/netns/cni-3f2a, Sandbox 7c2f, ifname eth0"}`,
}

func TestRoutineLinesDoNotAllocate(t *testing.T) {
	// Not parallel: AllocsPerRun measures the whole process.
	c := NewClassifier()
	for _, l := range routineLines {
		line := []byte(l)
		if ev := c.Classify(line); ev.Class != None {
			t.Fatalf("routine line classified %v: %s", ev.Class, l)
		}
		if n := testing.AllocsPerRun(200, func() { c.Classify(line) }); n != 0 {
			t.Errorf("%v allocations per routine line: %s", n, l)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, l := range routineLines {
		f.Add([]byte(l))
	}
	for _, s := range []string{
		`{"level":"error","msg":"\u12"}`, `{"level":"error","msg":"\ud800\u"}`, `{"a":[{"b":"}"}],"msg":"x"}`,
		`{`, `{"`, `{"msg":`, `[pod/`, `[pod/a/b]`, `2019-07-30T15:31:53Z [`, `time="`, `level=`, `E0911 20:39:00.4`,
		`Sep 11 20:39:00 h k[1]: `, `Warning`, `eni-`, `subnet-`, "\xff\xfe{\"level\":\"error\"}",
		`{"level":"error","ts":"2024-09-11T20:39:00.479+","msg":"trunk"}`,
		// Paste shapes (logparse/testdata/real.txt has the real lines they come from).
		`"level":"error","ts":"2023-03-09T04:09:07.998Z","msg":"AttachmentLimitExceeded"}`, `"msg":`, `"level"`,
		"* 2019-07-03T20:29:20Z [ERROR] unknown instance type", "- {", "> [", "`{\"level\":\"info\"}`", "```x```", "``",
		"ERROR: logging before flag.Parse: E0831 00:44:45.185063 10 r.go:1] is forbidden: User ", " 1{\"level\"", "12345678",
		"[ERROR] Failed to get pod ENI config", "[ERROR", "[]", "Found subnet-id: subnet-78f17f20", "eni-0000000",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		c := NewClassifier()
		orig := bytes.Clone(line)
		ev := c.Classify(line)
		if !bytes.Equal(orig, line) {
			t.Fatal("Classify modified its input")
		}
		if ev.Class >= numClasses || ev.Level >= numLevels {
			t.Fatalf("out-of-range event %d/%d", ev.Class, ev.Level)
		}
		if ev.Class == OtherError && ev.Level < LevelWarn {
			t.Fatalf("other_error at level %v", ev.Level)
		}
		if ev.ENI != "" && !strings.HasPrefix(ev.ENI, "eni-") || ev.Subnet != "" && !strings.HasPrefix(ev.Subnet, "subnet-") {
			t.Fatalf("bad ids %q %q", ev.ENI, ev.Subnet)
		}
		// Deterministic for a fresh stream.
		ev2 := NewClassifier().Classify(line)
		if ev2.Class != ev.Class || ev2.Level != ev.Level || ev2.Code != ev.Code || !ev2.Time.Equal(ev.Time) {
			t.Fatalf("not deterministic: %+v vs %+v", ev, ev2)
		}
	})
}

func BenchmarkClassifyRoutine(b *testing.B) {
	c := NewClassifier()
	lines := make([][]byte, len(routineLines))
	size := 0
	for i, l := range routineLines {
		lines[i] = []byte(l)
		size += len(l)
	}
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Classify(lines[i%len(lines)])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/line")
}

func BenchmarkClassifyCorpus(b *testing.B) {
	f, err := os.ReadFile("testdata/corpus.txt")
	if err != nil {
		b.Fatal(err)
	}
	var lines [][]byte
	size := 0
	for _, l := range bytes.Split(f, []byte("\n")) {
		if len(l) > 0 && l[0] == '{' {
			lines = append(lines, l)
			size += len(l)
		}
	}
	c := NewClassifier()
	b.SetBytes(int64(size / len(lines)))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.Classify(lines[i%len(lines)])
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/line")
}
