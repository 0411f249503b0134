package app

import (
	"slices"
	"testing"
)

func TestRedactArgs(t *testing.T) {
	cases := []struct{ in, want []string }{
		{[]string{"pm", "serve", "--admin-token", "s3cret-s3cret-s3cret"}, []string{"pm", "serve", "--admin-token", "REDACTED"}},
		{[]string{"pm", "serve", "-admin-token=s3cret-s3cret-s3cret", "--addr", "x"}, []string{"pm", "serve", "-admin-token=REDACTED", "--addr", "x"}},
		{[]string{"pm", "serve", "--db", "postgres://u:pw@h/db"}, []string{"pm", "serve", "--db", "postgres://…@h/db"}},
		{[]string{"pm", "rush", "--target=http://x", "--admin-token=abc"}, []string{"pm", "rush", "--target=http://x", "--admin-token=REDACTED"}},
		{[]string{"pm", "serve", "--admin-token-file", "/etc/pm/token"}, []string{"pm", "serve", "--admin-token-file", "/etc/pm/token"}},
		// libpq's query parameters carry a password too.
		{[]string{"pm", "serve", "--db=postgresql://u@h/db?sslmode=disable&password=pw&sslpassword=kp"},
			[]string{"pm", "serve", "--db=postgresql://…@h/db?sslmode=disable&password=REDACTED&sslpassword=REDACTED"}},
		{[]string{"pm", "serve", "--db", "postgres://u:p@s/s@h/db?password=a@b"}, []string{"pm", "serve", "--db", "postgres://…@h/db?password=REDACTED"}},
		{[]string{"pm", "serve", "--db", "postgres://u:pw@h/db?password=pw2"}, []string{"pm", "serve", "--db", "postgres://…@h/db?password=REDACTED"}},
		{[]string{"pm", "serve", "--db", "data/a@b.db"}, []string{"pm", "serve", "--db", "data/a@b.db"}},
	}
	for _, c := range cases {
		if got := RedactArgs(c.in); !slices.Equal(got, c.want) {
			t.Errorf("RedactArgs(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
