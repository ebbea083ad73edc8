package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// apiClient reads the HTTP APIs of Prometheus and Alertmanager.
type apiClient struct {
	base string
	hc   *http.Client
}

func newAPIClient(base string) *apiClient {
	return &apiClient{base: base, hc: &http.Client{Timeout: 10 * time.Second}}
}

// getJSON GETs path?q and decodes the body into out; bodies are bounded.
func (c *apiClient) getJSON(ctx context.Context, path string, q url.Values, out any) error {
	u := c.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return fmt.Errorf("GET %s: reading body: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %.500s", u, resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("GET %s: decoding: %w (%.200s)", u, err, body)
	}
	return nil
}

// promEnvelope is Prometheus' API response wrapper.
type promEnvelope[T any] struct {
	Status    string `json:"status"`
	Data      T      `json:"data"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Warnings  []string
}

func promGet[T any](ctx context.Context, c *apiClient, path string, q url.Values) (T, error) {
	var env promEnvelope[T]
	if err := c.getJSON(ctx, path, q, &env); err != nil {
		return env.Data, err
	}
	if env.Status != "success" {
		return env.Data, fmt.Errorf("%s: %s: %s", path, env.ErrorType, env.Error)
	}
	return env.Data, nil
}

// promAlert is one entry of /api/v1/alerts.
type promAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"` // pending | firing
	ActiveAt    time.Time         `json:"activeAt"`
	Value       string            `json:"value"`
}

func (c *apiClient) alerts(ctx context.Context) ([]promAlert, error) {
	d, err := promGet[struct {
		Alerts []promAlert `json:"alerts"`
	}](ctx, c, "/api/v1/alerts", nil)
	return d.Alerts, err
}

// promResult is the part of a query result the test needs: how many series came back.
type promResult struct {
	ResultType string            `json:"resultType"`
	Result     []json.RawMessage `json:"result"`
}

// instant runs an instant query at the current time.
func (c *apiClient) instant(ctx context.Context, expr string) (promResult, error) {
	return promGet[promResult](ctx, c, "/api/v1/query", url.Values{"query": {expr}})
}

// rangeQuery runs expr over the last span with the given step, as a Grafana graph would.
func (c *apiClient) rangeQuery(ctx context.Context, expr string, span, step time.Duration) (promResult, error) {
	end := time.Now()
	q := url.Values{
		"query": {expr},
		"start": {strconv.FormatInt(end.Add(-span).Unix(), 10)},
		"end":   {strconv.FormatInt(end.Unix(), 10)},
		"step":  {strconv.FormatFloat(step.Seconds(), 'f', -1, 64)},
	}
	return promGet[promResult](ctx, c, "/api/v1/query_range", q)
}

// labelValues returns the values of label on series matching match (Grafana's label_values).
func (c *apiClient) labelValues(ctx context.Context, label, match string) ([]string, error) {
	return promGet[[]string](ctx, c, "/api/v1/label/"+url.PathEscape(label)+"/values", url.Values{"match[]": {match}})
}

// amAlert is one entry of Alertmanager's /api/v2/alerts.
type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State       string   `json:"state"` // active | suppressed | unprocessed
		InhibitedBy []string `json:"inhibitedBy"`
		SilencedBy  []string `json:"silencedBy"`
	} `json:"status"`
}

func (c *apiClient) amAlerts(ctx context.Context) ([]amAlert, error) {
	var out []amAlert
	err := c.getJSON(ctx, "/api/v2/alerts", nil, &out)
	return out, err
}

// alertKey names one alert instance: the alert and the node (or subnet) it is about.
type alertKey struct{ alert, on string }

func (k alertKey) String() string { return k.alert + "{" + k.on + "}" }

// keyOf returns the alert's key: node for node alerts, subnet_id for subnet alerts.
func keyOf(labels map[string]string) alertKey {
	on := labels["node"]
	switch {
	case on == "" && labels["subnet_id"] != "":
		on = "subnet_id=" + labels["subnet_id"]
	case on == "":
		on = "cluster"
	}
	return alertKey{alert: labels["alertname"], on: on}
}

// webhook records what Alertmanager delivers: the first time each alert instance arrived
// firing, and whether it was later sent resolved.
type webhook struct {
	mu       sync.Mutex
	firing   map[alertKey]time.Time
	desc     map[alertKey]string // description of the first firing delivery
	resolved map[alertKey]bool
	posts    int
	bad      []string
}

func newWebhook() *webhook {
	return &webhook{firing: map[alertKey]time.Time{}, desc: map[alertKey]string{}, resolved: map[alertKey]bool{}}
}

// webhookPayload is Alertmanager's webhook body (version 4), reduced to what the test reads.
type webhookPayload struct {
	Version  string `json:"version"`
	Receiver string `json:"receiver"`
	Status   string `json:"status"`
	Alerts   []struct {
		Status      string            `json:"status"`
		Labels      map[string]string `json:"labels"`
		Annotations map[string]string `json:"annotations"`
	} `json:"alerts"`
}

func (w *webhook) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	var p webhookPayload
	err := json.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&p)
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	w.posts++
	if err != nil {
		w.bad = append(w.bad, fmt.Sprintf("undecodable webhook body: %v", err))
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	if p.Version != "4" {
		w.bad = append(w.bad, fmt.Sprintf("webhook payload version %q, want 4", p.Version))
	}
	for _, a := range p.Alerts {
		k := keyOf(a.Labels)
		switch a.Status {
		case "firing":
			if _, seen := w.firing[k]; !seen {
				w.firing[k] = now
				w.desc[k] = a.Annotations["description"]
			}
			// What an on-call person reads must be there on every delivered alert, and the
			// templates' queries must have run against the real Prometheus.
			for _, ann := range []string{"summary", "description", "runbook_url"} {
				v := a.Annotations[ann]
				if v == "" {
					w.bad = append(w.bad, fmt.Sprintf("%s delivered without a %s annotation", k, ann))
				}
				if strings.Contains(v, "error expanding template") || strings.Contains(v, "<no value>") {
					w.bad = append(w.bad, fmt.Sprintf("%s: %s annotation did not render: %s", k, ann, v))
				}
			}
			if a.Labels["severity"] == "" {
				w.bad = append(w.bad, fmt.Sprintf("%s delivered without a severity label", k))
			}
		case "resolved":
			w.resolved[k] = true
		default:
			w.bad = append(w.bad, fmt.Sprintf("%s: unknown status %q", k, a.Status))
		}
	}
	rw.WriteHeader(http.StatusOK)
}

// delivered returns when k first arrived firing.
func (w *webhook) delivered(k alertKey) (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	t, ok := w.firing[k]
	return t, ok
}

// description returns the description k was first delivered with.
func (w *webhook) description(k alertKey) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.desc[k]
}

// snapshot returns a copy of the firing deliveries and the problems seen.
func (w *webhook) snapshot() (map[alertKey]time.Time, []string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := make(map[alertKey]time.Time, len(w.firing))
	for k, v := range w.firing {
		m[k] = v
	}
	return m, append([]string(nil), w.bad...), w.posts
}
