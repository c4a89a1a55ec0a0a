package main

import (
	"fmt"
	"os"

	"github.com/zlayer/zlayer/frontend/zimagefile"
	"github.com/zlayer/zlayer/noderuntime/nodeconfig"
	"github.com/zlayer/zlayer/noderuntime/spec"
	pipelinespec "github.com/zlayer/zlayer/pipeline/spec"
)

// schemaFormats are the file formats with a JSON Schema, each generated from
// the Go types its parser reads.
var schemaFormats = map[string]func() ([]byte, error){
	"zimagefile": zimagefile.JSONSchema,
	"spec":       spec.JSONSchema,
	"pipeline":   pipelinespec.JSONSchema,
	"nodeconfig": nodeconfig.JSONSchema,
}

// SchemaCmd prints the JSON Schema of one of ZLayer's YAML formats, for
// editors and CI validation.
type SchemaCmd struct {
	Format string `arg:"" enum:"zimagefile,spec,pipeline,nodeconfig" help:"Format: zimagefile (ZImagefile), spec (deployment spec), pipeline (ZPipeline.yaml) or nodeconfig (serve --config)."`
	Output string `short:"o" help:"Write the schema here instead of stdout." type:"path"`
}

func (c *SchemaCmd) Run() error {
	gen, ok := schemaFormats[c.Format]
	if !ok {
		return fmt.Errorf("schema: unknown format %q", c.Format)
	}
	dt, err := gen()
	if err != nil {
		return fmt.Errorf("schema %s: %w", c.Format, err)
	}
	return writeOut(c.Output, dt)
}

// writeOut writes dt to path, or to stdout when path is empty.
func writeOut(path string, dt []byte) error {
	if path != "" {
		return os.WriteFile(path, dt, 0o644)
	}
	_, err := os.Stdout.Write(dt)
	return err
}
