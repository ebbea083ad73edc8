package agent

import (
	"net/http"
	"time"

	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/schema"
	"github.com/ipamwatch/ipamwatch/internal/webserver"
)

// metricsTimeout bounds one scrape's gather; the collector reads the last snapshot, so a
// slow gather means a stuck lock, not a slow upstream.
const metricsTimeout = 10 * time.Second

// server builds the agent's HTTP server (internal/webserver: exporter-toolkit's web config
// and landing page, timeouts, connection cap, GET and HEAD only).
func (a *Agent) server() (*webserver.Server, error) {
	return webserver.New(webserver.Config{
		ListenAddresses: a.cfg.ListenAddresses,
		SystemdSocket:   a.cfg.SystemdSocket,
		WebConfigFile:   a.cfg.WebConfigFile,
		MaxConnections:  a.cfg.MaxConnections,
		WriteTimeout:    metricsTimeout + 5*time.Second,
		Logger:          a.logger,
		Landing: web.LandingConfig{
			Name:        "ipamwatch",
			Description: "Why pods on this node cannot get an IP address from the VPC CNI",
			Version:     version.Info(),
			Links: []web.LandingLinks{
				{Address: a.cfg.TelemetryPath, Text: "Metrics", Description: "the node's IP capacity, ceilings, findings and source health"},
				{Address: "/diagnosis?format=text", Text: "Diagnosis", Description: "the current findings as text (/diagnosis for JSON)"},
				{Address: "/healthz", Text: "Health", Description: "the process is alive"},
				{Address: "/readyz", Text: "Readiness", Description: "every source was polled once and a diagnosis exists"},
			},
		},
	}, a.mux())
}

// mux routes the agent's endpoints; the landing page at "/" comes from internal/webserver.
func (a *Agent) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle(a.cfg.TelemetryPath, webserver.MetricsHandler(a.reg, a.logger, metricsTimeout))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if !a.Ready() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: first poll of every source not finished\n"))
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/diagnosis", func(w http.ResponseWriter, r *http.Request) {
		rep, _ := a.Report()
		if r.URL.Query().Get("format") == "text" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_ = diagnosis.WriteText(w, rep)
			return
		}
		// The same document as `ipamwatch diagnose --format json` (docs/schemas/diagnose.md).
		w.Header().Set("Content-Type", "application/json")
		_ = schema.Write(w, schema.Diagnose, rep)
	})
	return mux
}
