package rrn

import "testing"

func TestContainsAndMask(t *testing.T) {
	cases := []struct {
		in   string
		want bool
		mask string
	}{
		{"t-8303151234561", true, "t-*************"},
		{"830315-1234561", true, "******-*******"},
		{"x830315-1234561y", true, "x******-*******y"},
		{"sale-1764500000123", false, ""},  // a millisecond timestamp: month 64
		{"t-8303151234562", false, ""},     // wrong check digit
		{"t-83031512345611", false, ""},    // 14 digits: not a 13-digit run
		{"1764500000123456789", false, ""}, // nanoseconds
		{"/api/v2/outlets/8303151234561", true, "/api/v2/outlets/*************"},
		{"abc", false, ""},
		{"", false, ""},
	}
	for _, c := range cases {
		if got := Contains(c.in); got != c.want {
			t.Errorf("Contains(%q) = %v, want %v", c.in, got, c.want)
		}
		want := c.mask
		if !c.want {
			want = c.in
		}
		if got := Mask(c.in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", c.in, got, want)
		}
	}
}
