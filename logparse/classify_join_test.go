package logparse

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Real lines the paste shapes below are built from.
const (
	// https://github.com/aws/amazon-vpc-cni-k8s/pull/1773
	realSubnetFull = `{"level":"error","ts":"2021-12-02T03:34:46.067Z","caller":"ipamd/ipamd.go:934","msg":"Failed to allocate a private IP/Prefix addresses on ENI eni-01f879673fc5fd14d: InsufficientFreeAddressesInSubnet: The specified subnet does not have enough free addresses to satisfy the request.\n\tstatus code: 400, request id: aeac321e-be9f-4a13-9b2f-e6ef5985689a"}`
	// https://github.com/aws/amazon-vpc-cni-k8s/pull/1585
	realCidr = `{"level":"error","ts":"2021-08-26T22:28:28.035Z","caller":"ipamd/ipamd.go:791","msg":"Failed to allocate a private IP/Prefix addresses on ENI eni-005389d15c5d28157: InsufficientCidrBlocks: The specified subnet does not have enough free cidr blocks to satisfy the request.\n\tstatus code: 400, request id: 527f91e7-a3de-4709-be32-2af26cdd8c23"}`
	// https://github.com/aws/amazon-vpc-cni-k8s/issues/1590
	realRefused = `{"level":"error","ts":"2021-08-25T16:57:52.632Z","caller":"routed-eni-cni-plugin/cni.go:240","msg":"Error received from DelNetwork gRPC call for container b85a01e25479f7c87024a621ed5d05c56780c37886fe47e841f58e6a7b0da527: rpc error: code = Unavailable desc = connection error: desc = \"transport: Error while dialing dial tcp 127.0.0.1:50051: connect: connection refused\""}`
	// https://github.com/aws/amazon-vpc-cni-k8s/issues/2203
	realDebug = `{"level":"debug","ts":"2023-01-11T19:31:36.746Z","caller":"datastore/data_store.go:722","msg":"Unable to get IP address from CIDR: no free IP available in the prefix - 10.133.40.88/ffffffff"}`
)

// hardWrap cuts s into lines of width bytes, as a terminal that does not re-flow a copy does.
func hardWrap(s string, width int) []string {
	var out []string
	for len(s) > width {
		out = append(out, s[:width])
		s = s[width:]
	}
	return append(out, s)
}

// prettyPrint indents a JSON line the way `jq .` does.
func prettyPrint(t *testing.T, s string) []string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Indent(&b, []byte(s), "", "  "); err != nil {
		t.Fatal(err)
	}
	return strings.Split(b.String(), "\n")
}

type delivered struct {
	N    uint64
	Line string
}

