//go:build !agentonly

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/ipamwatch/ipamwatch/demo"
	"github.com/ipamwatch/ipamwatch/diagnosis"
	"github.com/ipamwatch/ipamwatch/internal/schema"
	"github.com/ipamwatch/ipamwatch/subnets"
	"github.com/ipamwatch/ipamwatch/subnets/fakeec2"
)

// The JSON documents of the CLI are described field by field in docs/schemas/<name>.md.
// These tests hold the descriptions to the truth twice: against the Go types that encode
// each document (every field, its type, whether it may be omitted or null) and against real
// output of the commands (every field seen is described with its type, and every field
// described as always present is there).

// schemaField is one row of a schema table: its type ("string", "integer", "number",
// "boolean", "object", "array of T", "map of T", ", null" when it may be null) and whether
// it is omitted when empty.
type schemaField struct {
	Type     string
	Optional bool
}

var schemaRow = regexp.MustCompile("^\\| `([^`]+)` \\| ([^|]+?) \\|")

// readSchemaDoc parses the tables of a schema document: each starts after a line
// "<!-- BEGIN SCHEMA id -->" and ends at "<!-- END SCHEMA -->".
func readSchemaDoc(t *testing.T, path string) map[string]map[string]schemaField {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	tables := map[string]map[string]schemaField{}
	var cur map[string]schemaField
	for _, line := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(line, "<!-- BEGIN SCHEMA "):
			id := strings.TrimSuffix(strings.TrimPrefix(line, "<!-- BEGIN SCHEMA "), " -->")
			cur = map[string]schemaField{}
			tables[id] = cur
		case strings.HasPrefix(line, "<!-- END SCHEMA"):
			cur = nil
		case cur != nil:
			m := schemaRow.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			typ, optional := strings.CutSuffix(strings.TrimSpace(m[2]), " (optional)")
			if _, dup := cur[m[1]]; dup {
				t.Errorf("%s: %s described twice", path, m[1])
			}
			cur[m[1]] = schemaField{Type: typ, Optional: optional}
		}
	}
	return tables
}

// schemaOfType lists the fields of a document encoded from a value of type t.
func schemaOfType(t *testing.T, typ reflect.Type) map[string]schemaField {
	t.Helper()
	out := map[string]schemaField{"schema_version": {Type: "integer"}}
	walkStruct(t, typ, "", out)
	return out
}

var timeType = reflect.TypeFor[time.Time]()

func walkStruct(t *testing.T, typ reflect.Type, prefix string, out map[string]schemaField) {
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			walkStruct(t, f.Type, prefix, out)
			continue
		}
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		path := prefix + name
		typeName := describeType(t, f.Type, path, out)
		out[path] = schemaField{Type: typeName, Optional: strings.Contains(opts, "omitempty")}
	}
}

// describeType names typ and adds the fields of nested objects under path.
func describeType(t *testing.T, typ reflect.Type, path string, out map[string]schemaField) string {
	if typ == timeType {
		return "string"
	}
	if typ.Kind() != reflect.Pointer && reflect.PointerTo(typ).Implements(reflect.TypeFor[json.Marshaler]()) {
		t.Errorf("%s: %s has its own JSON encoding; describe it by hand and teach this test", path, typ)
	}
	switch typ.Kind() {
	case reflect.Pointer:
		return describeType(t, typ.Elem(), path, out) + ", null"
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Struct:
		walkStruct(t, typ, path+".", out)
		return "object"
	case reflect.Slice:
		return "array of " + describeType(t, typ.Elem(), path+"[]", out)
	case reflect.Map:
		return "map of " + describeType(t, typ.Elem(), path+".*", out)
	}
	t.Errorf("%s: no JSON type for %s", path, typ)
	return "?"
}

// checkOutput checks one real document against its description.
func checkOutput(t *testing.T, what string, doc []byte, fields map[string]schemaField) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: not JSON: %v\n%s", what, err, doc)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s: not a JSON object", what)
	}
	if keys := objectKeysInOrder(t, doc); len(keys) == 0 || keys[0] != "schema_version" {
		t.Errorf("%s: schema_version is not the first field (%v)", what, keys)
	}
	checkObject(t, what, "", obj, fields)
}

