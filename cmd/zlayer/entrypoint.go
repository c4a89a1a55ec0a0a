package main

import (
	"log/slog"
	"os"

	"github.com/zlayer/zlayer/noderuntime/nodeinit"
)

// EntrypointCmd is the zlayer-node image's entrypoint (hidden): it prepares
// the privileged container as a node, then runs the given command (default
// `serve`) as PID 1's child. See docker/README.md.
type EntrypointCmd struct {
	Args []string `arg:"" optional:"" passthrough:"" help:"Command to run: serve (default), deploy, join, a zlayer command or a program."`
}

func (c *EntrypointCmd) Run(log *slog.Logger) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	args := c.Args
	// The image's ENTRYPOINT ends in "--" so that flags reach the command;
	// kong hands that separator through.
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if code := nodeinit.Boot(self, args, log); code != 0 {
		return exitError{code: code}
	}
	return nil
}
