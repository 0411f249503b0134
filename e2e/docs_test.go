package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// docExample is a shell block of docs/api.md and the answer shown after it.
type docExample struct {
	line         int
	script       string
	kind, output string // kind: "json", "json exact" or "text"
}

// docExamples reads the ```sh blocks of a Markdown file, each paired with
// the output block that follows it.
func docExamples(t *testing.T, path string) []docExample {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []docExample
	var cur *strings.Builder
	var info string
	var start int
	for i, line := range strings.Split(string(raw), "\n") {
		if after, ok := strings.CutPrefix(line, "```"); ok {
			if cur == nil {
				cur, info, start = &strings.Builder{}, after, i+1
				continue
			}
			body := cur.String()
			switch {
			case info == "sh":
				out = append(out, docExample{line: start, script: body})
			case (info == "json" || info == "json exact" || info == "text") && len(out) > 0 && out[len(out)-1].kind == "":
				out[len(out)-1].kind, out[len(out)-1].output = info, body
			}
			cur = nil
			continue
		}
		if cur != nil {
			cur.WriteString(line + "\n")
		}
	}
	return out
}

// TestDocumentedExamplesWork pastes every curl example of docs/api.md into
// a shell against the binary (demo seed, as the document says) and compares
// the answer with the one the document shows: the same fields with the same
// JSON types ("json"), byte for byte ("json exact"), or the shown lines in
// order, a line ending in "…" as a prefix ("text").
func TestDocumentedExamplesWork(t *testing.T) {
	skipShort(t, "starts the demo seed")
	for _, tool := range []string{"bash", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	examples := docExamples(t, filepath.Join("..", "docs", "api.md"))
	if len(examples) < 12 {
		t.Fatalf("docs/api.md: %d examples, want one for each public endpoint", len(examples))
	}
	s := start(t, "--db", filepath.Join(t.TempDir(), "pm.db"), "--tiles", "none")
	for _, ex := range examples {
		script := strings.ReplaceAll(ex.script, "http://localhost:8080", s.base)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, "bash", "-c", script)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		got, err := cmd.Output()
		cancel()
		// 28: curl's --max-time, which ends the stream example.
		if ee := (*exec.ExitError)(nil); err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 28) {
			t.Errorf("docs/api.md:%d: %v %s\n%s", ex.line, err, stderr.Bytes(), ex.script)
			continue
		}
		if err := matchDocOutput(ex.kind, ex.output, got); err != nil {
			t.Errorf("docs/api.md:%d: %v\nscript:\n%sgot:\n%s", ex.line, err, ex.script, got)
		}
	}
}

func matchDocOutput(kind, want string, got []byte) error {
	switch kind {
	case "":
		return errors.New("no output block after the example")
	case "json exact":
		var w bytes.Buffer
		if err := json.Compact(&w, []byte(want)); err != nil {
			return fmt.Errorf("the document's JSON: %v", err)
		}
		if !bytes.Equal(w.Bytes(), bytes.TrimSpace(got)) {
			return fmt.Errorf("answer differs from the document's\nwant %s", w.Bytes())
		}
		return nil
	case "json":
		var w, g any
		if err := decodeNumbers([]byte(want), &w); err != nil {
			return fmt.Errorf("the document's JSON: %v", err)
		}
		if err := decodeNumbers(got, &g); err != nil {
			return fmt.Errorf("answer is not JSON: %v", err)
		}
		return sameShape("$", w, g)
	default: // text
		lines := strings.Split(string(got), "\n")
		i := 0
		for w := range strings.SplitSeq(want, "\n") {
			w = strings.TrimRight(w, "\r")
			if w == "" {
				continue
			}
			prefix, isPrefix := strings.CutSuffix(w, "…")
			for ; i < len(lines); i++ {
				l := strings.TrimRight(lines[i], "\r")
				if l == w || isPrefix && strings.HasPrefix(l, prefix) {
					break
				}
			}
			if i == len(lines) {
				return fmt.Errorf("line %q not in the answer (in order)", w)
			}
			i++
		}
		return nil
	}
}

func decodeNumbers(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

// sameShape: got has the document's fields with the same JSON types, and
// no field the document does not show. An object keyed by names (a
// non-ASCII key, e.g. 시도) is a map: the document shows some of its
// entries. An array's elements all have the shape of the document's first.
func sameShape(path string, want, got any) error {
	if fmt.Sprintf("%T", want) != fmt.Sprintf("%T", got) {
		return fmt.Errorf("%s: %T in the answer, the document shows %T", path, got, want)
	}
	switch w := want.(type) {
	case map[string]any:
		g := got.(map[string]any)
		isMap := false
		for k := range w {
			if utf8.RuneCountInString(k) != len(k) {
				isMap = true
			}
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return fmt.Errorf("%s.%s: in the document, not in the answer", path, k)
			}
			if err := sameShape(path+"."+k, wv, gv); err != nil {
				return err
			}
		}
		if !isMap {
			var extra []string
			for k := range g {
				if _, ok := w[k]; !ok {
					extra = append(extra, k)
				}
			}
			if len(extra) > 0 {
				slices.Sort(extra)
				return fmt.Errorf("%s: %v in the answer, not in the document", path, extra)
			}
		}
	case []any:
		g := got.([]any)
		if len(w) > 0 && len(g) == 0 {
			return fmt.Errorf("%s: empty in the answer, not in the document", path)
		}
		if len(w) > 0 {
			for i, gv := range g {
				if err := sameShape(fmt.Sprintf("%s[%d]", path, i), w[0], gv); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