func readAll(t *testing.T, lines []string) ([]delivered, LineStats) {
	t.Helper()
	var out []delivered
	st, err := ReadLines(strings.NewReader(strings.Join(lines, "\n")+"\n"), 0, func(n uint64, b []byte) error {
		out = append(out, delivered{n, string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out, st
}

// individually is what ReadLines delivers when nothing is joined.
func individually(lines []string) []delivered {
	out := make([]delivered, len(lines))
	for i, l := range lines {
		out[i] = delivered{uint64(i + 1), l}
	}
	return out
}

func TestJoinPastes(t *testing.T) {
	t.Parallel()
	wrapped := hardWrap(realSubnetFull, 80)
	pretty := prettyPrint(t, realCidr)
	// A wrap that falls right after a backslash: the escape is split across two lines.
	esc := strings.Index(realSubnetFull, `\n\t`) + 1
	escSplit := []string{realSubnetFull[:esc], realSubnetFull[esc:]}
	// The start of a record wrapped at 80 columns, cut short: it never closes. Alone, its
	// first line is an error-level line whose message was cut: other_error.
	truncated := append([]string(nil), wrapped[:2]...)
	tooMany := append([]string{`{"level":"error","msg":"`}, strings.Split(strings.Repeat("x\n", maxJoinLines+1), "\n")...)

	tests := []struct {
		name  string
		lines []string
		want  []delivered
		class Class // of the first delivered record
	}{
		{"terminal hard wrap", wrapped, []delivered{{1, realSubnetFull}}, SubnetExhausted},
		{"hard wrap between other lines", append(append([]string{realDebug}, hardWrap(realRefused, 100)...), realDebug),
			[]delivered{{1, realDebug}, {2, realRefused}, {2 + uint64(len(hardWrap(realRefused, 100))), realDebug}}, None},
		{"escape split by the wrap", escSplit, []delivered{{1, realSubnetFull}}, SubnetExhausted},
		{"two wrapped records", append(hardWrap(realCidr, 120), hardWrap(realRefused, 120)...),
			[]delivered{{1, realCidr}, {1 + uint64(len(hardWrap(realCidr, 120))), realRefused}}, PrefixFragmented},
		{"pretty-printed", pretty, []delivered{{1, strings.Join(pretty, " ")}}, PrefixFragmented},
		{"truncated, then a new record", append(truncated[:2:2], realDebug), individually(append(truncated[:2:2], realDebug)), OtherError},
		{"truncated at the end of input", truncated, individually(truncated), OtherError},
		{"a blank line ends it", append(truncated[:2:2], "", realDebug), individually(append(truncated[:2:2], "", realDebug)), OtherError},
		{"not JSON after the brace", []string{"{not json at all", "this is just some text"}, individually([]string{"{not json at all", "this is just some text"}), None},
		{"text cannot continue an object", []string{"{", "  oops", "}"}, individually([]string{"{", "  oops", "}"}), None},
		{"too many lines", tooMany, individually(tooMany), OtherError},
		{"complete lines pass through", []string{realDebug, realCidr, "plain text", "{}"}, individually([]string{realDebug, realCidr, "plain text", "{}"}), None},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, st := readAll(t, tt.lines)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("delivered (-want +got):\n%s", diff)
			}
			if st.Lines != uint64(len(tt.lines)) {
				t.Errorf("stats count %d lines, want the %d physical lines", st.Lines, len(tt.lines))
			}
			if len(got) == 0 {
				return
			}
			ev := NewClassifier().Classify([]byte(got[0].Line))
			if ev.Class != tt.class {
				t.Errorf("first record classifies as %v, want %v", ev.Class, tt.class)
			}
			if len(tt.want) < len(tt.lines) && ev.Malformed {
				t.Errorf("joined record is malformed: %s", got[0].Line)
			}
		})
	}
}

// TestJoinedRecordDecodes checks that a wrapped and a pretty-printed paste give the same
// event as the line they came from.
func TestJoinedRecordDecodes(t *testing.T) {
	t.Parallel()
	want := NewClassifier().Classify([]byte(realSubnetFull))
	for name, lines := range map[string][]string{
		"wrapped at 37": hardWrap(realSubnetFull, 37),
		"pretty":        prettyPrint(t, realSubnetFull),
	} {
		got, _ := readAll(t, lines)
		if len(got) != 1 {
			t.Fatalf("%s: %d records", name, len(got))
		}
		ev := NewClassifier().Classify([]byte(got[0].Line))
		if ev.Class != want.Class || ev.Code != want.Code || ev.ENI != want.ENI || !ev.Time.Equal(want.Time) ||
			ev.Level != want.Level || ev.Malformed || string(ev.Message) != string(want.Message) {
			t.Errorf("%s: got %v %q %q %v %v malformed=%v %q, want %v %q %q %v %v %q", name,
				ev.Class, ev.Code, ev.ENI, ev.Time, ev.Level, ev.Malformed, ev.Message,
				want.Class, want.Code, want.ENI, want.Time, want.Level, want.Message)
		}
	}
}

// TestJoinerDoesNotAllocate: routine lines pass through without an allocation, and once its
// buffers have grown, joining does not allocate either.
func TestJoinerDoesNotAllocate(t *testing.T) {
	// Not parallel: AllocsPerRun measures the whole process.
	j := newRecordJoiner(func(uint64, []byte) error { return nil })
	n := uint64(0)
	for _, l := range routineLines {
		line := []byte(l)
		if a := testing.AllocsPerRun(200, func() { n++; _ = j.add(n, line) }); a != 0 {
			t.Errorf("%v allocations per routine line: %s", a, l)
		}
	}
	wrapped := hardWrap(realSubnetFull, 80)
	join := func() {
		for _, l := range wrapped {
			n++
			_ = j.add(n, []byte(l))
		}
	}
	join()
	if a := testing.AllocsPerRun(100, join); a > float64(len(wrapped)) {
		// []byte(l) converts each piece; the joiner itself must add nothing.
		t.Errorf("%v allocations per joined record of %d lines", a, len(wrapped))
	}
}

func FuzzJoin(f *testing.F) {
	f.Add(strings.Join(hardWrap(realSubnetFull, 80), "\n"))
	f.Add(strings.Join(prettyPrint(&testing.T{}, realCidr), "\n"))
	f.Add("{\n\"a\": \"b\\\n\"}\n{\"x\nplain\n\n{")
	f.Add("{\"msg\":\"a\n{\"level\":\"info\"}\n}")
	f.Fuzz(func(t *testing.T, in string) {
		lines := strings.Split(strings.TrimSuffix(strings.ReplaceAll(in, "\r", ""), "\n"), "\n")
		var got []delivered
		_, err := ReadLines(strings.NewReader(strings.Join(lines, "\n")+"\n"), 1<<20, func(n uint64, b []byte) error {
			got = append(got, delivered{n, string(b)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		// Every physical line is delivered once, in order: alone, or as part of a record that
		// starts with it and is made of it and the lines up to the next delivered one.
		for i, d := range got {
			next := uint64(len(lines)) + 1
			if i+1 < len(got) {
				next = got[i+1].N
			}
			if d.N < 1 || next <= d.N || next > uint64(len(lines))+1 {
				t.Fatalf("record %d numbered %d, next %d, %d lines", i, d.N, next, len(lines))
			}
			parts := lines[d.N-1 : next-1]
			if len(parts) == 1 {
				if d.Line != parts[0] {
					t.Fatalf("line %d delivered as %q, want %q", d.N, d.Line, parts[0])
				}
				continue
			}
			if len(parts) > maxJoinLines {
				t.Fatalf("%d lines joined", len(parts))
			}
			if !strings.HasPrefix(d.Line, parts[0]) || !strings.HasPrefix(strings.TrimSpace(parts[0]), "{") {
				t.Fatalf("joined record %q does not start with the line that opened it %q", d.Line, parts[0])
			}
			if strings.ReplaceAll(d.Line, " ", "") != strings.ReplaceAll(strings.Join(parts, ""), " ", "") {
				t.Fatalf("joined record %q is not its lines %q", d.Line, parts)
			}
		}
		if len(got) == 0 && (len(lines) != 1 || lines[0] != "") {
			t.Fatalf("nothing delivered from %d lines", len(lines))
		}
	})
}

func ExampleReadLines() {
	paste := strings.Join(hardWrap(realCidr, 100), "\n")
	c := NewClassifier()
	_, _ = ReadLines(strings.NewReader(paste), 0, func(n uint64, line []byte) error {
		ev := c.Classify(line)
		fmt.Println(n, ev.Class, ev.Code, ev.Malformed)
		return nil
	})
	// Output: 1 prefix_fragmented InsufficientCidrBlocks false
}
