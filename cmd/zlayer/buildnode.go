package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/pipeline/imagebuild"
)

// nodeOutput is the export build --node streams: a docker-format tar,
// which the node's import reads and names by the build's tags.
const nodeOutput = "type=docker,dest=-"

func (c *BuildCmd) nodeOptions() (imagebuild.Options, error) {
	o := c.options()
	switch {
	case len(o.Tags) == 0:
		return o, errors.New("--node needs an image name for the node to run: add -t NAME")
	case o.Push, o.Load, len(o.Outputs) > 0:
		return o, errors.New("--node is the build's output: it goes without --push, --load and -o")
	}
	o.Outputs = []string{nodeOutput}
	return o, nil
}

// buildToNode runs the build with its output piped into the node's image
// import as it is written: nothing of the image's size is kept locally.
func (c *BuildCmd) buildToNode(ctx context.Context) error {
	o, err := c.nodeOptions()
	if err != nil {
		return err
	}
	cl, err := c.client()
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	o.Stdout = pw
	type result struct {
		imgs []apitypes.ImportedImage
		err  error
	}
	done := make(chan result, 1)
	go func() {
		imgs, err := cl.Import(ctx, pr, "")
		// A node that stopped reading fails the build's next write, not
		// a write that waits for ever.
		pr.CloseWithError(fmt.Errorf("the node's import ended: %w", err))
		done <- result{imgs, err}
	}()
	berr := imagebuild.Build(ctx, o)
	// A failed build cuts the archive short, which the node refuses whole.
	pw.CloseWithError(berr)
	res := <-done
	if berr != nil {
		return berr
	}
	if res.err != nil {
		return fmt.Errorf("sending the image to the node: %w", res.err)
	}
	printLoaded(os.Stdout, res.imgs)
	return nil
}

func (c *BuildCmd) Help() string {
	return `Examples:
  zlayer build -t app:1 .
  zlayer build -t app:1 --push .
  zlayer build -t app:1 --node .          # straight into the node, then pull_policy: never`
}
