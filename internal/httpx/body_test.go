package httpx

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/publicmask/publicmask"
)

// TestAppendBodyAsMarshal: an error body appended by hand is json.Marshal's
// byte for byte whenever appendBody takes it, and appendBody declines any
// body with a string json.Marshal would escape or with candidates.
func TestAppendBodyAsMarshal(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	strs := []string{"", "quota_exceeded", "not eligible to buy today", "2020-03-16", "buyer", "proxy",
		"a\"b", `a\b`, "<b>", "x&y", "tab\there", "nl\n", "del\x7f", "한국", "\u2028", "\xff", "~ !#$%'()*+,-./:;=?@[]^_`{|}"}
	str := func() string { // plain three times in four
		if rng.IntN(4) > 0 {
			return strs[rng.IntN(6)]
		}
		return strs[rng.IntN(len(strs))]
	}
	ptr := func() *string {
		if rng.IntN(3) == 0 {
			return nil
		}
		s := str()
		return &s
	}
	taken := 0
	for range 20000 {
		b := Body{Error: Detail{Code: str(), Message: str()}}
		if rng.IntN(10) == 0 {
			b.Candidates = []string{str()}
		}
		switch n := rng.IntN(5); n {
		case 0:
		case 1:
			b.Error.Persons = []publicmask.PersonVerdict{}
		default:
			for range n - 1 {
				v := publicmask.PersonVerdict{Role: str(), Eligible: rng.IntN(2) == 0, Reason: ptr(), NextDate: ptr()}
				if rng.IntN(3) > 0 {
					r := rng.IntN(2000) - 1000
					v.RemainingThisWeek = &r
				}
				b.Error.Persons = append(b.Error.Persons, v)
			}
		}
		want, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := appendBody(nil, b)
		if !ok {
			continue
		}
		taken++
		if string(got) != string(want) {
			t.Fatalf("appendBody = %s\njson.Marshal = %s", got, want)
		}
	}
	if taken < 5000 {
		t.Fatalf("appendBody took only %d bodies", taken)
	}
	for _, s := range strs[6 : len(strs)-1] { // the last is plain
		if _, ok := appendBody(nil, Body{Error: Detail{Code: "bad_request", Message: s}}); ok {
			t.Errorf("appendBody took a message %q", s)
		}
	}
	if _, ok := appendBody(nil, Body{Error: Detail{Code: "ambiguous_address"}, Candidates: []string{"a"}}); ok {
		t.Error("appendBody took candidates")
	}
}