func checkObject(t *testing.T, what, prefix string, obj map[string]any, fields map[string]schemaField) {
	for path, f := range fields {
		rest, ok := strings.CutPrefix(path, prefix)
		if !ok || strings.ContainsAny(rest, ".[") || f.Optional {
			continue
		}
		if _, present := obj[rest]; !present {
			t.Errorf("%s: %s%s is described as always present but is missing", what, prefix, rest)
		}
	}
	for k, val := range obj {
		checkValue(t, what, prefix+k, val, fields)
	}
}

func checkValue(t *testing.T, what, path string, val any, fields map[string]schemaField) {
	f, ok := fields[path]
	if !ok {
		t.Errorf("%s: field %s is not described", what, path)
		return
	}
	typ, nullable := strings.CutSuffix(f.Type, ", null")
	if val == nil {
		if !nullable {
			t.Errorf("%s: %s is null, described as %s", what, path, f.Type)
		}
		return
	}
	elem := func(kind string) (string, bool) { return strings.CutPrefix(typ, kind+" of ") }
	switch x := val.(type) {
	case map[string]any:
		if et, isMap := elem("map"); isMap {
			for k, c := range x {
				checkValue(t, what+" (key "+k+")", path+".*", c, fieldsWithType(fields, path+".*", et))
			}
			return
		}
		if typ != "object" {
			t.Errorf("%s: %s is an object, described as %s", what, path, f.Type)
			return
		}
		checkObject(t, what, path+".", x, fields)
	case []any:
		et, isArray := elem("array")
		if !isArray {
			t.Errorf("%s: %s is an array, described as %s", what, path, f.Type)
			return
		}
		for _, c := range x {
			checkValue(t, what, path+"[]", c, fieldsWithType(fields, path+"[]", et))
		}
	case json.Number:
		integral := !strings.ContainsAny(x.String(), ".eE")
		if typ != "number" && (typ != "integer" || !integral) {
			t.Errorf("%s: %s is the number %s, described as %s", what, path, x, f.Type)
		}
	case string:
		if typ != "string" {
			t.Errorf("%s: %s is a string, described as %s", what, path, f.Type)
		}
	case bool:
		if typ != "boolean" {
			t.Errorf("%s: %s is a boolean, described as %s", what, path, f.Type)
		}
	}
}

// fieldsWithType adds the element of an array or map as a field of its own.
func fieldsWithType(fields map[string]schemaField, path, typ string) map[string]schemaField {
	if _, ok := fields[path]; ok {
		return fields
	}
	out := make(map[string]schemaField, len(fields)+1)
	for k, v := range fields {
		out[k] = v
	}
	out[path] = schemaField{Type: typ}
	return out
}

// objectKeysInOrder returns the top-level keys of a JSON object in document order.
func objectKeysInOrder(t *testing.T, doc []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(doc))
	var keys []string
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			expectKey = depth == 1 && tok == json.Delim('{')
			continue
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 1 {
			if expectKey {
				if s, ok := tok.(string); ok {
					keys = append(keys, s)
				}
			}
			expectKey = !expectKey
		}
	}
}

func schemaDocPath(v schema.Version) string {
	return filepath.Join("..", "..", "docs", "schemas", v.Name+".md")
}

