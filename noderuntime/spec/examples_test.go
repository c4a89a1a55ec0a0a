package spec

import (
	"path/filepath"
	"testing"
)

// The example specs shipped with the project stay valid.
func TestExamplesAreValid(t *testing.T) {
	files, _ := filepath.Glob("../../examples/deploy/*.yaml")
	n := 0
	for _, f := range files {
		if filepath.Base(f) == "node-config.yaml" {
			continue
		}
		n++
		if _, err := ParseFile(f); err != nil {
			t.Errorf("%v", err)
		}
	}
	if n == 0 {
		t.Fatal("no example specs found")
	}
}
