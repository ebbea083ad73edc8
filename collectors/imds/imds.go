// Package imds reads the instance metadata service (IMDS) of the EC2 instance the agent runs
// on: who the instance is (id, type, region, zone) and, for every attached network interface,
// the subnet, VPC and addresses EC2 has given it. It owns the client (IMDSv2 token flow through
// the AWS SDK, bounded in time and in size) and the decoding of IMDS answers into
// nodestate.Metadata; it knows nothing about metrics.
package imds

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	sdkimds "github.com/aws/aws-sdk-go-v2/feature/ec2/imds"

	"github.com/ipamwatch/ipamwatch/nodestate"
)

const (
	// DefaultTimeout bounds one IMDS call, retries included.
	DefaultTimeout = 2 * time.Second
	// DefaultRetries is how many times a failed call is retried when Options.Retries is 0.
	DefaultRetries = 2
	// maxRetries keeps a misconfiguration from turning one poll into minutes of retrying.
	maxRetries = 10
	// maxBody bounds one IMDS answer, the IMDSv2 token included (cappedTransport). The
	// largest legitimate answers (a list of 50 local addresses, the identity document) are a
	// few KiB; a token is about 60 bytes.
	maxBody = 64 << 10
	// dialTimeout: IMDS is link-local, so a connection that takes longer is not coming.
	dialTimeout = 250 * time.Millisecond
)

// ErrNotFound marks a metadata path the service answered with 404. For list paths
// (local-ipv4s, ipv4-prefix, ipv6s, ...) IMDS uses 404 to say "empty".
var ErrNotFound = errors.New("imds: path not found")

// Options configures a Client.
type Options struct {
	// Endpoint is the IMDS base URL, e.g. "http://127.0.0.1:1338". Empty means the SDK
	// default (AWS_EC2_METADATA_SERVICE_ENDPOINT if set, else http://169.254.169.254).
	Endpoint string
	// Timeout bounds each call to IMDS, token request and retries included. 0 means
	// DefaultTimeout.
	Timeout time.Duration
	// Retries is how many times one failed call is retried. 0 means DefaultRetries; a
	// negative value disables retries. At most 10.
	Retries int
}

// Client reads instance metadata. It is safe for concurrent use; reuse one Client across
// polls so the IMDSv2 session token is cached (the SDK refreshes it before it expires).
type Client struct {
	sdk       *sdkimds.Client
	transport *http.Transport
	timeout   time.Duration
}

// NewClient validates opts and builds a Client. It does not contact IMDS.
func NewClient(opts Options) (*Client, error) {
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("imds: timeout must not be negative, got %s", opts.Timeout)
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	retries := opts.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	case retries > maxRetries:
		return nil, fmt.Errorf("imds: retries must be at most %d, got %d", maxRetries, opts.Retries)
	}
	if opts.Endpoint != "" {
		if err := checkEndpoint(opts.Endpoint); err != nil {
			return nil, err
		}
	}

	// We own the transport instead of taking the SDK's default for two reasons: IMDS must
	// never be reached through HTTP_PROXY (the SDK default honors proxy variables, which in
	// a proxied cluster sends 169.254.169.254 to the proxy), and Close can release idle
	// connections. The timeouts match the SDK's fail-fast defaults, except the header
	// timeout, which follows our per-call timeout.
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          2,
		MaxIdleConnsPerHost:   2,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		DisableCompression:    true,
	}
	sdk := sdkimds.New(sdkimds.Options{
		Endpoint: opts.Endpoint,
		// Every answer, the IMDSv2 token included, is capped below the SDK (see capped.go).
		HTTPClient: &http.Client{Transport: &cappedTransport{next: tr, limit: maxBody}},
		Retryer: retry.NewStandard(func(o *retry.StandardOptions) {
			o.MaxAttempts = retries + 1
			// The default token bucket turns a long outage into "retry quota exceeded"
			// errors that outlive the outage; the per-call timeout bounds us instead.
			o.RateLimiter = ratelimit.None
			// Nothing listening (connection refused) will not change within one call:
			// give up at once so a node without IMDS fails fast with the real cause.
			o.Retryables = append([]retry.IsErrorRetryable{retry.IsErrorRetryableFunc(refusedIsFinal)}, o.Retryables...)
		}),
		// Our context deadline (opts.Timeout) replaces the SDK's fixed 5 s.
		DisableDefaultTimeout: true,
	})
	return &Client{sdk: sdk, transport: tr, timeout: opts.Timeout}, nil
}

func refusedIsFinal(err error) aws.Ternary {
	if errors.Is(err, syscall.ECONNREFUSED) {
		return aws.FalseTernary
	}
	return aws.UnknownTernary
}

