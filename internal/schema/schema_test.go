package schema

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestMarshalPutsVersionFirst(t *testing.T) {
	t.Parallel()
	type doc struct {
		A string `json:"a"`
		B []int  `json:"b"`
	}
	got, err := Marshal(Version{"x", 3}, doc{A: "q", B: []int{1}})
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"schema_version":3,"a":"q","b":[1]}`; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
	got, err = Marshal(Version{"x", 1}, struct{}{})
	if err != nil || string(got) != `{"schema_version":1}` {
		t.Errorf("empty object: %s, %v", got, err)
	}
	if _, err := Marshal(Version{"x", 1}, []int{1}); err == nil || !strings.Contains(err.Error(), "not encode as a JSON object") {
		t.Errorf("array accepted: %v", err)
	}
	var buf bytes.Buffer
	if err := Write(&buf, Version{"x", 2}, map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"schema_version\": 2,\n  \"n\": 1\n}\n"; buf.String() != want {
		t.Errorf("Write = %q, want %q", buf.String(), want)
	}
	var back map[string]any
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil || back["schema_version"] != float64(2) {
		t.Errorf("round trip: %v %v", back, err)
	}
}

func TestNamesAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, v := range All() {
		if v.Name == "" || v.V < 1 || seen[v.Name] {
			t.Errorf("bad or duplicate schema %+v", v)
		}
		seen[v.Name] = true
	}
}
