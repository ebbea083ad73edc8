package commandtest

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
)

// Debian's awscli 2.9.19 bundles an EKS model from before EKS Pod Identity (November 2023):
// `aws eks list-pod-identity-associations` is not a command there. AWS publishes newer models
// in the aws-sdk npm package (the AWS SDK for JavaScript v2), whose apis/<service>.min.json has
// the operations and shapes of a botocore model in a compact form: operation inputs and
// outputs, members, list members and map keys and values are written inline instead of
// naming a shape, a member with neither a shape nor a type is a string, and an operation
// without an HTTP method is a POST. botocoreModel expands that form back into botocore's
// layout, which `aws configure add-model` loads into the same awscli; nothing else changes
// (names, locations, types and the wire protocol are AWS's).

// awsSDKJSVersion is the aws-sdk npm package scripts/install-tools.sh unpacks the model from.
const awsSDKJSVersion = "2.1693.0"

// refKeys are the keys of an inline definition that belong to the reference (how a member
// is serialized) rather than to the shape it defines.
var refKeys = map[string]bool{
	"location": true, "locationName": true, "idempotencyToken": true, "jsonvalue": true, "hostLabel": true,
	"queryName": true, "xmlNamespace": true, "xmlAttribute": true, "contextParam": true, "deprecated": true,
}

type modelExpander struct {
	shapes map[string]map[string]any
}

// botocoreModel turns an AWS SDK for JavaScript v2 "min" model into a botocore service model.
func botocoreModel(min []byte) ([]byte, error) {
	var in struct {
		Metadata   map[string]any            `json:"metadata"`
		Operations map[string]map[string]any `json:"operations"`
		Shapes     map[string]map[string]any `json:"shapes"`
	}
	if err := json.Unmarshal(min, &in); err != nil {
		return nil, fmt.Errorf("reading the model: %w", err)
	}
	if in.Metadata["protocol"] == nil || len(in.Operations) == 0 {
		return nil, fmt.Errorf("not a service model: no protocol or no operations")
	}
	e := modelExpander{shapes: map[string]map[string]any{}}
	for _, name := range slices.Sorted(maps.Keys(in.Shapes)) {
		e.shapes[name] = nil // reserve the published names before inventing any
	}
	for _, name := range slices.Sorted(maps.Keys(in.Shapes)) {
		s, err := e.shape(in.Shapes[name], name)
		if err != nil {
			return nil, err
		}
		e.shapes[name] = s
	}
	ops := map[string]any{}
	for _, name := range slices.Sorted(maps.Keys(in.Operations)) {
		o := in.Operations[name]
		op := map[string]any{"name": name}
		http, _ := o["http"].(map[string]any)
		http = maps.Clone(http)
		if http == nil {
			http = map[string]any{}
		}
		if http["method"] == nil {
			http["method"] = "POST"
		}
		if http["requestUri"] == nil {
			http["requestUri"] = "/"
		}
		op["http"] = http
		for _, io := range []struct{ key, suffix string }{{"input", "Request"}, {"output", "Response"}} {
			def, ok := o[io.key].(map[string]any)
			if !ok {
				continue
			}
			ref, err := e.ref(def, name+io.suffix)
			if err != nil {
				return nil, fmt.Errorf("operation %s %s: %w", name, io.key, err)
			}
			op[io.key] = ref
		}
		for _, k := range []string{"endpoint", "authtype", "deprecated", "idempotent", "httpChecksum", "endpointdiscovery"} {
			if v, ok := o[k]; ok {
				op[k] = v
			}
		}
		ops[name] = op
	}
	return json.Marshal(map[string]any{"version": "2.0", "metadata": in.Metadata, "operations": ops, "shapes": e.shapes})
}

// ref returns a reference to def: def itself when it names a shape, else a reference to a
// new shape (named after hint) holding def's inline definition.
func (e *modelExpander) ref(def map[string]any, hint string) (map[string]any, error) {
	if _, ok := def["shape"]; ok {
		return def, nil
	}
	out, body := map[string]any{}, map[string]any{}
	for k, v := range def {
		if refKeys[k] {
			out[k] = v
		} else {
			body[k] = v
		}
	}
	name := hint
	for i := 2; ; i++ {
		if _, taken := e.shapes[name]; !taken {
			break
		}
		name = hint + strconv.Itoa(i)
	}
	e.shapes[name] = nil
	s, err := e.shape(body, name)
	if err != nil {
		return nil, err
	}
	e.shapes[name] = s
	out["shape"] = name
	return out, nil
}

// shape expands the inline parts of one shape definition.
func (e *modelExpander) shape(def map[string]any, name string) (map[string]any, error) {
	s := maps.Clone(def)
	if s == nil {
		s = map[string]any{}
	}
	if s["type"] == nil {
		s["type"] = "string"
	}
	sub := func(key, hint string) error {
		v, ok := s[key]
		if !ok {
			if key == "member" || key == "key" || key == "value" {
				v = map[string]any{}
			} else {
				return nil
			}
		}
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("shape %s: %s is not an object", name, key)
		}
		r, err := e.ref(m, hint)
		if err != nil {
			return err
		}
		s[key] = r
		return nil
	}
	switch s["type"] {
	case "structure":
		members, _ := s["members"].(map[string]any)
		out := map[string]any{}
		for _, m := range slices.Sorted(maps.Keys(members)) {
			def, ok := members[m].(map[string]any)
			if !ok {
				return nil, fmt.Errorf("shape %s: member %s is not an object", name, m)
			}
			r, err := e.ref(def, name+upperFirst(m))
			if err != nil {
				return nil, err
			}
			out[m] = r
		}
		s["members"] = out
	case "list":
		if err := sub("member", name+"Member"); err != nil {
			return nil, err
		}
	case "map":
		if err := sub("key", name+"Key"); err != nil {
			return nil, err
		}
		if err := sub("value", name+"Value"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
