package main

import (
	"context"
	"log/slog"
)

// PipelineCmd builds the images of a ZPipeline in dependency waves.
type PipelineCmd struct {
	File     string   `short:"f" help:"Pipeline file (default: ZPipeline.yaml, ZPipeline.yml or zlayer-pipeline.yaml)." type:"path"`
	Set      []string `help:"Override a pipeline variable KEY=VALUE (repeatable)."`
	Push     bool     `help:"Push every tag after all images built."`
	NoTUI    bool     `name:"no-tui" help:"Plain progress lines instead of the live view."`
	Only     []string `help:"Build only these images and what they depend on (repeatable)."`
	Print    bool     `help:"Print the generated bake definition instead of building."`
	Builder  string   `env:"BUILDX_BUILDER" help:"buildx builder to use."`
	FailFast bool     `name:"fail-fast" help:"Start no new build after the first failure."`
}

func (c *PipelineCmd) Run(ctx context.Context, log *slog.Logger) error {
	return errNotImplemented("pipeline", "#4")
}
