package zimagefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/internal/jsonschema/schematest"
)

// TestSchemaUpToDate fails when the checked-in schema differs from what the
// Go types generate (run `go generate ./frontend/zimagefile` to refresh).
func TestSchemaUpToDate(t *testing.T) {
	schematest.UpToDate(t, SchemaFile, JSONSchema)
}

// TestSchemaValidatesExamples checks every example against the schema, and
// that the schema rejects what the parser rejects for unknown keys and enums.
func TestSchemaValidatesExamples(t *testing.T) {
	s := schematest.Compile(t, SchemaFile, SchemaID)
	var paths []string
	for _, g := range []string{"../../examples/zimagefile/*/ZImagefile", "../../examples/*/ZImagefile", "../../examples/pipeline/*/ZImagefile"} {
		m, _ := filepath.Glob(g)
		paths = append(paths, m...)
	}
	if len(paths) == 0 {
		t.Fatal("no examples")
	}
	for _, p := range paths {
		dt, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := schematest.Validate(s, dt); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if _, err := Parse(p, dt); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if !strings.Contains(string(dt), "yaml-language-server: $schema=") {
			t.Errorf("%s has no yaml-language-server schema line", p)
		}
	}
	for _, bad := range []string{
		"base: a\nbogus: 1\n",
		"stages:\n  a:\n    base: b\n    steps:\n      - run: x\n        cache: [{target: /c, sharing: all}]\n",
		"env: {A: b}\n",
		"wasm: {language: cobol}\n",
		"base: a\nexpose: http\n",
		"version: \"2\"\nbase: a\n",
		"base: a\nsteps:\n  - run: x\n    secrets: [{id: a, target: /a, env: A}]\n",
		"base: a\nsteps:\n  - run: x\n    secrets: [{target: /a}]\n",
		"base: a\nsteps:\n  - run: x\n    secrets: [{id: a, target: rel}]\n",
		"base: a\nsteps:\n  - run: x\n    ssh: [{id: a, env: B}]\n",
	} {
		if err := schematest.Validate(s, []byte(bad)); err == nil {
			t.Errorf("schema accepts %q", bad)
		}
		if _, err := Parse("Z", []byte(bad)); err == nil {
			t.Errorf("parser accepts %q", bad)
		}
	}
}
