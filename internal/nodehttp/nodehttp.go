// Package nodehttp is the client side of the agent's node-local HTTP sources, ipamd's
// introspection API and aws-node's metrics endpoint: one transport that never goes through
// a proxy, and one bounded GET with one wording of its errors.
package nodehttp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// errorSnippetBytes is how much of an error answer's body its error quotes.
const errorSnippetBytes = 120

// NewTransport is the transport of a client of one node-local endpoint: no proxy (the
// endpoint is on 127.0.0.1 and a cluster-wide HTTP_PROXY must not see it), a small idle pool
// (one poll at a time), and no header timeout of its own: each request's context bounds the
// whole exchange, body included.
func NewTransport() *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        2,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
	}
}

// Get sends one GET of url with the given Accept header and hands a 200 body to decode,
// all within timeout: a server that drips bytes is cut off when it expires. Errors read
// "GET <shown>: ...", where shown is how the endpoint is named to people (a unix socket's
// path, say); an answer other than 200 quotes the start of its body.
func Get(ctx context.Context, hc *http.Client, url, shown, accept string, timeout time.Duration, decode func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("GET %s: %w", shown, err)
	}
	req.Header.Set("Accept", accept)
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", shown, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		snippet, _ := io.ReadAll(io.LimitReader(resp.Body, errorSnippetBytes))
		return fmt.Errorf("GET %s: HTTP %d: %s", shown, resp.StatusCode, strconv.Quote(strings.TrimSpace(string(snippet))))
	}
	if err := decode(resp.Body); err != nil {
		// A decoder that failed because the deadline cut the body says so.
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			return fmt.Errorf("GET %s: %w (%w)", shown, ctxErr, err)
		}
		return fmt.Errorf("GET %s: %w", shown, err)
	}
	return nil
}
