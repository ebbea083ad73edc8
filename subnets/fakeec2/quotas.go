package fakeec2

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Service Quotas speaks the AWS JSON 1.1 protocol: POST / with the operation in X-Amz-Target
// (ServiceQuotasV20190624.<Operation>) and a JSON body; errors are {"__type", "Message"}.

// Quota is an applied service quota.
type Quota struct {
	ServiceCode, ServiceName, QuotaCode, QuotaName string
	Value                                          float64
}

const quotasTarget = "ServiceQuotasV20190624."

func (s *Server) serveQuotas(w http.ResponseWriter, r *http.Request) {
	op, ok := strings.CutPrefix(r.Header.Get("X-Amz-Target"), quotasTarget)
	if r.Method != http.MethodPost || !ok {
		writeJSONError(w, apiError{http.StatusBadRequest, "UnknownOperationException", "expected POST with X-Amz-Target " + quotasTarget + "<Operation>"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writeJSONError(w, apiError{http.StatusBadRequest, "SerializationException", err.Error()})
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[op]++
	s.requests = append(s.requests, url.Values{"Action": {op}, "Body": {string(body)}})
	switch op {
	case "GetServiceQuota":
		var in struct{ ServiceCode, QuotaCode string }
		if err := json.Unmarshal(body, &in); err != nil {
			writeJSONError(w, apiError{http.StatusBadRequest, "SerializationException", err.Error()})
			return
		}
		if in.ServiceCode == "" || in.QuotaCode == "" {
			writeJSONError(w, apiError{http.StatusBadRequest, "ValidationException", "ServiceCode and QuotaCode are required"})
			return
		}
		i := slices.IndexFunc(s.Quotas, func(q Quota) bool { return q.ServiceCode == in.ServiceCode && q.QuotaCode == in.QuotaCode })
		if i < 0 {
			writeJSONError(w, apiError{http.StatusBadRequest, "NoSuchResourceException",
				fmt.Sprintf("The request failed because the specified quota %s of service %s does not exist.", in.QuotaCode, in.ServiceCode)})
			return
		}
		q := s.Quotas[i]
		writeJSON(w, "application/x-amz-json-1.1", map[string]any{"Quota": map[string]any{
			"ServiceCode": q.ServiceCode, "ServiceName": q.ServiceName, "QuotaCode": q.QuotaCode, "QuotaName": q.QuotaName,
			"QuotaArn": fmt.Sprintf("arn:aws:servicequotas:%s:%s:%s/%s", regionOf(r), Account, q.ServiceCode, q.QuotaCode),
			"Value":    jsonDouble(q.Value), "Unit": "None", "Adjustable": true, "GlobalQuota": false,
		}})
	default:
		writeJSONError(w, apiError{http.StatusBadRequest, "UnknownOperationException", "unknown operation " + op})
	}
}

// jsonDouble writes a double the way AWS's JSON services do: with a fraction even when it
// is whole (5000.0), which the CLI then prints as a float.
func jsonDouble(v float64) json.RawMessage {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	if !strings.ContainsAny(s, ".eE") {
		s += ".0"
	}
	return json.RawMessage(s)
}

// regionOf returns the region of the request's SigV4 credential scope.
func regionOf(r *http.Request) string {
	_, rest, _ := strings.Cut(r.Header.Get("Authorization"), "Credential=")
	parts := strings.Split(strings.SplitN(rest, ",", 2)[0], "/")
	if len(parts) == 5 {
		return parts[2]
	}
	return ""
}

func writeJSON(w http.ResponseWriter, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeJSONError(w, apiError{http.StatusInternalServerError, "InternalFailure", err.Error()})
		return
	}
	w.Header().Set("Content-Type", contentType)
	_, _ = w.Write(b)
}

// writeJSONError writes an error the way the JSON protocols do: the code in __type (and in
// the x-amzn-ErrorType header, which rest-json clients read first).
func writeJSONError(w http.ResponseWriter, e apiError) {
	b, _ := json.Marshal(map[string]string{"__type": e.code, "Message": e.message, "message": e.message})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Errortype", e.code)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}
