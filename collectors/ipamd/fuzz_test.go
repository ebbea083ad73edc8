package ipamd

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// FuzzDecodeENIs: no input may panic, and any accepted state must be internally consistent.
func FuzzDecodeENIs(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "enis", "*.json"))
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range seeds {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"0":{"ENIs":{"e":{"IPv6Cidrs":{"::/0":{}}}}}}`))
	f.Add([]byte(`{"ENIs":{"e":{"AvailableIPv4Cidrs":{"0.0.0.0/0":{"IsPrefix":true}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := DecodeENIsAt(data, fixtureNow, DefaultCooldown)
		st2, err2 := DecodeENIsReaderAt(bytes.NewReader(data), 1<<20, fixtureNow, DefaultCooldown)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("bytes and reader disagree: %v vs %v", err, err2)
		}
		if err != nil {
			if st != nil {
				t.Fatalf("state next to error %v", err)
			}
			return
		}
		if st.Shape != ShapeSingle && st.Shape != ShapeMultiCard {
			t.Fatalf("shape %q", st.Shape)
		}
		if len(st.ENIs) != len(st2.ENIs) {
			t.Fatalf("reader decoded %d ENIs, bytes %d", len(st2.ENIs), len(st.ENIs))
		}
		for _, e := range st.ENIs {
			if e.Slots != e.Prefixes+e.SecondaryIPs || e.Free < 0 || e.Cooldown < 0 || e.Assigned < 0 {
				t.Fatalf("inconsistent ENI %+v", e)
			}
		}
	})
}

func FuzzDecodeEnvSettings(f *testing.F) {
	for _, name := range []string{"ipamd-env-settings.json", "networkutils-env-settings.json", "available-commands.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "enis", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"A":null,"B":{"c":[1,2]},"C":-1.5e3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := DecodeEnvSettings(data)
		if err == nil && m == nil {
			t.Fatal("nil map without error")
		}
	})
}

func FuzzDecodeENIConfig(f *testing.F) {
	f.Add([]byte(`"default"`))
	f.Add([]byte(`{"AvailableCommands":[]}`))
	f.Add([]byte("404 page not found"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := DecodeENIConfig(data)
		if err != nil && s != "" {
			t.Fatalf("value %q next to error %v", s, err)
		}
	})
}
