// Command rest is one side of bench/kubeclient.sh: a program that reads a Node 30 times through
// client-go's rest client (no typed clientset, no k8s.io/api: local structs decoded from the raw
// answer), then prints its resident memory. Its twin, ../nethttp, does the same with net/http.
// The difference is what client-go's rest package costs a binary and a process.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"
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
	cfg := &rest.Config{Host: srv.URL, BearerToken: "t", TLSClientConfig: rest.TLSClientConfig{Insecure: true}}
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(runtime.NewScheme()).WithoutConversion()
	c, err := rest.UnversionedRESTClientFor(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for i := 0; i < 30; i++ {
		b, err := c.Get().AbsPath("/api/v1/nodes/n1").Do(context.Background()).Raw()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		var n node
		if err := json.Unmarshal(b, &n); err != nil || n.Metadata.Name != "n1" {
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
