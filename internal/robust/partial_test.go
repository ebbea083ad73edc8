package robust_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/ipamwatch/ipamwatch/agent"
	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// TestPartialIPAMDAnswerIsVisible: ipamd answers /v1/enis but its optional routes fail. The
// source stays up (the ENI data is good), and /diagnosis, JSON and text, names the routes
// that failed instead of leaving them silent.
func TestPartialIPAMDAnswerIsVisible(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/enis":
			_, _ = w.Write([]byte(`{"0":{"TotalIPs":9,"AssignedIPs":1,"ENIs":{"eni-0a1b2c3d4e5f60718":{"ID":"eni-0a1b2c3d4e5f60718","IsPrimary":true,"AvailableIPv4Cidrs":{"10.0.0.5/32":{"IPAddresses":{"10.0.0.5":{"IPAMKey":{"networkName":"aws-cni"}}}}}}}}}`))
		case "/v1/eni-configs":
			http.NotFound(w, r)
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	t.Cleanup(srv.Close)
	base := runAgent(t, agent.Config{IPAMDAddress: srv.URL, DisableIMDS: true, IntervalIPAMD: time.Second})
	var rep struct {
		Partial []string `json:"partial"`
	}
	testtools.WaitFor(t, waitLimit, "the partial answer in /diagnosis", func() bool {
		_, body, err := get(base+"/diagnosis", scrapeBound)
		return err == nil && json.Unmarshal([]byte(body), &rep) == nil && len(rep.Partial) > 0
	})
	joined := strings.Join(rep.Partial, "\n")
	for _, want := range []string{"ipamd: ", "/v1/eni-configs: HTTP 404", "/v1/ipamd-env-settings: HTTP 500", "/v1/networkutils-env-settings: HTTP 500"} {
		if !strings.Contains(joined, want) {
			t.Errorf("/diagnosis partial %q lacks %q", joined, want)
		}
	}
	if up, ok := sample(scrape(t, base), `ipamwatch_source_up{source="ipamd"}`); !ok || up != 1 {
		t.Errorf("ipamd source_up = %v (present %v), want 1: the ENI data is good", up, ok)
	}
	_, text, err := get(base+"/diagnosis?format=text", scrapeBound)
	if err != nil || !strings.Contains(text, "  partial    ipamd: ") {
		t.Errorf("text report lacks the partial line (err %v):\n%s", err, text)
	}
}
