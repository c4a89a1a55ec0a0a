package spec

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/internal/jsonschema/schematest"
)

// TestSchemaUpToDate fails when the checked-in schema differs from what the
// Go types generate (run `go generate ./pipeline/spec` to refresh).
func TestSchemaUpToDate(t *testing.T) {
	got, err := JSONSchema()
	schematest.UpToDate(t, SchemaFile, got, err)
}

// TestSchemaKeysMatchParser holds every mapping of the schema to the keys
// the parser takes there.
func TestSchemaKeysMatchParser(t *testing.T) {
	b, err := JSONSchema()
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(b, &root); err != nil {
		t.Fatal(err)
	}
	props := func(m any, path ...string) []string {
		for _, k := range path {
			m = m.(map[string]any)[k]
		}
		obj := m.(map[string]any)
		if obj["additionalProperties"] != false {
			t.Errorf("%v allows unknown keys", path)
		}
		var keys []string
		for k := range obj["properties"].(map[string]any) {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		return keys
	}
	for _, c := range []struct {
		path   []string
		parser []string
	}{
		{nil, topKeys},
		{[]string{"properties", "defaults"}, defaultsKeys},
		{[]string{"properties", "push"}, pushKeys},
		{[]string{"$defs", "imageEntry"}, imageKeys},
	} {
		if got, want := props(root, c.path...), slices.Sorted(slices.Values(c.parser)); !slices.Equal(got, want) {
			t.Errorf("%v: schema keys %v, parser keys %v", c.path, got, want)
		}
	}
}

// TestSchemaValidatesExamples checks the example pipeline and the tests'
// full pipeline against the schema, and that the schema refuses what the
// parser refuses for shape.
func TestSchemaValidatesExamples(t *testing.T) {
	s := schematest.Compile(t, SchemaFile, SchemaID)
	ex, err := os.ReadFile("../../examples/pipeline/ZPipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ex), "yaml-language-server: $schema=../../pipeline/spec/"+SchemaFile) {
		t.Errorf("examples/pipeline/ZPipeline.yaml has no yaml-language-server line for %s", SchemaFile)
	}
	for name, doc := range map[string][]byte{"example": ex, "full": []byte(full)} {
		if err := schematest.Validate(s, doc); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	img := "images:\n  app:\n    file: Dockerfile\n"
	for _, bad := range []string{
		"version: \"2\"\n" + img,
		"bogus: 1\n" + img,
		"vars: {bad-name: x}\n" + img,
		"defaults: {format: tar}\n" + img,
		"push: {later: true}\n" + img,
		img + "    tags: {a: b}\n",
		img + "    cache: true\n",
		"images:\n  -bad:\n    file: Dockerfile\n",
		"images:\n  app:\n    context: .\n",
		"vars: {A: b}\n",
	} {
		if err := schematest.Validate(s, []byte(bad)); err == nil {
			t.Errorf("schema accepts %q", bad)
		}
		parseErr(t, bad, nil)
	}
}
