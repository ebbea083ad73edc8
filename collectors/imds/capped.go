package imds

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// The SDK's IMDS client reads every answer whole into memory (its deserializer calls
// io.ReadAll on the response body, the IMDSv2 token included) before Client.get sees a byte,
// so a bound applied to GetMetadata's output comes too late: an endless token answer grew
// the heap past 1 GiB. cappedTransport moves the bound under the SDK, where every response
// passes.

// tooLargeError is what reading past the cap returns. It survives the SDK's wrapping
// (%w), so classify can tell it from an unreachable endpoint.
type tooLargeError struct{ limit int64 }

func (e *tooLargeError) Error() string {
	return fmt.Sprintf("answer larger than %d bytes", e.limit)
}

// cappedTransport wraps next so that no response body yields more than limit bytes:
// reading past the limit returns a *tooLargeError instead of more data.
type cappedTransport struct {
	next  http.RoundTripper
	limit int64
}

func (t *cappedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
	if resp != nil {
		if tr, ok := req.Context().Value(traceKey{}).(*callTrace); ok {
			tr.saw(req, resp.StatusCode)
		}
	}
	if err != nil || resp == nil || resp.Body == nil {
		return resp, err
	}
	// A declared length above the cap fails on the first read without pulling the body;
	// an undeclared (chunked) or understated one is caught while reading.
	resp.Body = &cappedBody{rc: resp.Body, left: t.limit, limit: t.limit, declaredTooLong: resp.ContentLength > t.limit}
	return resp, nil
}

// cappedBody passes at most limit bytes of rc through; the byte after them turns into a
// *tooLargeError, and so does every later Read. It never asks rc for more than one byte
// beyond the limit, so an endless body costs one small read buffer.
type cappedBody struct {
	rc              io.ReadCloser
	left            int64 // bytes still allowed; -1 once the cap was exceeded
	limit           int64
	declaredTooLong bool
}

func (b *cappedBody) Read(p []byte) (int, error) {
	if b.declaredTooLong {
		b.left = -1
	}
	if b.left < 0 {
		return 0, &tooLargeError{limit: b.limit}
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.rc.Read(p)
	if int64(n) > b.left {
		n = int(b.left)
		b.left = -1
		return n, &tooLargeError{limit: b.limit}
	}
	b.left -= int64(n)
	return n, err
}

func (b *cappedBody) Close() error { return b.rc.Close() }

// callTrace records the refusals IMDS answered during one call. The SDK retries a 401 (it
// takes it for an expired token) until the call's deadline, and then reports only the
// deadline: the trace keeps what IMDS really said, so a refusal is not called a timeout.
type callTrace struct {
	mu        sync.Mutex
	getStatus int // the last 401 or 403 answered to a GET, 0 if none
	putStatus int // the last non-200 status of the token request, 0 if none
}

type traceKey struct{}

func withTrace(ctx context.Context) (context.Context, *callTrace) {
	tr := &callTrace{}
	return context.WithValue(ctx, traceKey{}, tr), tr
}

func (tr *callTrace) saw(req *http.Request, status int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	switch {
	case req.Method == http.MethodPut && status != http.StatusOK:
		tr.putStatus = status
	case req.Method != http.MethodPut && (status == http.StatusUnauthorized || status == http.StatusForbidden):
		tr.getStatus = status
	}
}

func (tr *callTrace) refused() (get, put int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.getStatus, tr.putStatus
}
