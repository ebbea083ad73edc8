package metricsdoc

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ipamwatch/ipamwatch/internal/promdesc"
)

func TestRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "m.md")
	doc := "intro `ipamwatch_not_in_table` text\n<!-- BEGIN METRICS TABLE -->\n| name | type | labels | help |\n|---|---|---|---|\n" +
		"| `ipamwatch_a_total` | counter | `log`, `class` | Lines. |\n| `ipamwatch_b` | gauge | | A gauge. |\n<!-- END METRICS TABLE -->\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rows, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 2 || rows["ipamwatch_a_total"] != (Row{"counter", "log,class", "Lines."}) || rows["ipamwatch_b"].Labels != "" {
		t.Fatalf("rows = %+v", rows)
	}
	dup := "<!-- BEGIN METRICS TABLE -->\n| `ipamwatch_b` | gauge | | A. |\n| `ipamwatch_b` | gauge | | B. |\n<!-- END METRICS TABLE -->\n"
	if err := os.WriteFile(p, []byte(dup), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p); err == nil {
		t.Error("a metric documented twice was accepted")
	}
	if err := os.WriteFile(p, []byte("no table"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(p); !errors.Is(err, ErrNoTable) {
		t.Errorf("no markers: %v", err)
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "m.md")
	doc := "<!-- BEGIN METRICS TABLE -->\n| name | type | labels | help |\n|---|---|---|---|\n" +
		"| `ipamwatch_a_total` | counter | `log`, `class` | Lines. |\n| `ipamwatch_b` | gauge | | A gauge. |\n" +
		"| `ipamwatch_build_info` | gauge | `version` | Build. |\n<!-- END METRICS TABLE -->\n"
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	build := map[string]Row{"ipamwatch_build_info": {Kind: "gauge", Labels: "version"}}
	var l promdesc.List
	l.Counter("ipamwatch_a_total", "Lines.", "log", "class")
	l.Gauge("ipamwatch_b", "A gauge.")
	if problems, err := Check(p, l.All(), build); err != nil || len(problems) != 0 {
		t.Fatalf("matching table: %v %v", problems, err)
	}

	tests := []struct {
		name    string
		declare func(l *promdesc.List)
		want    string
	}{
		{"label order", func(l *promdesc.List) {
			l.Counter("ipamwatch_a_total", "Lines.", "class", "log")
			l.Gauge("ipamwatch_b", "A gauge.")
		}, "drifted"},
		{"type", func(l *promdesc.List) {
			l.Counter("ipamwatch_a_total", "Lines.", "log", "class")
			l.Counter("ipamwatch_b", "A gauge.")
		}, "only counters end in _total"},
		{"undocumented", func(l *promdesc.List) {
			l.Counter("ipamwatch_a_total", "Lines.", "log", "class")
			l.Gauge("ipamwatch_b", "A gauge.")
			l.Gauge("ipamwatch_c", "New.")
		}, "ipamwatch_c"},
		{"not exported", func(l *promdesc.List) {
			l.Counter("ipamwatch_a_total", "Lines.", "log", "class")
		}, "ipamwatch_b"},
		{"no help", func(l *promdesc.List) {
			l.Counter("ipamwatch_a_total", "", "log", "class")
			l.Gauge("ipamwatch_b", "A gauge.")
		}, "no help text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var l promdesc.List
			tc.declare(&l)
			problems, err := Check(p, l.All(), build)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(problems, "\n"), tc.want) {
				t.Errorf("problems %q do not mention %q", problems, tc.want)
			}
		})
	}
	if _, err := Check(filepath.Join(t.TempDir(), "missing.md"), l.All(), nil); err == nil {
		t.Error("a missing file was accepted")
	}
}
