package metricsdoc

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
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
