package kubetest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// kubectlTimeout bounds one kubectl run; kubectl's own --request-timeout is left at its default.
const kubectlTimeout = 2 * time.Minute

// Env is the environment to run programs against the server with: the test's own, with
// KUBECONFIG set to the admin kubeconfig, BinDir (holding `kubectl`) first on PATH, and
// kubectl's discovery cache in Dir rather than in the user's home. `bash -c CMD` with this
// environment runs a documented command line as pasted.
func (s *Server) Env() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "KUBECONFIG" || name == "KUBECACHEDIR" || name == "PATH" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"KUBECONFIG="+s.Kubeconfig,
		"KUBECACHEDIR="+filepath.Join(s.Dir, "kube-cache"),
		"PATH="+s.BinDir+string(os.PathListSeparator)+os.Getenv("PATH"),
	)
}

// KubectlPath is the cached kubectl v1.37.2 the server was started with.
func (s *Server) KubectlPath() string { return s.kubectl }

// Kubectl runs kubectl with args against the server as the admin. err is non-nil when kubectl
// could not run or exited non-zero (an *exec.ExitError); stderr says why.
func (s *Server) Kubectl(t testing.TB, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	return s.KubectlInput(t, "", args...)
}

// KubectlInput is Kubectl with stdin (for `-f -`).
func (s *Server) KubectlInput(t testing.TB, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.kubectl, args...)
	cmd.Env = s.Env()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if ctx.Err() != nil {
		err = fmt.Errorf("kubectl %s: killed after %s: %w", strings.Join(args, " "), kubectlTimeout, ctx.Err())
	}
	return out.String(), errb.String(), err
}

// Apply applies manifests (one or more YAML documents) with `kubectl apply`, failing the test
// on error, and returns kubectl's output. Namespaces among them are applied first and get
// their default ServiceAccount before the rest, as on a cluster with a controller-manager that
// has caught up.
func (s *Server) Apply(t testing.TB, manifests string) string {
	t.Helper()
	namespaces, others, names, err := splitNamespaces(manifests)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	var out strings.Builder
	if namespaces != "" {
		out.WriteString(s.apply(t, namespaces))
		for _, ns := range names {
			if err := s.waitServiceAccount(context.Background(), ns); err != nil {
				t.Fatal(err)
			}
		}
	}
	if others != "" {
		out.WriteString(s.apply(t, others))
	}
	return out.String()
}

func (s *Server) apply(t testing.TB, docs string) string {
	t.Helper()
	stdout, stderr, err := s.KubectlInput(t, docs, "apply", "-f", "-")
	if err != nil {
		t.Fatalf("kubectl apply: %v\n%s%s\nmanifests:\n%s", err, stdout, stderr, docs)
	}
	return stdout
}

// splitNamespaces separates the Namespace documents of a YAML stream from the others and
// returns the namespaces' names.
func splitNamespaces(manifests string) (namespaces, others string, names []string, err error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifests)))
	var nsDocs, otherDocs []string
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", "", nil, fmt.Errorf("splitting the YAML documents: %w", err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var head struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			return "", "", nil, fmt.Errorf("reading a document's kind: %w\n%s", err, doc)
		}
		if head.Kind == "Namespace" {
			nsDocs = append(nsDocs, string(doc))
			names = append(names, head.Metadata.Name)
		} else {
			otherDocs = append(otherDocs, string(doc))
		}
	}
	return strings.Join(nsDocs, "\n---\n"), strings.Join(otherDocs, "\n---\n"), names, nil
}
