package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse checks that no input panics the reader and that every rejection
// is a positioned Error (or a list of them) inside the file.
func FuzzParse(f *testing.F) {
	example := filepath.Join("..", "..", "examples", "pipeline", "ZPipeline.yaml")
	if dt, err := os.ReadFile(example); err == nil {
		f.Add(dt)
	}
	f.Add([]byte(full))
	f.Add([]byte("images:\n  a: &a {file: Dockerfile}\n  b: {<<: *a, depends_on: [a]}\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("vars: {A: ${B}, B: ${A}}\nimages: {a: {file: x, tags: [\"${A}\"]}}\n"))
	file, err := filepath.Abs(example)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pl, err := Parse(file, data, map[string]string{"VERSION": "1"})
		if err == nil {
			if pl == nil || len(pl.Images) == 0 {
				t.Fatalf("accepted without images: %+v", pl)
			}
			return
		}
		var list ErrorList
		var one *Error
		var errs []*Error
		switch {
		case errors.As(err, &list):
			errs = list
		case errors.As(err, &one):
			errs = []*Error{one}
		default:
			t.Fatalf("rejection is not a positioned Error: %T %v", err, err)
		}
		// YAML breaks lines at CR LF, CR, LF, and (yaml.v3, as YAML 1.1)
		// at NEL, LS and PS too.
		norm := strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n").Replace(string(data))
		lines := strings.Count(norm, "\n") + 1
		for _, e := range errs {
			if e.File != file {
				t.Fatalf("error names file %q, want %q: %v", e.File, file, e)
			}
			if e.Pos.Line > lines {
				t.Fatalf("error at line %d of a %d-line file: %v", e.Pos.Line, lines, e)
			}
		}
	})
}
