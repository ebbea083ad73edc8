package logparse

import (
	"errors"
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
