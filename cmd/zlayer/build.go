package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/zlayer/zlayer/pipeline/imagebuild"
)

// BuildCmd builds one image. Flags mirror `docker buildx build` where they overlap.
type BuildCmd struct {
	File      string   `short:"f" help:"Build file (default: ZImagefile, a single ZImagefile.<suffix>, or Dockerfile in the context)." type:"path"`
	Tags      []string `short:"t" name:"tag" sep:"none" help:"Image name and tag (repeatable)."`
	BuildArgs []string `name:"build-arg" sep:"none" help:"Build-time variable KEY=VALUE (repeatable)."`
	Target    string   `help:"Stage to build."`
	Platforms []string `name:"platform" help:"Target platform (repeatable)."`
	NoCache   bool     `name:"no-cache" help:"Do not use the build cache."`
	Push      bool     `help:"Push the image to its registry."`
	Load      bool     `help:"Load the image into the local image store."`
	Output    []string `short:"o" sep:"none" help:"Output destination (buildx --output syntax)."`
	Secrets   []string `name:"secret" sep:"none" help:"Build secret id=ID,src=FILE or id=ID,env=VAR (repeatable); run steps mount it, it never lands in the image."`
	SSH       []string `name:"ssh" sep:"none" help:"SSH agent for run steps: default (the agent at SSH_AUTH_SOCK), ID=SOCKET or ID=KEY[,KEY] (repeatable)."`
	Builder   string   `env:"BUILDX_BUILDER" help:"buildx builder to use."`
	Addr      string   `env:"BUILDKIT_HOST" help:"Talk to this buildkitd directly and run the ZImagefile frontend in process."`
	Frontend  string   `env:"ZLAYER_FRONTEND" default:"zlayer/zimagefile" help:"Frontend image for ZImagefiles without a syntax line."`
	Progress  string   `default:"auto" enum:"auto,plain,tty,quiet" help:"Progress output (${enum})."`
	Runtime   string   `help:"Build with a runtime template (node20, node22, python312, python313, rust, go, deno, bun; auto detects it) instead of a file."`
	Context   string   `arg:"" optional:"" default:"." help:"Build context directory."`
	Node      bool     `help:"Send the image straight to the node (--host), no registry: the build's docker-format output streamed into the node's import. Needs -t."`
	NodeFlags
}

func (c *BuildCmd) options() imagebuild.Options {
	return imagebuild.Options{
		File: c.File, Context: c.Context, Tags: c.Tags, BuildArgs: c.BuildArgs, Target: c.Target,
		Platforms: c.Platforms, NoCache: c.NoCache, Push: c.Push, Load: c.Load, Outputs: c.Output,
		Builder: c.Builder, Addr: c.Addr, Frontend: c.Frontend, Progress: c.Progress, Runtime: c.Runtime,
		Secrets: c.Secrets, SSH: c.SSH,
	}
}

func (c *BuildCmd) Run(ctx context.Context, log *slog.Logger) error {
	var err error
	if c.Node {
		err = c.buildToNode(ctx)
	} else {
		err = imagebuild.Build(ctx, c.options())
	}
	var bf *imagebuild.BuildFailedError
	if errors.As(err, &bf) {
		// buildx printed the failure; keep its exit status.
		return exitError{code: bf.Code}
	}
	if err != nil && ctx.Err() != nil {
		return exitError{code: 130, err: errors.New("build cancelled")}
	}
	return err
}
