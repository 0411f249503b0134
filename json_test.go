package publicmask

import (
	"encoding/json"
	"testing"
)

// TestJSONPlainAsMarshal: a string JSONPlain takes is encoded by
// json.Marshal as itself between quotes (every byte json.Marshal would
// escape or re-encode makes it decline; it may decline more, such as DEL,
// which then goes through json.Marshal), and it takes the printable ASCII
// that codes and messages are written in.
func TestJSONPlainAsMarshal(t *testing.T) {
	for c := range 256 {
		s := "a" + string([]byte{byte(c)}) + "z"
		b, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		asItself := string(b) == `"`+s+`"`
		if got := JSONPlain(s); got && !asItself {
			t.Errorf("JSONPlain(%q) = true; json.Marshal gives %s", s, b)
		}
	}
	for _, s := range []string{"quota_exceeded", "weekly quota used", "2020-03-16", "Buyer (proxy) #1: 5/5"} {
		if !JSONPlain(s) {
			t.Errorf("JSONPlain(%q) = false", s)
		}
	}
}
