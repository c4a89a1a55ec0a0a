package zimagefile

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzParse checks that no input panics the parser and that every rejection
// is an ErrorList whose entries carry a position inside the file.
func FuzzParse(f *testing.F) {
	f.Add([]byte(seedExample))
	f.Add([]byte("base: a\nsteps:\n  - run: x\n    copy: y\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("stages:\n  a: {base: b, steps: [{copy: x, to: y, from: a}]}\n"))
	examples, _ := filepath.Glob("../../examples/zimagefile/*/ZImagefile")
	for _, p := range examples {
		if dt, err := os.ReadFile(p); err == nil {
			f.Add(dt)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("ZImagefile", data)
		if err == nil {
			if file == nil {
				t.Fatal("nil file without error")
			}
			return
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("rejection is not a positioned ErrorList: %T %v", err, err)
		}
		// YAML breaks lines at CR LF, CR, LF, and (yaml.v3, as YAML 1.1)
		// at NEL, LS and PS too.
		norm := strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n").Replace(string(data))
		lines := strings.Count(norm, "\n") + 1
		for _, e := range list {
			if e.Range.Start.Line < 1 || e.Range.Start.Column < 1 {
				t.Fatalf("error without position: %v", e)
			}
			if e.Range.Start.Line > lines+1 {
				t.Fatalf("error past the end of a %d-line file: %v", lines, e)
			}
		}
	})
}

func TestParseMergeBomb(t *testing.T) {
	src := "stages:\n  a: &a {base: x}\n"
	prev := "a"
	for i := 0; i < 15; i++ {
		name := string(rune('b' + i))
		src += "  " + name + ": &" + name + "\n    <<: [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = name
	}
	done := make(chan error, 1)
	go func() { _, err := Parse("Z", []byte(src)); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("merge bomb accepted")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("merge bomb hangs the parser")
	}
}
