// Package schema versions the JSON documents ipamwatch prints, so that scripts can tell
// which shape they read. Each document (described in docs/schemas/) starts with
// "schema_version", an integer. It changes only when a field is removed or renamed or
// changes type or meaning; new fields keep it (readers ignore fields they do not know).
package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
)

// Version is the schema version of one kind of document.
type Version struct {
	// Name is the document's name in docs/schemas/<name>.md.
	Name string
	// V is the integer in "schema_version".
	V int
}

// The documents, one per command that prints JSON. The agent's /diagnosis serves Diagnose.
var (
	Diagnose = Version{"diagnose", 1} // ipamwatch diagnose --format json, GET /diagnosis
	Classify = Version{"classify", 1} // ipamwatch classify --format json (one object per line)
	MaxPods  = Version{"maxpods", 1}  // ipamwatch maxpods --format json
	Subnets  = Version{"subnets", 1}  // ipamwatch subnets --once --format json
)

// All lists every document.
func All() []Version { return []Version{Diagnose, Classify, MaxPods, Subnets} }

// Marshal encodes v, which must encode as a JSON object, with "schema_version" as its first
// field, on one line.
func Marshal(ver Version, v any) ([]byte, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	body = bytes.TrimSpace(body)
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("schema %s: %T does not encode as a JSON object", ver.Name, v)
	}
	out := make([]byte, 0, len(body)+24)
	out = append(out, `{"schema_version":`...)
	out = fmt.Appendf(out, "%d", ver.V)
	if len(body) > 2 {
		out = append(out, ',')
	}
	return append(out, body[1:]...), nil
}

// Write writes v as Marshal does, indented by two spaces, with a final newline.
func Write(w io.Writer, ver Version, v any) error {
	b, err := Marshal(ver, v)
	if err != nil {
		return err
	}
	var ind bytes.Buffer
	if err := json.Indent(&ind, b, "", "  "); err != nil {
		return err
	}
	ind.WriteByte('\n')
	_, err = w.Write(ind.Bytes())
	return err
}
