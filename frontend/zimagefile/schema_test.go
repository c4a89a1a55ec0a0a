package zimagefile

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

var updateSchema = flag.Bool("update-schema", false, "rewrite "+SchemaFile)

// TestSchemaUpToDate fails when the checked-in schema differs from what the
// Go types generate (run `go generate ./frontend/zimagefile` to refresh).
func TestSchemaUpToDate(t *testing.T) {
	got, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	if *updateSchema {
		if err := os.WriteFile(SchemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(SchemaFile)
	if err != nil {
		t.Fatalf("%v (run go generate ./frontend/zimagefile)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go generate ./frontend/zimagefile", SchemaFile)
	}
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	dt, err := os.ReadFile(SchemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(dt))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// yamlToJSON converts a YAML document to the JSON value a YAML language
// server validates.
func yamlToJSON(t *testing.T, src []byte) any {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		t.Fatal(err)
	}
	dt, err := json.Marshal(normalize(v))
	if err != nil {
		t.Fatal(err)
	}
	out, err := jsonschema.UnmarshalJSON(bytes.NewReader(dt))
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
		return x
	case map[any]any:
		m := map[string]any{}
		for k, e := range x {
			m[fmt.Sprint(k)] = normalize(e)
		}
		return m
	case []any:
		for i, e := range x {
			x[i] = normalize(e)
		}
	}
	return v
}

// TestSchemaValidatesExamples checks every example against the schema, and
// that the schema rejects what the parser rejects for unknown keys and enums.
func TestSchemaValidatesExamples(t *testing.T) {
	s := compileSchema(t)
	paths, _ := filepath.Glob("../../examples/zimagefile/*/ZImagefile")
	if len(paths) == 0 {
		t.Fatal("no examples")
	}
	for _, p := range paths {
		dt, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Validate(yamlToJSON(t, dt)); err != nil {
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
	} {
		if err := s.Validate(yamlToJSON(t, []byte(bad))); err == nil {
			t.Errorf("schema accepts %q", bad)
		}
		if _, err := Parse("Z", []byte(bad)); err == nil {
			t.Errorf("parser accepts %q", bad)
		}
	}
}
