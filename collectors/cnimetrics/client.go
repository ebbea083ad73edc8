package cnimetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/nodehttp"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// DefaultURL is aws-node's metrics endpoint (the port is not configurable).
const DefaultURL = "http://127.0.0.1:61678/metrics"

// DefaultTimeout bounds one scrape when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Options configure a Client. The zero value is usable.
type Options struct {
	// Timeout bounds each request, body included (default DefaultTimeout).
	Timeout time.Duration
	// MaxBodyBytes bounds the exposition (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// HTTPClient replaces the client's own (which never uses a proxy).
	HTTPClient *http.Client
}

// Client scrapes aws-node's metrics endpoint and tracks counter increases between Fetches.
type Client struct {
	url     string
	hc      *http.Client
	ownHC   bool
	timeout time.Duration
	limit   int64
	tracker Tracker
}

// NewClient validates rawURL (http or https, with a host) and returns a client.
func NewClient(rawURL string, opts Options) (*Client, error) {
	rawURL = strings.TrimSpace(rawURL)
	if rawURL == "" {
		return nil, errors.New("CNI metrics URL is empty")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("CNI metrics URL %q: %w", rawURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("CNI metrics URL %q: scheme must be http or https", rawURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("CNI metrics URL %q: missing host", rawURL)
	}
	c := &Client{url: u.String(), timeout: opts.Timeout, limit: opts.MaxBodyBytes, hc: opts.HTTPClient}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.limit <= 0 {
		c.limit = DefaultMaxBodyBytes
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: nodehttp.NewTransport()}
		c.ownHC = true
	}
	return c, nil
}

// Close releases idle connections held by the client's own transport.
func (c *Client) Close() {
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
}

// Fetch scrapes once and returns gauges, totals and the counter increases since the previous
// successful Fetch (zero on the first). A failed scrape leaves the tracker untouched, so the
// next success reports everything since the last one.
func (c *Client) Fetch(ctx context.Context) (*nodestate.CNIMetrics, error) {
	s, err := c.FetchSample(ctx)
	if err != nil {
		return nil, err
	}
	return c.tracker.Update(s), nil
}

// FetchSample scrapes once without touching the increase tracking.
func (c *Client) FetchSample(ctx context.Context) (*Sample, error) {
	var s *Sample
	// Ask for the classic text format: it is what Parse reads.
	err := nodehttp.Get(ctx, c.hc, c.url, c.url, "text/plain;version=0.0.4;q=1,*/*;q=0.1", c.timeout, func(body io.Reader) error {
		var err error
		s, err = Parse(body, c.limit)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}
