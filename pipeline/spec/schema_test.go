package spec

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/internal/jsonschema/schematest"
)

// TestSchemaUpToDate fails when the checked-in schema differs from what the
// Go types generate (run `go generate ./pipeline/spec` to refresh).
func TestSchemaUpToDate(t *testing.T) {
	schematest.UpToDate(t, SchemaFile, JSONSchema)
}

// TestSchemaKeysMatchParser holds every mapping of the schema to the keys
// the parser takes there.
func TestSchemaKeysMatchParser(t *testing.T) {
	d := schematest.Decode(t, JSONSchema)
	props := d.Root["properties"].(map[string]any)
	defs := d.Root["$defs"].(map[string]any)
	for _, c := range []struct {
		path   string
		m      any
		parser []string
	}{
		{"<root>", d.Root, topKeys},
		{"defaults", props["defaults"], defaultsKeys},
		{"push", props["push"], pushKeys},
		{"images.*", defs["imageEntry"], imageKeys},
	} {
		if got, want := d.Keys(c.path, c.m.(map[string]any)), slices.Sorted(slices.Values(c.parser)); !slices.Equal(got, want) {
			t.Errorf("%s: schema keys %v, parser keys %v", c.path, got, want)
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

// Sections written with nothing under them are empty to the parser, and
// the schema takes them too.
func TestSchemaTakesNullSections(t *testing.T) {
	s := schematest.Compile(t, SchemaFile, SchemaID)
	doc := "vars:\ndefaults:\npush:\nimages:\n  app:\n    file: Dockerfile\n"
	if err := schematest.Validate(s, []byte(doc)); err != nil {
		t.Error(err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/Dockerfile", []byte("FROM busybox\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(dir+"/ZPipeline.yaml", []byte(doc), nil); err != nil {
		t.Errorf("parser: %v", err)
	}
}
