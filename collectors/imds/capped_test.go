package imds

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

// countingReader serves an endless stream of 'x' and counts what was pulled from it.
type countingReader struct{ pulled int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	c.pulled += int64(len(p))
	return len(p), nil
}

func (c *countingReader) Close() error { return nil }

func TestCappedBody(t *testing.T) {
	t.Parallel()
	const limit = 100
	tests := []struct {
		name     string
		body     string
		declared int64 // Content-Length; -1 unknown
		wantLen  int   // bytes io.ReadAll returns
		wantErr  bool
	}{
		{name: "empty", body: "", declared: 0, wantLen: 0},
		{name: "short", body: "token", declared: 5, wantLen: 5},
		{name: "exactly the limit", body: strings.Repeat("a", limit), declared: -1, wantLen: limit},
		{name: "one byte over, undeclared", body: strings.Repeat("a", limit+1), declared: -1, wantLen: limit, wantErr: true},
		{name: "far over, undeclared", body: strings.Repeat("a", 10*limit), declared: -1, wantLen: limit, wantErr: true},
		{name: "declared over the limit", body: strings.Repeat("a", limit+1), declared: limit + 1, wantLen: 0, wantErr: true},
		{name: "understated length", body: strings.Repeat("a", 2*limit), declared: 10, wantLen: limit, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := &cappedBody{rc: io.NopCloser(strings.NewReader(tc.body)), left: limit, limit: limit, declaredTooLong: tc.declared > limit}
			got, err := io.ReadAll(b)
			if len(got) != tc.wantLen {
				t.Errorf("read %d bytes, want %d", len(got), tc.wantLen)
			}
			if !bytes.Equal(got, []byte(tc.body[:len(got)])) {
				t.Errorf("bytes read are not the body's prefix")
			}
			var tl *tooLargeError
			if gotErr := errors.As(err, &tl); gotErr != tc.wantErr {
				t.Fatalf("err = %v, want too-large error: %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if want := "answer larger than 100 bytes"; err.Error() != want {
					t.Errorf("error %q, want %q", err, want)
				}
				// The cap is sticky: a later read does not resume the body.
				if n, err := b.Read(make([]byte, 10)); n != 0 || !errors.As(err, &tl) {
					t.Errorf("read after the cap = %d, %v; want 0 and the too-large error", n, err)
				}
			}
		})
	}
}

// TestCappedBodyEndless: reading an endless body pulls at most one byte past the limit from
// the underlying reader, whatever the caller's buffer size.
func TestCappedBodyEndless(t *testing.T) {
	t.Parallel()
	for _, bufSize := range []int{1, 7, 512, 1 << 20} {
		src := &countingReader{}
		b := &cappedBody{rc: src, left: maxBody, limit: maxBody}
		buf := make([]byte, bufSize)
		var got int64
		var err error
		for err == nil {
			var n int
			n, err = b.Read(buf)
			got += int64(n)
		}
		var tl *tooLargeError
		if !errors.As(err, &tl) {
			t.Fatalf("buffer %d: err = %v, want too-large", bufSize, err)
		}
		if got != maxBody || src.pulled > maxBody+1 {
			t.Errorf("buffer %d: returned %d bytes (want %d), pulled %d from the source (want <= %d)", bufSize, got, maxBody, src.pulled, maxBody+1)
		}
	}
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestCappedTransportPassesErrors(t *testing.T) {
	t.Parallel()
	boom := errors.New("dial failed")
	tr := &cappedTransport{next: roundTripFunc(func(*http.Request) (*http.Response, error) { return nil, boom }), limit: 10}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.0.0.1:1/", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if resp != nil {
		_ = resp.Body.Close()
		t.Fatalf("RoundTrip returned a response %v with error %v; want none", resp, err)
	}
	if !errors.Is(err, boom) {
		t.Fatalf("RoundTrip error %v, want the transport's error", err)
	}
}

// TestFetchEndlessAnswers drives the real SDK client against endless bodies: on the IMDSv2
// token (the SDK reads that answer itself, before Client.get can bound it) and on a metadata
// path. The fake stops a body after 256 MiB; a client that read the whole answer would make
// it write all of that, a bounded one closes the connection after 64 KiB, so the fake writes
// at most that plus what the loopback socket buffers hold (a few MiB).
func TestFetchEndlessAnswers(t *testing.T) {
	t.Parallel()
	const wroteBound = 64 << 20
	tests := []struct {
		name    string
		endless string
		v2Only  bool
		wantErr string // empty: Fetch succeeds
	}{
		// IMDSv1 allowed: the SDK falls back to unauthenticated GETs for this call.
		{name: "token, IMDSv1 allowed", endless: "api/token"},
		// IMDSv2 required: without a token every GET is refused. (The SDK hides the 401's
		// status from errors.As here, so classify cannot name it; the text still carries it.)
		{name: "token, IMDSv2 required", endless: "api/token", v2Only: true, wantErr: "StatusCode: 401"},
		{name: "metadata path", endless: "instance-type", wantErr: "reading instance-type: answer larger than 65536 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeIMDS{values: multiENIValues(), v2Only: tc.v2Only, endless: map[string]bool{tc.endless: true}}
			c := newTestClient(t, Options{Endpoint: startFake(t, f), Retries: -1})
			got, err := c.Fetch(context.Background())
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("Fetch: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("Fetch succeeded, want error containing %q: %+v", tc.wantErr, got)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q does not contain %q", err, tc.wantErr)
			}
			if !f.seen(http.MethodPut, "/latest/api/token") {
				t.Error("client never asked for an IMDSv2 token")
			}
			n, largest := f.endlessWritten()
			t.Logf("%d endless answers, largest %d KiB written", n, largest>>10)
			if n == 0 || largest > wroteBound {
				t.Errorf("fake wrote %d endless answers, the largest %d bytes; want at least one, none above %d (the client must stop reading)", n, largest, wroteBound)
			}
		})
	}
}
