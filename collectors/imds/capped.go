package imds

import (
	"fmt"
	"io"
	"net/http"
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
