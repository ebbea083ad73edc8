package kube

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// The API objects as far as the agent reads them (field names as in k8s.io/api/core/v1).
// Every other field is skipped by the decoder, so a field added by a later Kubernetes version
// costs nothing.

type nodeObject struct {
	Metadata struct {
		Name              string            `json:"name"`
		CreationTimestamp time.Time         `json:"creationTimestamp"`
		Labels            map[string]string `json:"labels"`
		Annotations       map[string]string `json:"annotations"`
	} `json:"metadata"`
	Status struct {
		Capacity    map[string]quantity `json:"capacity"`
		Allocatable map[string]quantity `json:"allocatable"`
	} `json:"status"`
}

// podObject is one pod of the list. Labels and env are kept raw and decoded only for the
// aws-node pod: a node's other pods need neither, and decoding them for every pod was most
// of a poll's allocations.
type podObject struct {
	Metadata struct {
		Namespace         string          `json:"namespace"`
		CreationTimestamp time.Time       `json:"creationTimestamp"`
		DeletionTimestamp *time.Time      `json:"deletionTimestamp"`
		Labels            json.RawMessage `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		NodeName       string      `json:"nodeName"`
		HostNetwork    bool        `json:"hostNetwork"`
		Containers     []container `json:"containers"`
		InitContainers []container `json:"initContainers"`
	} `json:"spec"`
	Status struct {
		Phase string `json:"phase"`
		PodIP string `json:"podIP"`
	} `json:"status"`
}

type container struct {
	Name      string          `json:"name"`
	Image     string          `json:"image"`
	Env       json.RawMessage `json:"env"` // []envVar, see (*container).env
	Resources struct {
		Requests resourceList `json:"requests"`
		Limits   resourceList `json:"limits"`
	} `json:"resources"`
}

// resourceList is a container's requests or limits, kept raw: only the pod-eni entry is ever
// read, and most containers do not have one.
type resourceList json.RawMessage

func (r *resourceList) UnmarshalJSON(b []byte) error {
	// The API server writes resource names as plain ASCII keys; a list that does not
	// mention pod-eni is not kept.
	if bytes.Contains(b, []byte(`"`+PodENIResource+`"`)) {
		*r = append((*r)[:0], b...)
	}
	return nil
}

// get returns the quantity of resource name, if present.
func (r resourceList) get(name string) (quantity, bool) {
	if len(r) == 0 {
		return "", false
	}
	var m map[string]quantity
	if json.Unmarshal(r, &m) != nil {
		return "", false
	}
	q, ok := m[name]
	return q, ok
}

// labels decodes the pod's labels; malformed ones read as none.
func (p *podObject) labels() map[string]string {
	var m map[string]string
	if len(p.Metadata.Labels) > 0 && json.Unmarshal(p.Metadata.Labels, &m) != nil {
		return nil
	}
	return m
}

// env decodes the container's env; malformed entries read as none.
func (c *container) env() []envVar {
	var env []envVar
	if len(c.Env) > 0 && json.Unmarshal(c.Env, &env) != nil {
		return nil
	}
	return env
}

type envVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
	// ValueFrom is only tested for presence: its value is not in the pod spec.
	ValueFrom *struct{} `json:"valueFrom"`
}

// Pod phases the agent tells apart.
const (
	podRunning   = "Running"
	podSucceeded = "Succeeded"
	podFailed    = "Failed"
)

// quantity is a resource.Quantity as serialised ("110", "1k", "500m"); parsed when used.
type quantity string

func (q *quantity) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*q = quantity(s)
		return nil
	}
	// resource.Quantity also accepts a bare JSON number.
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("quantity %s: %w", clip(string(b), 40), err)
	}
	*q = quantity(n)
	return nil
}

var (
	errObjectTooLarge = fmt.Errorf("an object is larger than %d bytes", maxObjectBytes)
	errListTooLarge   = fmt.Errorf("the pod list is larger than %d bytes", maxListBytes)
	errTooManyItems   = fmt.Errorf("the pod list has more than %d items", maxListItems)
)

// decodeNode reads one Node of at most maxObjectBytes.
func decodeNode(r io.Reader) (*nodeObject, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxObjectBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxObjectBytes {
		return nil, errObjectTooLarge
	}
	var n nodeObject
	if err := json.Unmarshal(b, &n); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	return &n, nil
}

// decodePodList streams a PodList: each item is decoded on its own and handed to fn, so
// memory holds one pod at a time, whatever the list's length. It reads at most maxListBytes
// and maxListItems items, each at most about maxObjectBytes.
func decodePodList(r io.Reader, fn func(*podObject)) (items int, err error) {
	br := &boundedReader{r: r, total: maxListBytes, window: maxObjectBytes}
	dec := json.NewDecoder(br)
	if err := expectDelim(dec, '{'); err != nil {
		return 0, err
	}
	sawItems := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return items, br.cause(err)
		}
		key, _ := tok.(string)
		switch key {
		case "kind":
			var kind string
			if err := dec.Decode(&kind); err != nil {
				return items, br.cause(err)
			}
			if kind != "PodList" {
				return items, fmt.Errorf("answer is a %q, not a PodList", clip(kind, 40))
			}
		case "items":
			if sawItems {
				return items, errors.New("items given twice")
			}
			sawItems = true
			if tok, err := dec.Token(); err != nil {
				return items, br.cause(err)
			} else if tok == nil {
				continue // "items": null
			} else if d, ok := tok.(json.Delim); !ok || d != '[' {
				return items, fmt.Errorf("items: want an array, got %v", tok)
			}
			for dec.More() {
				if items == maxListItems {
					return items, errTooManyItems
				}
				br.startWindow(dec.InputOffset())
				var p podObject
				if err := dec.Decode(&p); err != nil {
					return items, fmt.Errorf("item %d: %w", items, br.cause(err))
				}
				items++
				fn(&p)
			}
			if _, err := dec.Token(); err != nil { // ']'
				return items, br.cause(err)
			}
		default:
			br.startWindow(dec.InputOffset())
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return items, br.cause(err)
			}
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return items, br.cause(err)
	}
	if !sawItems {
		return items, errors.New("answer has no items")
	}
	return items, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}

// boundedReader fails once more than total bytes were read, or when the object that starts
// at the offset given to startWindow grows past window bytes. The decoder buffers from the
// start of the value it decodes up to what was read, so this bounds its buffer too.
type boundedReader struct {
	r             io.Reader
	total, window int64
	read, start   int64
	err           error
}

func (b *boundedReader) startWindow(offset int64) { b.start = offset }

func (b *boundedReader) Read(p []byte) (int, error) {
	switch {
	case b.read >= b.total:
		b.err = errListTooLarge
	case b.read-b.start >= b.window:
		b.err = errObjectTooLarge
	}
	if b.err != nil {
		return 0, b.err
	}
	if limit := min(b.total-b.read, b.window-(b.read-b.start)); int64(len(p)) > limit {
		p = p[:limit]
	}
	n, err := b.r.Read(p)
	b.read += int64(n)
	return n, err
}

// cause prefers the bound that was hit over the decoder's "unexpected EOF".
func (b *boundedReader) cause(err error) error {
	if b.err != nil {
		return b.err
	}
	return err
}
