package publicmask

import "testing"

// TestEpochsHold: a cursor resumes only from a prefix of the store's
// history: its epoch in the chain and its version not beyond where that
// epoch ended.
func TestEpochsHold(t *testing.T) {
	// A store started at 0 (a), restarted at 40 (b); a backup taken at 70
	// under b and restored, then started (c from 70).
	restored := ParseEpochs("a:0,b:40,c:70")
	if got := restored.String(); got != "a:0,b:40,c:70" {
		t.Fatalf("String: %q", got)
	}
	for _, tc := range []struct {
		epoch string
		v     int64
		want  bool
	}{
		{"a", 40, true},  // a ended at 40
		{"a", 41, false}, // a never reached 41 in this history
		{"b", 70, true},  // up to the backup
		{"b", 85, false}, // b's sales after the backup: lost
		{"c", 5000, true},
		{"x", 1, false}, // an epoch this store never had (recreated)
		{"", 0, true},   // before the first epoch
		{"", 1, false},
	} {
		if got := restored.Holds(tc.epoch, tc.v); got != tc.want {
			t.Errorf("Holds(%q, %d) = %v, want %v", tc.epoch, tc.v, got, tc.want)
		}
	}
	if !Epochs(nil).Holds("", 99) || Epochs(nil).Holds("a", 1) {
		t.Error("a store without epochs holds bare versions only")
	}
	// The chain is bounded; an epoch dropped from it resets its cursors.
	var es Epochs
	for i := range keepEpochs + 5 {
		es = es.With(Epoch{NewEpochID(), int64(i)})
	}
	if len(es) != keepEpochs || es.Holds("", 0) {
		t.Errorf("chain of %d after %d starts; holds the stretch before it: %v", len(es), keepEpochs+5, es.Holds("", 0))
	}
	if got := ParseEpochs("a:1,bad id:2,c:x,d:4"); got.String() != "a:1,d:4" {
		t.Errorf("unreadable entries kept: %q", got)
	}
}

func TestParseCursor(t *testing.T) {
	for _, tc := range []struct {
		in    string
		v     int64
		epoch string
		ok    bool
	}{
		{"12", 12, "", true},
		{"12@ab09", 12, "ab09", true},
		{"12@", 0, "", false},
		{"-1", 0, "", false},
		{"12@a-b", 0, "", false},
		{"x@ab", 0, "", false},
	} {
		v, ep, ok := ParseCursor(tc.in)
		if v != tc.v || ep != tc.epoch || ok != tc.ok {
			t.Errorf("ParseCursor(%q) = %d %q %v", tc.in, v, ep, ok)
		}
		if ok && string(AppendCursor(nil, v, ep)) != tc.in {
			t.Errorf("AppendCursor(%d, %q) = %q", v, ep, AppendCursor(nil, v, ep))
		}
	}
}
