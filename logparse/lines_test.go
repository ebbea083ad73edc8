package logparse

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestReadLines(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 100<<10) // longer than the 64 KiB read buffer
	in := "a\r\nb\n" + long + "\n" + strings.Repeat("y", 300) + "\nlast"
	type got struct {
		N    uint64
		Line string
	}
	for _, tc := range []struct {
		name    string
		max     int
		want    []got
		tooLong uint64
	}{
		{"long line assembled", 200 << 10, []got{{1, "a"}, {2, "b"}, {3, long}, {4, strings.Repeat("y", 300)}, {5, "last"}}, 0},
		{"long lines skipped, numbers kept", 256, []got{{1, "a"}, {2, "b"}, {5, "last"}}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var lines []got
			st, err := ReadLines(strings.NewReader(in), tc.max, func(n uint64, line []byte) error {
				lines = append(lines, got{n, string(line)})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, lines); diff != "" {
				t.Errorf("lines (-want +got):\n%s", diff)
			}
			if st.Lines != 5 || st.TooLong != tc.tooLong || st.Bytes != uint64(len(in)) {
				t.Errorf("stats = %+v", st)
			}
		})
	}
	stop := errors.New("stop")
	calls := 0
	if _, err := ReadLines(strings.NewReader("1\n2\n3\n"), 0, func(uint64, []byte) error { calls++; return stop }); !errors.Is(err, stop) || calls != 1 {
		t.Errorf("fn's error: %v after %d calls", err, calls)
	}
	if _, err := ReadLines(iotest.ErrReader(errors.New("disk gone")), 0, func(uint64, []byte) error { return nil }); err == nil || !strings.Contains(err.Error(), "disk gone") {
		t.Errorf("read error: %v", err)
	}
}

// FuzzReadLines checks ReadLines' splitting against a plain reference however the reader
// hands out the bytes: every line, the last one even without a newline, with \r\n trimmed,
// numbered, and too-long ones counted and skipped. It reads the physical lines, before the
// record joiner (FuzzJoin holds the joiner to its own reference).
func FuzzReadLines(f *testing.F) {
	f.Add([]byte("a\r\nbb\nccc"), []byte{1, 2, 3}, uint8(2))
	f.Add([]byte("xx\r\nxxx\r\n\r\n\n"), []byte{0, 4}, uint8(1))
	f.Add(bytes.Repeat([]byte("0123456789\n"), 40), []byte{200, 13, 255}, uint8(9))
	f.Fuzz(func(t *testing.T, data, cuts []byte, maxLine uint8) {
		max := int(maxLine) + 1
		type line struct {
			N    uint64
			Text string
		}
		var want []line
		var tooLong uint64
		for i, p := range referenceLines(data) {
			p = bytes.TrimSuffix(p, []byte("\r"))
			if len(p) > max {
				tooLong++
				continue
			}
			want = append(want, line{uint64(i + 1), string(p)})
		}
		var got []line
		st, err := readPhysicalLines(&chunkedReader{data: data, cuts: cuts}, max, func(n uint64, l []byte) error {
			got = append(got, line{n, string(l)})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("lines (-want +got):\n%s", diff)
		}
		if st.TooLong != tooLong || st.Bytes != uint64(len(data)) {
			t.Fatalf("stats %+v, want %d too long and %d bytes", st, tooLong, len(data))
		}
	})
}

// chunkedReader hands out data in reads of the sizes in cuts, then the rest at once.
type chunkedReader struct {
	data, cuts []byte
}

func (r *chunkedReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.cuts) > 0 {
		n, r.cuts = min(int(r.cuts[0]), n), r.cuts[1:]
	}
	n = copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// Splitting allocates nothing once the pending buffer has grown: lines inside a chunk are
// slices of it, and a line split across chunks reuses the buffer. Not parallel: AllocsPerRun
// counts the whole process.
func TestSplitLinesAllocatesNothing(t *testing.T) {
	chunk := append(bytes.Repeat([]byte(`{"level":"debug","msg":"IP pool stats"}`+"\n"), 100), `{"level":"info","msg":"spl`...)
	split := lineSplitter{max: DefaultMaxLineBytes}
	var lines, cut int
	allocs := testing.AllocsPerRun(100, func() {
		for line, c := range split.lines(chunk) {
			lines += len(line)
			if c {
				cut++
			}
		}
	})
	if allocs != 0 || lines == 0 || cut != 0 {
		t.Errorf("%v allocations per chunk (%d bytes of lines, %d cut), want 0", allocs, lines, cut)
	}
}
