// Package webserver is the one HTTP server of ipamwatch's two exporters, the node agent
// (`ipamwatch run`) and the cluster-level subnet exporter (`ipamwatch subnets`). It is built
// on exporter-toolkit, as node_exporter is: the listener flags (kingpinflag: listen
// addresses, systemd socket activation), TLS and basic auth from the web config file, and
// the landing page. On top it adds what a process on the host network must have: read,
// write and idle timeouts, a cap on header bytes and on concurrent connections per listener
// (idle keep-alive connections cost a goroutine and buffers each), and only GET and HEAD.
package webserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/netutil"
)

// Defaults of Config. Scrapers are a few Prometheus replicas and the odd curl: 64
// connections is far above need and caps what idle connections can cost at about 1.5 MiB
// (about 22 KiB each, measured with 10,000 of them).
const (
	DefaultMaxConnections    = 64
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultReadTimeout       = 15 * time.Second
	DefaultWriteTimeout      = time.Minute
	DefaultIdleTimeout       = time.Minute
	DefaultShutdownTimeout   = 5 * time.Second
	// DefaultMaxHeaderBytes bounds a request's header: a scrape sends well under 1 KiB, and
	// net/http's own default (1 MiB) times 64 connections would be half the agent's memory limit.
	DefaultMaxHeaderBytes = 16 << 10
)

// Config is one server.
type Config struct {
	// ListenAddresses are host:port pairs; each gets its own listener. Ignored with SystemdSocket.
	ListenAddresses []string
	// SystemdSocket takes the listeners systemd passes (socket activation) instead.
	SystemdSocket bool
	// WebConfigFile is an exporter-toolkit web configuration (TLS, basic auth); empty = plain HTTP.
	WebConfigFile string
	// Landing is the page served at "/". Profiling links are hidden: no pprof is served.
	Landing web.LandingConfig

	// MaxConnections is the most connections served at once per listener; more wait in the
	// kernel's accept queue until one closes. 0 = DefaultMaxConnections.
	MaxConnections int
	// Timeouts; 0 takes the default above. WriteTimeout must exceed the slowest handler's time.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout, ShutdownTimeout time.Duration
	// MaxHeaderBytes; 0 = DefaultMaxHeaderBytes.
	MaxHeaderBytes int

	Logger *slog.Logger
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	def(&c.ReadTimeout, DefaultReadTimeout)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.IdleTimeout, DefaultIdleTimeout)
	def(&c.ShutdownTimeout, DefaultShutdownTimeout)
	if c.MaxConnections <= 0 {
		c.MaxConnections = DefaultMaxConnections
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Landing.Profiling = "false"
}

// Server serves one handler on every configured listener.
type Server struct {
	cfg       Config
	handler   http.Handler
	listeners []net.Listener
}

// New validates cfg (the web config file included) and builds the server around mux. The
// landing page is added at "/" unless mux already routes it; every route answers only GET
// and HEAD (405 with an Allow header otherwise).
func New(cfg Config, mux *http.ServeMux) (*Server, error) {
	cfg.defaults()
	if !cfg.SystemdSocket && len(cfg.ListenAddresses) == 0 {
		return nil, errors.New("no listen address (--web.listen-address) and no systemd socket (--web.systemd-socket)")
	}
	if cfg.WebConfigFile != "" {
		if err := web.Validate(cfg.WebConfigFile); err != nil {
			return nil, fmt.Errorf("web config %s: %w", cfg.WebConfigFile, err)
		}
	}
	if _, pattern := mux.Handler(&http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/"}}); pattern == "" {
		landing, err := web.NewLandingPage(cfg.Landing)
		if err != nil {
			return nil, fmt.Errorf("landing page: %w", err)
		}
		mux.Handle("/", landing)
	}
	return &Server{cfg: cfg, handler: onlyGetHead(mux)}, nil
}

// Listen binds the listeners (or takes systemd's). Errors name the address.
func (s *Server) Listen() error {
	var ls []net.Listener
	if s.cfg.SystemdSocket {
		var err error
		ls, err = activation.Listeners()
		if err != nil {
			return fmt.Errorf("systemd socket activation: %w", err)
		}
		if len(ls) == 0 {
			return errors.New("systemd socket activation: no listening sockets passed")
		}
	} else {
		for _, addr := range s.cfg.ListenAddresses {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				for _, o := range ls {
					_ = o.Close()
				}
				return fmt.Errorf("listening on %s: %w", addr, err)
			}
			ls = append(ls, l)
		}
	}
	for i, l := range ls {
		ls[i] = netutil.LimitListener(l, s.cfg.MaxConnections)
	}
	s.listeners = ls
	return nil
}

// Addrs are the bound addresses, after Listen.
func (s *Server) Addrs() []net.Addr {
	out := make([]net.Addr, 0, len(s.listeners))
	for _, l := range s.listeners {
		out = append(out, l.Addr())
	}
	return out
}

// Serve serves on the listeners Listen bound until ctx ends or one of them fails; then it
// shuts every listener down, waiting up to ShutdownTimeout for requests in flight. It
// returns nil after a shutdown caused by ctx.
func (s *Server) Serve(ctx context.Context) error {
	if len(s.listeners) == 0 {
		return errors.New("webserver: Serve before Listen")
	}
	// One http.Server per listener: exporter-toolkit's Serve wraps the server's handler
	// (basic auth) in place, which must not happen twice on one shared server.
	servers := make([]*http.Server, len(s.listeners))
	errc := make(chan error, len(s.listeners))
	toolkitFlags := &web.FlagConfig{WebConfigFile: &s.cfg.WebConfigFile}
	for i, l := range s.listeners {
		srv := &http.Server{
			Handler:           s.handler,
			ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
			ReadTimeout:       s.cfg.ReadTimeout,
			WriteTimeout:      s.cfg.WriteTimeout,
			IdleTimeout:       s.cfg.IdleTimeout,
			MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(s.cfg.Logger.Handler(), slog.LevelDebug), // TLS handshake noise
		}
		servers[i] = srv
		go func() {
			err := web.Serve(l, srv, toolkitFlags, s.cfg.Logger)
			if errors.Is(err, http.ErrServerClosed) {
				err = nil
			}
			errc <- err
		}()
	}
	var first error
	received := 0
	select {
	case <-ctx.Done():
	case first = <-errc:
		received++
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.Shutdown(sctx); err != nil {
				_ = srv.Close() // requests still running after the grace period are cut
			}
		})
	}
	wg.Wait()
	for ; received < len(servers); received++ {
		if err := <-errc; first == nil {
			first = err
		}
	}
	return first
}

// onlyGetHead answers 405 to every method but GET and HEAD: nothing here changes state,
// and a scanner's POST or PROPFIND should not look like success.
func onlyGetHead(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed: only GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// MetricsHandler serves reg at the telemetry path of either exporter: gather errors are
// logged through the one error-log adapter and the rest is still served, concurrent scrapes
// are capped, and a gather slower than timeout answers 503.
func MetricsHandler(reg prometheus.Gatherer, logger *slog.Logger, timeout time.Duration) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            errorLog{logger},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 10,
		Timeout:             timeout,
		EnableOpenMetrics:   true,
	})
}

// errorLog adapts slog to promhttp's Logger.
type errorLog struct{ logger *slog.Logger }

func (l errorLog) Println(v ...any) {
	l.logger.Error("serving metrics", "err", fmt.Sprint(v...))
}