// TestSchemaDocsMatchTypes: each table lists exactly the fields the Go types encode.
func TestSchemaDocsMatchTypes(t *testing.T) {
	t.Parallel()
	for id, typ := range map[string]reflect.Type{
		"diagnose":     reflect.TypeFor[diagnosis.Report](),
		"maxpods-one":  reflect.TypeFor[diagnosis.MaxPodsResult](),
		"maxpods-list": reflect.TypeFor[maxPodsList](),
		"subnets":      reflect.TypeFor[subnets.JSONReport](),
	} {
		name, _, _ := strings.Cut(id, "-")
		doc := readSchemaDoc(t, schemaDocPath(schema.Version{Name: name}))
		documented, ok := doc[id]
		if !ok {
			t.Errorf("docs/schemas/%s.md has no table %q", name, id)
			continue
		}
		if diff := cmp.Diff(schemaOfType(t, typ), documented); diff != "" {
			t.Errorf("docs/schemas/%s.md table %s drifted from the code (-code +docs):\n%s", name, id, diff)
			t.Logf("rows for the code's fields:\n%s", suggestRows(schemaOfType(t, typ)))
		}
	}
}

func suggestRows(fields map[string]schemaField) string {
	var paths []string
	for p := range fields {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, p := range paths {
		typ := fields[p].Type
		if fields[p].Optional {
			typ += " (optional)"
		}
		fmt.Fprintf(&b, "| `%s` | %s | |\n", p, typ)
	}
	return b.String()
}

// TestSchemaDocsMatchOutput: real documents of every command fit their description, and
// every schema document names its version.
// hasSubnetOutlook says whether a diagnose document carries forecast.subnet.
func hasSubnetOutlook(t *testing.T, what, doc string) bool {
	t.Helper()
	var rep struct {
		Forecast struct {
			Subnet json.RawMessage `json:"subnet"`
		} `json:"forecast"`
	}
	if err := json.Unmarshal([]byte(doc), &rep); err != nil {
		t.Fatalf("diagnose %s: %v", what, err)
	}
	return len(rep.Forecast.Subnet) > 0
}

func TestSchemaDocsMatchOutput(t *testing.T) {
	fakeAWSEnv(t) // subnets --once against the fake EC2 API; t.Setenv: not parallel
	for _, v := range schema.All() {
		b, err := os.ReadFile(schemaDocPath(v))
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf("`schema_version`: %d", v.V); !strings.Contains(string(b), want) {
			t.Errorf("docs/schemas/%s.md does not say %q", v.Name, want)
		}
	}
	docs := map[string]map[string]map[string]schemaField{}
	for _, v := range schema.All() {
		docs[v.Name] = readSchemaDoc(t, schemaDocPath(v))
	}

	// diagnose: bundles of several scenarios (findings, IPv6, branch ENIs, pointers set or not).
	var withSubnetOutlook []string
	for _, scenario := range []string{"healthy", "subnet-exhausted", "ipv6", "branch-eni", "warm-conflict", "custom-networking-stale"} {
		spec, err := demo.Lookup(scenario)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		if err := simulate(t, spec, 90).WriteBundle(dir); err != nil {
			t.Fatal(err)
		}
		_, out, stderr := runCLI(t, "diagnose", "--bundle", dir, "--format", "json")
		if out == "" {
			t.Fatalf("diagnose %s: no output: %s", scenario, stderr)
		}
		checkOutput(t, "diagnose "+scenario, []byte(out), docs["diagnose"]["diagnose"])
		if hasSubnetOutlook(t, scenario, out) {
			withSubnetOutlook = append(withSubnetOutlook, scenario)
		}
	}
	// Live, one pass against a running simulated node: IMDS names the node's subnet, so the
	// report can carry the subnet outlook (forecast.subnet), from EC2's refusal or from the
	// cluster view's counts and trend.
	// The simulated node's own IMDS answers here (fakeAWSEnv keeps the SDK off the real one).
	t.Setenv("AWS_EC2_METADATA_DISABLED", "false")
	for _, scenario := range []string{"subnet-exhausted", "subnet-hours-left"} {
		spec, err := demo.Lookup(scenario)
		if err != nil {
			t.Fatal(err)
		}
		node := simulate(t, spec, 90)
		args := []string{"diagnose", "--format", "json",
			"--ipamd.address", node.IPAMDAddress, "--cni.metrics-url", node.CNIMetricsURL,
			"--imds.endpoint", node.IMDSEndpoint, "--log.ipamd", node.IPAMDLog, "--log.plugin", node.PluginLog,
			"--node-name", node.NodeName, "--kubernetes", "on", "--kubernetes.api-server", node.KubeAPI.Host,
			"--kubernetes.ca-file", node.KubeAPI.CAFile, "--kubernetes.token-file", node.KubeAPI.TokenFile}
		if node.SubnetsURL != "" {
			args = append(args, "--subnets.metrics-url", node.SubnetsURL)
		}
		_, out, stderr := runCLI(t, args...)
		if out == "" {
			t.Fatalf("live diagnose %s: no output: %s", scenario, stderr)
		}
		checkOutput(t, "live diagnose "+scenario, []byte(out), docs["diagnose"]["diagnose"])
		if hasSubnetOutlook(t, "live "+scenario, out) {
			withSubnetOutlook = append(withSubnetOutlook, "live "+scenario)
		}
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	// The subnet outlook (forecast.subnet) is checked in at least one real document.
	if len(withSubnetOutlook) == 0 {
		t.Errorf("no diagnose document above has forecast.subnet: its rows in docs/schemas/diagnose.md are not checked against output")
	}
	t.Logf("diagnose documents with forecast.subnet: %v", withSubnetOutlook)

	// classify: one document per line, every line of a mixed log.
	_, out, _ := runCLI(t, "classify", "--all", "--format", "json", "testdata/classify/mixed.log")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 10 {
		t.Fatalf("classify printed %d lines", len(lines))
	}
	for i, l := range lines {
		checkOutput(t, fmt.Sprintf("classify line %d", i+1), []byte(l), docs["classify"]["classify"])
	}
	// classify's encoder is hand-written: every described field appears on every line.
	var first map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &first); err != nil {
		t.Fatal(err)
	}
	var described, seen []string
	for k := range docs["classify"]["classify"] {
		described = append(described, k)
	}
	for k := range first {
		seen = append(seen, k)
	}
	slices.Sort(described)
	slices.Sort(seen)
	if diff := cmp.Diff(described, seen); diff != "" {
		t.Errorf("classify fields (-docs +output):\n%s", diff)
	}

	// maxpods: one instance, and the list of --instance-type and --all.
	var calls [][]string
	for _, args := range [][]string{
		{"--enis=3", "--ips-per-eni=10", "--vcpus=2", "--prefix-delegation", "--format=json"},
		{"--enis=4", "--ips-per-eni=15", "--security-groups-for-pods", "--branch-enis=54", "--max-enis=3", "--format=json"},
	} {
		code, out, stderr := runMaxPodsTest(t, fakeLookup(&calls), args...)
		if code != 0 {
			t.Fatalf("maxpods %v: exit %d: %s", args, code, stderr)
		}
		checkOutput(t, fmt.Sprintf("maxpods %v", args), []byte(out), docs["maxpods"]["maxpods-one"])
	}
	for _, args := range [][]string{
		{"--instance-type=m5.large,t3.medium", "--format=json"},
		{"--all", "--custom-networking", "--security-groups-for-pods", "--format=json"},
	} {
		code, out, stderr := runMaxPodsTest(t, fakeLookup(&calls), args...)
		if code != 0 {
			t.Fatalf("maxpods %v: exit %d: %s", args, code, stderr)
		}
		checkOutput(t, fmt.Sprintf("maxpods %v", args), []byte(out), docs["maxpods"]["maxpods-list"])
	}

	// subnets --once against the fake EC2 API's cluster (every verdict, skipped subnets,
	// recommendations).
	srv := fakeec2.New(t)
	srv.LoadProdCluster()
	code, out, stderr := runCmd(t.Context(), "subnets", "--once", "--format", "json", "--cluster-name", "prod", "--region", "us-west-2", "--ec2-endpoint", srv.URL)
	if code != 0 {
		t.Fatalf("subnets: exit %d: %s", code, stderr)
	}
	checkOutput(t, "subnets", []byte(out), docs["subnets"]["subnets"])
}
