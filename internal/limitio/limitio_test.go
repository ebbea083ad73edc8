package limitio

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReader(t *testing.T) {
	t.Parallel()
	errBig := errors.New("too large")
	tests := []struct {
		name    string
		body    string
		limit   int64
		wantErr error
	}{
		{"shorter", "abc", 5, nil},
		{"exactly the limit", "abcde", 5, nil},
		{"one byte over", "abcdef", 5, errBig},
		{"empty", "", 0, nil},
		{"zero limit, one byte", "a", 0, errBig},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// OneByteReader makes every Read short: the count must hold across many calls.
			got, err := io.ReadAll(Reader(iotest.OneByteReader(strings.NewReader(tc.body)), tc.limit, errBig))
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err == nil && string(got) != tc.body {
				t.Errorf("read %q, want %q", got, tc.body)
			}
			if int64(len(got)) > tc.limit {
				t.Errorf("read %d bytes past the limit %d", len(got), tc.limit)
			}
		})
	}
}

func TestReaderPassesErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	if _, err := io.ReadAll(Reader(iotest.ErrReader(boom), 10, errors.New("big"))); !errors.Is(err, boom) {
		t.Errorf("err = %v, want the source's error", err)
	}
}
