package main

import (
	"context"
)

// PsCmd lists replicas.
type PsCmd struct {
	NodeFlags
	Output string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *PsCmd) Run(ctx context.Context) error {
	return errNotImplemented("ps", "#6")
}
