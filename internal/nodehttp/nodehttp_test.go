package nodehttp

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestGet(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/ok":
			_, _ = io.WriteString(w, r.Header.Get("Accept"))
		case "/busy":
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "  datastore busy\n"+strings.Repeat("x", 500))
		case "/drip":
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		}
	}))
	t.Cleanup(srv.Close)
	hc := &http.Client{Transport: NewTransport()}
	t.Cleanup(hc.CloseIdleConnections)
	read := func(got *string) func(io.Reader) error {
		return func(r io.Reader) error {
			b, err := io.ReadAll(r)
			*got = string(b)
			return err
		}
	}

	var body string
	if err := Get(t.Context(), hc, srv.URL+"/ok", "ipamd/ok", "application/json", 5*time.Second, read(&body)); err != nil || body != "application/json" {
		t.Errorf("200: body %q, err %v", body, err)
	}

	err := Get(t.Context(), hc, srv.URL+"/busy", "ipamd/busy", "application/json", 5*time.Second, read(&body))
	if err == nil || !strings.HasPrefix(err.Error(), `GET ipamd/busy: HTTP 500: "datastore busy\n`) || len(err.Error()) > 200 {
		t.Errorf("500: %v", err)
	}

	bad := errors.New("bad body")
	err = Get(t.Context(), hc, srv.URL+"/ok", "ipamd/ok", "", 5*time.Second, func(io.Reader) error { return bad })
	if !errors.Is(err, bad) || !strings.HasPrefix(err.Error(), "GET ipamd/ok: ") {
		t.Errorf("decode error: %v", err)
	}

	// A body cut off by the deadline names the deadline as well as the decoder's error.
	err = Get(t.Context(), hc, srv.URL+"/drip", "ipamd/drip", "", 100*time.Millisecond, read(&body))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("dripping body: %v", err)
	}
}
