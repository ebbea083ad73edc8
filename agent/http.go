package agent

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/schema"
	"github.com/ipamwatch/ipamwatch/internal/webserver"
	"github.com/ipamwatch/ipamwatch/nodestate"
)

// diagnosisJSON is /diagnosis: the report, and each source's state with its last error
// (why the Kubernetes source is down, for instance: the RBAC rule it lacks).
type diagnosisJSON struct {
	diagnosis.Report
	Sources []sourceJSON `json:"sources"`
}

type sourceJSON struct {
	Name        string    `json:"name"`
	Up          bool      `json:"up"`
	Error       string    `json:"error,omitempty"`
	LastSuccess time.Time `json:"last_success,omitzero"`
}

func sourceList(st nodestate.State) []sourceJSON {
	out := make([]sourceJSON, 0, len(st.Sources))
	for name, s := range st.Sources {
		out = append(out, sourceJSON{Name: name, Up: s.Up, Error: s.Err, LastSuccess: s.LastSuccess})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

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
		rep, st := a.Report()
		sources := sourceList(st)
		if r.URL.Query().Get("format") == "text" {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_ = diagnosis.WriteText(w, rep)
			for _, s := range sources {
				if !s.Up {
					fmt.Fprintf(w, "source %s down: %s\n", s.Name, strconv.QuoteToGraphic(s.Error))
				}
			}
			return
		}
		// The same document as `ipamwatch diagnose --format json` (docs/schemas/diagnose.md).
		w.Header().Set("Content-Type", "application/json")
		_ = schema.Write(w, schema.Diagnose, diagnosisJSON{Report: rep, Sources: sources})
	})
	return mux
}
