package manifests_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.yaml.in/yaml/v3"

	"github.com/ipamwatch/ipamwatch/internal/testtools"
)

// The chart README's values table is generated from values.yaml, helm-docs style, by the small
// generator below (helm-docs itself is not installable offline):
//
//	# -- Description, continued on the following `#` lines.
//	# @default -- what to show instead of the value (optional, ends the description)
//	key: value
//
// A key with such a comment is one row: its full dotted path, the YAML type of its value, the
// value as compact JSON and the description. Comment lines above the `# --` line are not part of
// it. A documented map is one row; its children get rows of their own only if they are
// documented too. Every value must be documented by itself or by a documented ancestor.

var update = flag.Bool("update", false, "rewrite the generated part of charts/ipamwatch/README.md")

const (
	readmeBegin = "<!-- BEGIN GENERATED: values table, from values.yaml by `go test ./manifests/ -run TestChartReadme -update`. Do not edit. -->"
	readmeEnd   = "<!-- END GENERATED -->"
)

type valueDoc struct {
	key, typ, def, desc string
}

// parseDocComment splits a head comment into description and @default; ok is false without `# --`.
func parseDocComment(head string) (desc, def string, ok bool) {
	var lines []string
	for _, l := range strings.Split(head, "\n") {
		l = strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(l), "#"), " ")
		if rest, found := strings.CutPrefix(l, "-- "); found {
			lines, ok = []string{rest}, true // a later `# --` starts over
			continue
		}
		if !ok {
			continue
		}
		if rest, found := strings.CutPrefix(l, "@default -- "); found {
			def = rest
			continue
		}
		lines = append(lines, l)
	}
	return strings.TrimSpace(strings.Join(lines, " ")), def, ok
}

func yamlType(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "object"
	case yaml.SequenceNode:
		return "list"
	}
	switch n.ShortTag() {
	case "!!bool":
		return "bool"
	case "!!int":
		return "int"
	case "!!float":
		return "float"
	}
	return "string"
}

// compactJSON renders a value node as one line of JSON (map keys sorted).
func compactJSON(n *yaml.Node) (string, error) {
	var v any
	if err := n.Decode(&v); err != nil {
		return "", err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSpace(b.String()), nil
}

// chartValuesDocs returns one row per documented key of values.yaml, in file order, and an error
// naming every value nothing documents.
func chartValuesDocs(src []byte) ([]valueDoc, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("values.yaml is not a mapping")
	}
	var rows []valueDoc
	var errs []error
	var walk func(m *yaml.Node, prefix string, covered bool)
	walk = func(m *yaml.Node, prefix string, covered bool) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			key := prefix + k.Value
			desc, def, ok := parseDocComment(k.HeadComment)
			if ok {
				if def == "" {
					j, err := compactJSON(v)
					if err != nil {
						errs = append(errs, fmt.Errorf("%s: %w", key, err))
					}
					def = "`" + j + "`"
				}
				rows = append(rows, valueDoc{key: key, typ: yamlType(v), def: def, desc: desc})
			}
			if v.Kind == yaml.MappingNode && len(v.Content) > 0 {
				walk(v, key+".", covered || ok)
			} else if !covered && !ok {
				errs = append(errs, fmt.Errorf("%s has no `# --` description (nor has any map above it)", key))
			}
		}
	}
	walk(doc.Content[0], "", false)
	return rows, errors.Join(errs...)
}

func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

// valuesTable renders the rows as the README's Markdown table.
func valuesTable(rows []valueDoc) string {
	var b strings.Builder
	b.WriteString("| Key | Type | Default | Description |\n|---|---|---|---|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.key, r.typ, cell(r.def), cell(r.desc))
	}
	return b.String()
}

