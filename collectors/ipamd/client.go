package ipamd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/ipamwatch/ipamwatch/internal/limitio"
	"github.com/ipamwatch/ipamwatch/internal/nodehttp"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// DefaultAddress is where ipamd serves introspection unless INTROSPECTION_BIND_ADDRESS says otherwise.
const DefaultAddress = "http://127.0.0.1:61679"

// DefaultTimeout bounds each introspection request when Options.Timeout is zero.
const DefaultTimeout = 5 * time.Second

// Introspection routes.
const (
	PathENIs            = "/v1/enis"
	PathENIConfigs      = "/v1/eni-configs"
	PathIPAMDEnv        = "/v1/ipamd-env-settings"
	PathNetworkUtilsEnv = "/v1/networkutils-env-settings"
)

// ErrPartial marks a fetch whose required /v1/enis call succeeded while one or more optional
// routes failed; Fetch then returns the state, complete except for those routes, with a
// *PartialError.
var ErrPartial = errors.New("some optional ipamd routes failed")

// PartialError lists the optional routes that failed during a Fetch, keyed by path.
// errors.Is(err, ErrPartial) is true, and errors.Is/As see each route's error.
type PartialError struct {
	Routes map[string]error
}

func (e *PartialError) Error() string {
	paths := make([]string, 0, len(e.Routes))
	for p := range e.Routes {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	parts := make([]string, 0, len(paths))
	for _, p := range paths {
		parts = append(parts, e.Routes[p].Error())
	}
	return "ipamd optional routes failed: " + strings.Join(parts, "; ")
}

// Is makes errors.Is(err, ErrPartial) true.
func (e *PartialError) Is(target error) bool { return target == ErrPartial }

// Unwrap exposes the per-route errors.
func (e *PartialError) Unwrap() []error {
	errs := make([]error, 0, len(e.Routes))
	for _, err := range e.Routes {
		errs = append(errs, err)
	}
	return errs
}

// Options configure a Client. The zero value is usable.
type Options struct {
	// Timeout bounds each request, body included (default DefaultTimeout).
	Timeout time.Duration
	// MaxBodyBytes bounds each body (default DefaultMaxBodyBytes).
	MaxBodyBytes int64
	// HTTPClient replaces the client's own for http:// addresses; not allowed with unix:.
	HTTPClient *http.Client
	// Cooldown is the node's IP_COOLDOWN_PERIOD (0 = DefaultCooldown, negative = none).
	Cooldown time.Duration
	// Now is the clock used to judge cooldown (default time.Now).
	Now func() time.Time
}

// Client reads ipamd's introspection endpoint. It is safe for concurrent use. Each request
// writes a line into ipamd.log, so poll on an interval and serve from the last snapshot.
type Client struct {
	base     string // scheme://host, no trailing slash
	display  string // what error messages call the endpoint
	hc       *http.Client
	ownHC    bool
	timeout  time.Duration
	limit    int64
	cooldown time.Duration
	now      func() time.Time
}

// NewClient validates address ("http://127.0.0.1:61679", a bare "127.0.0.1:61679" as
// INTROSPECTION_BIND_ADDRESS writes it, or "unix:/path/to.sock") and returns a client.
func NewClient(address string, opts Options) (*Client, error) {
	c := &Client{
		timeout:  opts.Timeout,
		limit:    opts.MaxBodyBytes,
		cooldown: opts.Cooldown,
		now:      opts.Now,
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	if c.limit <= 0 {
		c.limit = DefaultMaxBodyBytes
	}
	switch {
	case c.cooldown == 0:
		c.cooldown = DefaultCooldown
	case c.cooldown < 0:
		c.cooldown = 0
	}
	if c.now == nil {
		c.now = time.Now
	}
	address = strings.TrimSpace(address)
	if address == "" {
		return nil, errors.New("ipamd address is empty")
	}

	if sock, ok := strings.CutPrefix(address, "unix:"); ok {
		sock = strings.TrimPrefix(sock, "//") // accept unix:///path as well as unix:/path
		if !strings.HasPrefix(sock, "/") {
			return nil, fmt.Errorf("ipamd address %q: unix socket path must be absolute", address)
		}
		if opts.HTTPClient != nil {
			return nil, fmt.Errorf("ipamd address %q: a custom HTTPClient cannot be combined with a unix socket", address)
		}
		var d net.Dialer
		tr := nodehttp.NewTransport()
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", sock)
		}
		c.hc, c.ownHC = &http.Client{Transport: tr}, true
		c.base = "http://ipamd" // the host is ignored by the dialer
		c.display = "unix:" + sock
		return c, nil
	}

	if !strings.Contains(address, "://") {
		address = "http://" + address
	}
	u, err := url.Parse(address)
	if err != nil {
		return nil, fmt.Errorf("ipamd address %q: %w", address, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("ipamd address %q: scheme must be http, https or unix", address)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("ipamd address %q: missing host", address)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("ipamd address %q: give scheme and host:port only, no path", address)
	}
	c.base = u.Scheme + "://" + u.Host
	c.display = c.base
	if opts.HTTPClient != nil {
		c.hc = opts.HTTPClient
	} else {
		c.hc, c.ownHC = &http.Client{Transport: nodehttp.NewTransport()}, true
	}
	return c, nil
}

// Close releases idle connections held by the client's own transport.
func (c *Client) Close() {
	if c.ownHC {
		c.hc.CloseIdleConnections()
	}
}

// Fetch reads /v1/enis (required) and then /v1/eni-configs and both env-settings routes
// (optional). When /v1/enis fails it returns nil and that error. When only optional routes
// fail it returns the state, their fields left empty, together with a *PartialError
// (errors.Is(err, ErrPartial)): ipamd is up, and what it did not say is reported, not hidden.
func (c *Client) Fetch(ctx context.Context) (*nodestate.IPAMD, error) {
	var st *nodestate.IPAMD
	err := c.get(ctx, PathENIs, func(body io.Reader) error {
		var err error
		st, err = DecodeENIsReaderAt(body, c.limit, c.now(), c.cooldown)
		return err
	})
	if err != nil {
		return nil, err
	}

	failed := map[string]error{}
	if err := c.get(ctx, PathENIConfigs, func(body io.Reader) error {
		data, err := readAllBounded(body, c.limit)
		if err != nil {
			return err
		}
		st.ENIConfig, err = DecodeENIConfig(data)
		return err
	}); err != nil {
		failed[PathENIConfigs] = err
	}
	for _, r := range []struct {
		path string
		dst  *map[string]string
	}{{PathIPAMDEnv, &st.Env}, {PathNetworkUtilsEnv, &st.NetworkUtilsEnv}} {
		if err := c.get(ctx, r.path, func(body io.Reader) error {
			data, err := readAllBounded(body, c.limit)
			if err != nil {
				return err
			}
			*r.dst, err = DecodeEnvSettings(data)
			return err
		}); err != nil {
			failed[r.path] = err
		}
	}
	if len(failed) > 0 {
		return st, &PartialError{Routes: failed}
	}
	return st, nil
}

// get performs one bounded GET (internal/nodehttp) and hands a 200 body to decode.
func (c *Client) get(ctx context.Context, path string, decode func(io.Reader) error) error {
	return nodehttp.Get(ctx, c.hc, c.base+path, c.display+path, "application/json", c.timeout, decode)
}

func readAllBounded(r io.Reader, limit int64) ([]byte, error) {
	return io.ReadAll(limitio.Reader(r, limit, ErrBodyTooLarge))
}
