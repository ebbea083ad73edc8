package logparse

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRealLines classifies the real, publicly posted lines of testdata/real.txt: each record
// names its source, and the classes are the ones the threads settled on. Records that span
// several lines (a paste that split one log record) go through ReadLines, which must deliver
// them as one record.
func TestRealLines(t *testing.T) {
	t.Parallel()
	recs := loadRecords(t, "testdata/real.txt")
	if len(recs) < 100 {
		t.Fatalf("real.txt has %d records, expected at least 100", len(recs))
	}
	var c *Classifier
	stream := "\x00"
	for _, r := range recs {
		if !strings.HasPrefix(r.source, "https://") {
			t.Errorf("real.txt:%d: record without a \"# source: https://...\" comment", r.lineNo)
		}
		if r.stream != stream {
			stream = r.stream
			c = NewClassifierWithClock(func() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) })
		}
		line := []byte(r.line)
		if len(r.lines) > 1 {
			line = readOneRecord(t, r)
			if line == nil {
				continue
			}
		}
		ev := c.Classify(line)
		if diff := cmp.Diff(r.want, got(ev, r.want.Time != "")); diff != "" {
			t.Errorf("real.txt:%d (stream %s, %s) (-want +got):\n%s\nline: %s", r.lineNo, r.stream, r.source, diff, line)
		}
		if r.has != "" && !bytes.Contains(ev.Message, []byte(r.has)) {
			t.Errorf("real.txt:%d: message %q does not contain %q", r.lineNo, ev.Message, r.has)
		}
	}
}

// readOneRecord feeds a multi-line record through ReadLines and returns the one record it
// delivers (nil after reporting an error).
func readOneRecord(t *testing.T, r corpusRecord) []byte {
	t.Helper()
	var recs [][]byte
	var nums []uint64
	st, err := ReadLines(strings.NewReader(strings.Join(r.lines, "\n")+"\n"), 0, func(n uint64, b []byte) error {
		recs = append(recs, bytes.Clone(b))
		nums = append(nums, n)
		return nil
	})
	if err != nil {
		t.Fatalf("real.txt:%d: %v", r.lineNo, err)
	}
	if len(recs) != 1 || nums[0] != 1 || st.Lines != uint64(len(r.lines)) {
		t.Errorf("real.txt:%d: ReadLines delivered %d records (lines %v) from %d lines (stats %+v), want 1 record from line 1",
			r.lineNo, len(recs), nums, len(r.lines), st)
		return nil
	}
	return recs[0]
}
