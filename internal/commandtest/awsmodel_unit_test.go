package commandtest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestBotocoreModel(t *testing.T) {
	t.Parallel()
	min := `{"metadata":{"protocol":"rest-json","apiVersion":"2017-11-01"},
	"operations":{
	  "ListThings":{"http":{"method":"GET","requestUri":"/clusters/{name}/things"},
	    "input":{"type":"structure","required":["clusterName"],"members":{
	      "clusterName":{"location":"uri","locationName":"name"},
	      "maxResults":{"location":"querystring","locationName":"maxResults","type":"integer"}}},
	    "output":{"type":"structure","members":{
	      "things":{"type":"list","member":{"type":"structure","members":{"id":{},"tags":{"shape":"S1"}}}},
	      "labels":{"type":"map","key":{},"value":{"type":"list","member":{}}}}}},
	  "Touch":{"http":{"requestUri":"/touch"},"input":{"type":"structure","members":{"token":{"idempotencyToken":true}}}}},
	"shapes":{"S1":{"type":"map","key":{},"value":{}}}}`
	b, err := botocoreModel([]byte(min))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"version":  "2.0",
		"metadata": map[string]any{"protocol": "rest-json", "apiVersion": "2017-11-01"},
		"operations": map[string]any{
			"ListThings": map[string]any{"name": "ListThings", "http": map[string]any{"method": "GET", "requestUri": "/clusters/{name}/things"},
				"input": map[string]any{"shape": "ListThingsRequest"}, "output": map[string]any{"shape": "ListThingsResponse"}},
			"Touch": map[string]any{"name": "Touch", "http": map[string]any{"method": "POST", "requestUri": "/touch"},
				"input": map[string]any{"shape": "TouchRequest"}},
		},
		"shapes": map[string]any{
			"S1":                                  map[string]any{"type": "map", "key": ref("S1Key"), "value": ref("S1Value")},
			"S1Key":                               str(),
			"S1Value":                             str(),
			"ListThingsRequest":                   map[string]any{"type": "structure", "required": []any{"clusterName"}, "members": map[string]any{"clusterName": map[string]any{"shape": "ListThingsRequestClusterName", "location": "uri", "locationName": "name"}, "maxResults": map[string]any{"shape": "ListThingsRequestMaxResults", "location": "querystring", "locationName": "maxResults"}}},
			"ListThingsRequestClusterName":        str(),
			"ListThingsRequestMaxResults":         map[string]any{"type": "integer"},
			"ListThingsResponse":                  map[string]any{"type": "structure", "members": map[string]any{"labels": ref("ListThingsResponseLabels"), "things": ref("ListThingsResponseThings")}},
			"ListThingsResponseLabels":            map[string]any{"type": "map", "key": ref("ListThingsResponseLabelsKey"), "value": ref("ListThingsResponseLabelsValue")},
			"ListThingsResponseLabelsKey":         str(),
			"ListThingsResponseLabelsValue":       map[string]any{"type": "list", "member": ref("ListThingsResponseLabelsValueMember")},
			"ListThingsResponseLabelsValueMember": str(),
			"ListThingsResponseThings":            map[string]any{"type": "list", "member": ref("ListThingsResponseThingsMember")},
			"ListThingsResponseThingsMember":      map[string]any{"type": "structure", "members": map[string]any{"id": ref("ListThingsResponseThingsMemberId"), "tags": ref("S1")}},
			"ListThingsResponseThingsMemberId":    str(),
			"TouchRequest":                        map[string]any{"type": "structure", "members": map[string]any{"token": map[string]any{"shape": "TouchRequestToken", "idempotencyToken": true}}},
			"TouchRequestToken":                   str(),
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("botocoreModel (-want +got):\n%s", diff)
	}
	if _, err := botocoreModel([]byte(`{"metadata":{}}`)); err == nil {
		t.Error("a file without protocol or operations was accepted")
	}
}

func ref(name string) map[string]any { return map[string]any{"shape": name} }
func str() map[string]any            { return map[string]any{"type": "string"} }

// TestBotocoreModelEKS expands AWS's published EKS model (when installed) and checks that every
// reference of the Pod Identity operations names a shape that exists.
func TestBotocoreModelEKS(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(eksModelFile())
	if err != nil {
		missing(t, "the EKS model of aws-sdk %s is not in %s", awsSDKJSVersion, eksModelFile())
	}
	out, err := botocoreModel(b)
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Operations map[string]struct{ Input, Output map[string]any }
		Shapes     map[string]map[string]any
	}
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	var check func(name string, depth int)
	check = func(name string, depth int) {
		s, ok := m.Shapes[name]
		if !ok {
			t.Errorf("shape %s is referenced but missing", name)
			return
		}
		if depth > 8 {
			return
		}
		refs := []any{s["member"], s["key"], s["value"]}
		if mem, ok := s["members"].(map[string]any); ok {
			for _, r := range mem {
				refs = append(refs, r)
			}
		}
		for _, r := range refs {
			if r == nil {
				continue
			}
			n, _ := r.(map[string]any)["shape"].(string)
			if n == "" {
				t.Errorf("shape %s has a reference without a shape: %v", name, r)
				continue
			}
			check(n, depth+1)
		}
	}
	for _, op := range []string{"ListPodIdentityAssociations", "DescribePodIdentityAssociation", "UpdateAddon"} {
		o, ok := m.Operations[op]
		if !ok {
			t.Fatalf("the model has no %s", op)
		}
		check(o.Input["shape"].(string), 0)
		check(o.Output["shape"].(string), 0)
	}
}

// TestModelVersionAgrees: scripts/install-tools.sh fetches the aws-sdk version the tests look for.
func TestModelVersionAgrees(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "scripts", "install-tools.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "\nAWS_SDK_JS_VERSION=" + awsSDKJSVersion + " "; !strings.Contains(string(b), want) {
		t.Errorf("scripts/install-tools.sh does not set AWS_SDK_JS_VERSION=%s", awsSDKJSVersion)
	}
}
