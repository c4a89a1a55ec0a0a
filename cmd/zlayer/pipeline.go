package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/term"

	"github.com/zlayer/zlayer/pipeline"
	"github.com/zlayer/zlayer/pipeline/progress"
	"github.com/zlayer/zlayer/pipeline/schedule"
	"github.com/zlayer/zlayer/pipeline/spec"
)

// PipelineCmd builds the images of a ZPipeline in dependency waves.
type PipelineCmd struct {
	File     string   `short:"f" help:"Pipeline file (default: ZPipeline.yaml, ZPipeline.yml or zlayer-pipeline.yaml)." type:"path"`
	Set      []string `sep:"none" help:"Override a pipeline variable KEY=VALUE (repeatable)."`
	Push     bool     `help:"Push every tag after all images built."`
	NoTUI    bool     `name:"no-tui" help:"Plain progress lines instead of the live view."`
	Only     []string `help:"Build only these images and what they depend on (repeatable)."`
	Print    bool     `help:"Print the generated bake definition instead of building."`
	Builder  string   `env:"BUILDX_BUILDER" help:"buildx builder to use."`
	FailFast bool     `name:"fail-fast" help:"Start no new build after the first failure."`
	Frontend string   `env:"ZLAYER_FRONTEND" help:"Frontend image for ZImagefiles without a syntax line (default zlayer/zimagefile)."`
	Jobs     int      `help:"Build at most this many images at once (0: no limit)." default:"0"`
	Out      string   `help:"Keep each image's OCI layout in this folder (default: a temp folder, removed after the run)." type:"path"`
	Logs     bool     `help:"With plain progress, also print the build steps' output."`
}

func (c *PipelineCmd) Run(ctx context.Context, log *slog.Logger) error {
	opts := pipeline.Options{
		File: c.File, Sets: c.Set, Only: c.Only, Push: c.Push, FailFast: c.FailFast,
		Builder: c.Builder, Frontend: c.Frontend, Jobs: c.Jobs, OutDir: c.Out,
	}
	pl, err := pipeline.Load(opts)
	if err != nil {
		return err
	}
	if c.Print {
		return pipeline.Print(pl, opts, os.Stdout)
	}
	return runPipeline(ctx, pl, opts, !c.NoTUI && term.IsTerminal(int(os.Stdout.Fd())), c.Logs)
}

// runPipeline runs a loaded pipeline with the live view or plain lines and
// turns its outcome into the exit status.
func runPipeline(ctx context.Context, pl *spec.Pipeline, opts pipeline.Options, tui, logs bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var d pipeline.Display = &progress.Plain{W: os.Stdout, Logs: logs}
	if tui {
		d = &progress.TUI{Out: os.Stdout, Cancel: cancel}
	}
	sum, err := pipeline.Run(ctx, pl, opts, d)
	if err == nil {
		return nil
	}
	if sum == nil {
		return err
	}
	switch {
	case errors.Is(err, schedule.ErrFailed):
		if opts.Push || pl.PushAfterAll {
			fmt.Fprintln(os.Stderr, "nothing was pushed: pushing waits until every image has built")
		}
		return exitError{code: 1, err: err}
	case errors.Is(err, pipeline.ErrPush):
		return exitError{code: 1, err: err}
	case errors.Is(err, context.Canceled):
		return exitError{code: 130, err: errors.New("pipeline cancelled")}
	}
	return err
}
