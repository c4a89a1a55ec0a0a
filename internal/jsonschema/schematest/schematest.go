// Package schematest checks YAML documents against a format's checked-in
// JSON Schema, the way a YAML language server does, and keeps that file up
// to date. Only tests import it, so the validator stays out of binaries.
package schematest

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update-schema", false, "rewrite the checked-in JSON Schema files")

// UpToDate fails t when file differs from what gen makes; with
// -update-schema it writes that to file first.
func UpToDate(t *testing.T, file string, gen func() ([]byte, error)) {
	t.Helper()
	generated, err := gen()
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(file, generated, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update-schema)", err, t.Name())
	}
	if !bytes.Equal(generated, want) {
		t.Fatalf("%s is stale: run go test -run %s -update-schema in its package", file, t.Name())
	}
}

// Compile reads the schema in file, registered under id.
func Compile(t *testing.T, file, id string) *jsonschema.Schema {
	t.Helper()
	dt, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(dt))
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(id, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(id)
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	return s
}

// Validate checks one YAML document against s.
func Validate(s *jsonschema.Schema, src []byte) error {
	v, err := JSONValue(src)
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// JSONValue is the JSON value a YAML language server sees for src.
func JSONValue(src []byte) (any, error) {
	var v any
	if err := yaml.Unmarshal(src, &v); err != nil {
		return nil, fmt.Errorf("yaml: %w", err)
	}
	dt, err := json.Marshal(normalize(v))
	if err != nil {
		return nil, fmt.Errorf("to json: %w", err)
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(dt))
}

// normalize turns the maps yaml.v3 makes for non-string keys into JSON
// objects, as a language server does.
func normalize(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = normalize(e)
		}
	case map[any]any:
		m := make(map[string]any, len(x))
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

// Doc is a generated schema decoded for tests that walk it.
type Doc struct {
	t    *testing.T
	Root map[string]any
}

// Decode decodes the schema gen makes.
func Decode(t *testing.T, gen func() ([]byte, error)) *Doc {
	t.Helper()
	generated, err := gen()
	if err != nil {
		t.Fatal(err)
	}
	d := &Doc{t: t}
	if err := json.Unmarshal(generated, &d.Root); err != nil {
		t.Fatal(err)
	}
	return d
}

// Resolve follows m's $ref into $defs, if it has one, past a nullable
// field's anyOf [null, schema].
func (d *Doc) Resolve(m map[string]any) map[string]any {
	if alts, ok := m["anyOf"].([]any); ok && len(alts) == 2 {
		if n, _ := alts[0].(map[string]any); n["type"] == "null" {
			m = alts[1].(map[string]any)
		}
	}
	r, ok := m["$ref"].(string)
	if !ok {
		return m
	}
	defs, _ := d.Root["$defs"].(map[string]any)
	def, ok := defs[strings.TrimPrefix(r, "#/$defs/")].(map[string]any)
	if !ok {
		d.t.Fatalf("dangling $ref %s", r)
	}
	return def
}

// Keys is the sorted property names of object m (after Resolve), failing
// when it allows unknown keys.
func (d *Doc) Keys(path string, m map[string]any) []string {
	d.t.Helper()
	m = d.Resolve(m)
	if m["additionalProperties"] != false {
		d.t.Errorf("%s: the schema allows unknown keys", path)
	}
	props, _ := m["properties"].(map[string]any)
	return slices.Sorted(maps.Keys(props))
}
