package main

import (
	"os"
	"path/filepath"
	"testing"
)

// Every format's schema comes out as its checked-in file, through the one
// command.
func TestSchemaCmdPrintsTheCheckedInSchemas(t *testing.T) {
	checkedIn := map[string]string{
		"zimagefile": "../../frontend/zimagefile/zimagefile.schema.json",
		"spec":       "../../noderuntime/spec/schema.json",
		"pipeline":   "../../pipeline/spec/zpipeline.schema.json",
		"nodeconfig": "../../noderuntime/nodeconfig/nodeconfig.schema.json",
	}
	if len(checkedIn) != len(schemaFormats) {
		t.Fatalf("test knows %d formats, the command %d", len(checkedIn), len(schemaFormats))
	}
	for format, file := range checkedIn {
		out := filepath.Join(t.TempDir(), "schema.json")
		if err := (&SchemaCmd{Format: format, Output: out}).Run(); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		got, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("zlayer schema %s differs from %s", format, file)
		}
	}
	if err := (&SchemaCmd{Format: "dockerfile"}).Run(); err == nil {
		t.Error("unknown format: no error")
	}
}
