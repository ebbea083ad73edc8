// Command nethttp is the net/http twin of ../rest (see there and bench/kubeclient.sh): the same
// 30 reads of a Node with a bearer token over TLS, decoded into the same local struct.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"
)

type node struct {
	Metadata struct {
		Name   string            `json:"name"`
		Labels map[string]string `json:"labels"`
	} `json:"metadata"`
}

func main() {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"kind":"Node","apiVersion":"v1","metadata":{"name":"n1","labels":{"a":"b"}}}`)
	}))
	defer srv.Close()
	cl := &http.Client{Transport: srv.Client().Transport}
	for i := 0; i < 30; i++ {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, srv.URL+"/api/v1/nodes/n1", nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		req.Header.Set("Authorization", "Bearer t")
		resp, err := cl.Do(req)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		var n node
		if err != nil || json.Unmarshal(b, &n) != nil || n.Metadata.Name != "n1" {
			fmt.Fprintln(os.Stderr, "bad answer", err)
			os.Exit(1)
		}
		time.Sleep(20 * time.Millisecond)
	}
	printRSS()
}

func printRSS() {
	st, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(st), "\n") {
		for _, k := range []string{"VmRSS:", "RssAnon:", "RssFile:"} {
			if strings.HasPrefix(l, k) {
				fmt.Println(strings.Join(strings.Fields(l), " "))
			}
		}
	}
}