func checkEndpoint(ep string) error {
	rest, ok := strings.CutPrefix(ep, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(ep, "https://")
	}
	if !ok || rest == "" || strings.ContainsAny(rest, " \t\n?#") {
		return fmt.Errorf("imds: endpoint %q is not an http(s)://host[:port] URL", ep)
	}
	return nil
}

// Close releases idle connections. The Client must not be used afterwards.
func (c *Client) Close() {
	c.transport.CloseIdleConnections()
}

// Fetch reads the instance identity and every attached interface. Required values missing
// (404) or malformed give an error; optional ones are left empty. The first call that
// cannot reach IMDS ends the fetch, so a dead or hung endpoint costs about one Timeout.
func (c *Client) Fetch(ctx context.Context) (*nodestate.Metadata, error) {
	md, err := assemble(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("imds: %w", err)
	}
	return md, nil
}

// get returns the trimmed body of one metadata path, ErrNotFound on 404.
func (c *Client) get(ctx context.Context, path string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx, trace := withTrace(ctx)
	out, err := c.sdk.GetMetadata(ctx, &sdkimds.GetMetadataInput{Path: path})
	if err != nil {
		return "", classify(path, err, trace)
	}
	defer func() { _ = out.Content.Close() }()
	// The SDK has already buffered the answer under cappedTransport's cap; this bound stays
	// so that get does not depend on how the SDK hands the body over.
	b, err := io.ReadAll(io.LimitReader(out.Content, maxBody+1))
	if err != nil {
		return "", fmt.Errorf("reading %s: %w", path, err)
	}
	if len(b) > maxBody {
		return "", fmt.Errorf("reading %s: answer larger than %d bytes", path, maxBody)
	}
	return strings.TrimSpace(string(b)), nil
}

// tokenNote says what the token request got, when it was refused too.
func tokenNote(put int) string {
	if put == 0 {
		return ""
	}
	return fmt.Sprintf("; the token request got HTTP %d", put)
}

// region reads the region from the instance identity document (older IMDS versions lack
// placement/region).
func (c *Client) region(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	ctx, trace := withTrace(ctx)
	out, err := c.sdk.GetRegion(ctx, &sdkimds.GetRegionInput{})
	if err != nil {
		return "", classify("dynamic/instance-identity/document", err, trace)
	}
	return out.Region, nil
}

// ErrRefused marks IMDS answering 401 or 403: it is there, and says no.
var ErrRefused = errors.New("IMDS refused the request")

// classify turns SDK errors into ErrNotFound or a short error that says what went wrong. A
// refusal IMDS answered during the call (trace) wins over the deadline the SDK's retries of
// it ran into.
func classify(path string, err error, trace *callTrace) error {
	// Checked first: the SDK may wrap the read error together with the response status.
	var tooLarge *tooLargeError
	if errors.As(err, &tooLarge) {
		return fmt.Errorf("reading %s: %w", path, tooLarge)
	}
	var status interface{ HTTPStatusCode() int }
	code := 0
	if errors.As(err, &status) {
		code = status.HTTPStatusCode()
	}
	get, put := 0, 0
	if trace != nil {
		get, put = trace.refused()
	}
	if code == 0 || code == http.StatusUnauthorized || code == http.StatusForbidden {
		if get != 0 {
			code = get
		}
	}
	switch code {
	case 0:
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", path, ErrNotFound)
	// The SDK's error is kept as text, not wrapped: after a refusal it is the deadline its
	// retries ran into, and errors.Is(err, context.DeadlineExceeded) must not call it a timeout.
	case http.StatusUnauthorized:
		return fmt.Errorf("reading %s: %w: IMDSv2 token refused (HTTP 401%s): the instance requires IMDSv2 and did not accept the session token; check its metadata options (HttpTokens, HttpPutResponseHopLimit); SDK: %s",
			path, ErrRefused, tokenNote(put), err.Error())
	case http.StatusForbidden:
		return fmt.Errorf("reading %s: %w: HTTP 403%s: instance metadata access is disabled or denied (HttpEndpoint, or a policy on the path); SDK: %s",
			path, ErrRefused, tokenNote(put), err.Error())
	default:
		return fmt.Errorf("reading %s: HTTP %d: %w", path, code, err)
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("reading %s: canceled: %w", path, err)
	}
	if put != 0 {
		return fmt.Errorf("reading %s: the IMDSv2 token request got HTTP %d: %w", path, put, err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("reading %s: IMDS did not answer in time: %w", path, err)
	}
	return fmt.Errorf("reading %s: IMDS unreachable: %w", path, err)
}
