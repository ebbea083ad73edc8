package subnets

import (
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/ipamwatch/ipamwatch/internal/webserver"
)

// MetricsTimeout bounds one scrape's gather. The collector serves the last poll, so this
// only matters when a lock is stuck; the server's write timeout is set above it.
const MetricsTimeout = 30 * time.Second

// Mux routes the exporter's endpoints: metrics from reg at telemetryPath, /healthz (process
// alive) and /readyz (ready once ready reports true: the replica has joined the election
// or, without election, started polling). The landing page, web config, limits and method
// checks come from internal/webserver, which serves this mux.
func Mux(reg *prometheus.Registry, ready *atomic.Bool, telemetryPath string, logger *slog.Logger) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(telemetryPath, webserver.MetricsHandler(reg, logger, MetricsTimeout))
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
	return mux
}

// NewRegistry returns a registry with the subnet collector and the Go/process collectors.
// ipamwatch_build_info stays the node agent's: the dashboards count agents with it.
func NewRegistry(p *Poller) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(p), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}
