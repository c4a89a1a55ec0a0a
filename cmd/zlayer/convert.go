package main

import (
	"context"
)

// ConvertCmd prints the Dockerfile a ZImagefile is equivalent to, so users can
// leave ZImagefiles at any time.
type ConvertCmd struct {
	File string `arg:"" optional:"" default:"ZImagefile" help:"ZImagefile to convert." type:"path"`
}

func (c *ConvertCmd) Run(ctx context.Context) error {
	return errNotImplemented("convert", "#3")
}
