package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

// TestIpamwatchTailerTorture is the comparison's scenario for ipamwatch's tailer alone:
// every line exactly once.
func TestIpamwatchTailerTorture(t *testing.T) {
	t.Parallel()
	res, err := run(DefaultScenario, impls[0], t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	printRow(&buf, res)
	t.Log(buf.String())
	if res.Lost != 0 || res.Dup != 0 || res.Garbled != 0 || res.GateTimeouts != 0 {
		t.Fatalf("ipamwatch tailer: %+v", res)
	}
	if res.Delivered != int64(res.Written) {
		t.Fatalf("delivered %d of %d lines", res.Delivered, res.Written)
	}
}

// naiveFollower reopens the name and reads on from its last offset, with no idea of
// rotation: the harness must catch it losing or duplicating lines.
func naiveFollower(ctx context.Context, path string, handle func([]byte), _ func(error)) error {
	var off int64
	var pending []byte
	started := false
	for ctx.Err() == nil {
		if f, err := os.Open(path); err == nil {
			if !started {
				off, _ = f.Seek(0, io.SeekEnd)
				started = true
			}
			b, _ := io.ReadAll(io.NewSectionReader(f, off, 1<<40))
			f.Close()
			off += int64(len(b))
			pending = append(pending, b...)
			for {
				i := bytes.IndexByte(pending, '\n')
				if i < 0 {
					break
				}
				handle(pending[:i])
				pending = pending[i+1:]
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

func TestHarnessCatchesANaiveFollower(t *testing.T) {
	t.Parallel()
	sc := DefaultScenario
	sc.Rounds, sc.GateTimeout, sc.Settle = 20, 200*time.Millisecond, 500*time.Millisecond
	res, err := run(sc, impl{"naive", naiveFollower}, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if res.Lost+res.Dup+res.Garbled == 0 {
		t.Fatalf("a follower that ignores rotation passed the torture: %+v", res)
	}
	t.Logf("naive follower: lost %d, duplicated %d, garbled %d", res.Lost, res.Dup, res.Garbled)
}

// TestCompareAll prints the full comparison table (about 1.5 minutes on 2 busy cores).
func TestCompareAll(t *testing.T) {
	if testing.Short() {
		t.Skip("the full comparison takes minutes; run without -short")
	}
	var buf bytes.Buffer
	results, err := compare(&buf, DefaultScenario, "")
	t.Log("\n" + buf.String())
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(impls) {
		t.Fatalf("%d results for %d followers", len(results), len(impls))
	}
	if r := results[0]; !strings.HasPrefix(r.Impl, "ipamwatch") || r.Lost+r.Dup+r.Garbled != 0 || r.Delivered != int64(r.Written) {
		t.Errorf("ipamwatch's row is not lossless: %+v", r)
	}
}