func TestChartReadme(t *testing.T) {
	t.Parallel()
	chart := filepath.Join(repoRoot(t), "charts", "ipamwatch")
	values, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	rows, err := chartValuesDocs(values)
	if err != nil {
		t.Fatalf("values.yaml: %v", err)
	}
	testtools.GoldenSection(t, filepath.Join(chart, "README.md"), readmeBegin, readmeEnd, "\n\n"+valuesTable(rows)+"\n", *update)
}

// The generator must be able to fail: undocumented values, and the comment forms it reads.
func TestChartValuesDocs(t *testing.T) {
	t.Parallel()
	src := `# header, not a description
a:
  # -- A's b.
  # continued.
  b: 1
  c: x
# plain comment
# -- Documented map.
# @default -- see below
d:
  e: [1, 2]
  # -- E2 | piped.
  f: {g: true}
`
	rows, err := chartValuesDocs([]byte(src))
	if err == nil || !strings.Contains(err.Error(), "a.c has no") || strings.Contains(err.Error(), "d.e") {
		t.Errorf("want exactly a.c reported undocumented, got %v", err)
	}
	want := []valueDoc{
		{"a.b", "int", "`1`", "A's b. continued."},
		{"d", "object", "see below", "Documented map."},
		{"d.f", "object", "`{\"g\":true}`", "E2 | piped."},
	}
	if diff := cmp.Diff(want, rows, cmp.AllowUnexported(valueDoc{})); diff != "" {
		t.Errorf("rows (-want +got):\n%s", diff)
	}
	if table := valuesTable(rows); !strings.Contains(table, `E2 \| piped.`) {
		t.Errorf("a | inside a cell must be escaped:\n%s", table)
	}
}

// values.yaml and values.schema.json describe the same keys: every value has a schema (the
// schema rejects unknown keys, so this is also what `helm lint` checks), and every key the schema
// accepts is in values.yaml, hence documented in the README, except the removed ones that are
// accepted only to fail with a message.
func TestValuesSchemaCoversValues(t *testing.T) {
	t.Parallel()
	chart := filepath.Join(repoRoot(t), "charts", "ipamwatch")
	var values map[string]any
	b, err := os.ReadFile(filepath.Join(chart, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &values); err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	b, err = os.ReadFile(filepath.Join(chart, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	defs, _ := schema["definitions"].(map[string]any)
	resolve := func(s map[string]any) map[string]any {
		for {
			ref, ok := s["$ref"].(string)
			if !ok {
				return s
			}
			s, _ = defs[strings.TrimPrefix(ref, "#/definitions/")].(map[string]any)
		}
	}
	removed := 0
	var walk func(path string, v map[string]any, s map[string]any, inK8sType bool)
	walk = func(path string, v map[string]any, s map[string]any, inK8sType bool) {
		props, _ := s["properties"].(map[string]any)
		if props == nil {
			return // a free-form map (labels, annotations, tlsConfig, ...)
		}
		// Kubernetes types (affinity, podSecurityContext, resources, ...) list their fields to
		// catch typos; Kubernetes documents them, values.yaml sets only the defaults.
		k8sType := inK8sType || strings.HasPrefix(fmt.Sprint(s["description"]), "A Kubernetes ")
		for k, sub := range v {
			ps, ok := props[k].(map[string]any)
			if !ok {
				t.Errorf("values.yaml %s%s: not in values.schema.json", path, k)
				continue
			}
			if m, ok := sub.(map[string]any); ok {
				walk(path+k+".", m, resolve(ps), k8sType)
			}
		}
		for k, ps := range props {
			if _, ok := v[k]; ok {
				continue
			}
			if ref, _ := ps.(map[string]any)["$ref"].(string); ref == "#/definitions/removed" {
				removed++
				continue
			}
			if k8sType {
				continue
			}
			t.Errorf("values.schema.json %s%s: accepted but not in values.yaml (so undocumented)", path, k)
		}
	}
	walk("", values, schema, false)
	if removed != 4 {
		t.Errorf("%d removed values in the schema, want 4 (excludeComputeTypes and the three monitor/rule labels)", removed)
	}
}
