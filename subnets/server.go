package subnets

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
)

// ServeConfig configures the HTTP side of `ipamwatch subnets` in run mode.
type ServeConfig struct {
	ListenAddress string // e.g. ":9714"
	WebConfigFile string // exporter-toolkit web config (TLS, basic auth); empty = plain HTTP
	Logger        *slog.Logger
}

// Handler returns the mux: /metrics from reg, /healthz (process alive), /readyz (ready once
// ready reports true: the replica has joined the election or, without election, started
// polling) and a small landing page.
func Handler(reg *prometheus.Registry, ready *atomic.Bool, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorLog:            slog.NewLogLogger(logger.Handler(), slog.LevelError),
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 10,
		Timeout:             30 * time.Second,
	}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprint(w, `<html><head><title>ipamwatch subnets</title></head><body><h1>ipamwatch subnets</h1>
<ul><li><a href="metrics">/metrics</a></li><li><a href="healthz">/healthz</a>, <a href="readyz">/readyz</a></li></ul></body></html>`)
	})
	return mux
}

// NewRegistry returns a registry with the subnet collector and the Go/process collectors.
func NewRegistry(p *Poller) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(p), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Serve listens on cfg.ListenAddress and serves h until ctx ends, then shuts down within
// five seconds. bound (may be nil) receives the bound address once listening.
func Serve(ctx context.Context, cfg ServeConfig, h http.Handler, bound func(net.Addr)) error {
	if cfg.WebConfigFile != "" {
		if err := web.Validate(cfg.WebConfigFile); err != nil {
			return fmt.Errorf("web config %s: %w", cfg.WebConfigFile, err)
		}
	}
	l, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", cfg.ListenAddress, err)
	}
	if bound != nil {
		bound(l.Addr())
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	file := cfg.WebConfigFile
	done := make(chan error, 1)
	go func() { done <- web.Serve(l, srv, &web.FlagConfig{WebConfigFile: &file}, cfg.Logger) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-done; err == nil && !errors.Is(serr, http.ErrServerClosed) {
		err = serr
	}
	return err
}
