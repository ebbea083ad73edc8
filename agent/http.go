package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/version"
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

type server struct {
	srv  *http.Server
	done chan error
	addr net.Addr
}

// serve binds the listen address and serves in the background through exporter-toolkit,
// which adds TLS and basic auth from the web config file.
func (a *Agent) serve(ctx context.Context) (*server, error) {
	if a.cfg.WebConfigFile != "" {
		if err := web.Validate(a.cfg.WebConfigFile); err != nil {
			return nil, fmt.Errorf("web config %s: %w", a.cfg.WebConfigFile, err)
		}
	}
	l, err := net.Listen("tcp", a.cfg.ListenAddress)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", a.cfg.ListenAddress, err)
	}
	srv := &http.Server{
		Handler:           a.mux(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	cfgFile := a.cfg.WebConfigFile
	flags := &web.FlagConfig{WebConfigFile: &cfgFile}
	s := &server{srv: srv, done: make(chan error, 1), addr: l.Addr()}
	a.logger.Info("serving", "address", l.Addr().String(), "tls_auth_config", cfgFile)
	go func() {
		err := web.Serve(l, srv, flags, a.logger)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	return s, nil
}

func (s *server) shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx)
	if serr := <-s.done; err == nil {
		err = serr
	}
	return err
}

func (a *Agent) mux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(a.reg, promhttp.HandlerOpts{
		ErrorLog:            slogErrorLogger{a},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 10,
		Timeout:             10 * time.Second,
		EnableOpenMetrics:   true,
	}))
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
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(diagnosisJSON{Report: rep, Sources: sources})
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html><head><title>ipamwatch</title></head><body>
<h1>ipamwatch</h1><p>%s</p><ul>
<li><a href="metrics">/metrics</a></li>
<li><a href="diagnosis?format=text">/diagnosis</a> (<a href="diagnosis">JSON</a>)</li>
<li><a href="healthz">/healthz</a>, <a href="readyz">/readyz</a></li>
</ul></body></html>
`, html.EscapeString(version.String()))
	})
	return mux
}

type slogErrorLogger struct{ a *Agent }

func (l slogErrorLogger) Println(v ...any) {
	l.a.logger.Error("metrics handler", "err", fmt.Sprint(v...))
}
