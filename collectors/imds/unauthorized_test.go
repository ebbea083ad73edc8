package imds

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
)

// An IMDS that refuses the agent with 401 (IMDSv2 required and the token refused, or the hop
// limit) is reported as that, not as a timeout: the SDK retries a 401 with a fresh token, and
// used to run into the call's deadline while backing off, hiding the status.
func TestFetchUnauthorizedIsNotATimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		edit func(f *fakeIMDS)
	}{
		{"every GET refused", func(f *fakeIMDS) { f.status = map[string]int{"instance-id": http.StatusUnauthorized} }},
		{"token endpoint refuses, v2 required", func(f *fakeIMDS) { f.v2Only, f.refuseToken = true, http.StatusUnauthorized }},
		{"token endpoint forbidden, v2 required", func(f *fakeIMDS) { f.v2Only, f.refuseToken = true, http.StatusForbidden }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeIMDS{values: multiENIValues()}
			tc.edit(f)
			c := newTestClient(t, Options{Endpoint: startFake(t, f)})
			_, err := c.Fetch(context.Background())
			if err == nil {
				t.Fatal("Fetch succeeded against a refusing IMDS")
			}
			msg := err.Error()
			if !strings.Contains(msg, "HTTP 401") || !strings.Contains(msg, "IMDSv2 token refused") {
				t.Errorf("error %q does not say IMDS refused the token with 401", msg)
			}
			if strings.Contains(msg, "did not answer in time") || errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("a 401 reported as a timeout: %q", msg)
			}
		})
	}
}
