package main

import (
	"context"
)

// StatusCmd shows deployments and their health.
type StatusCmd struct {
	NodeFlags
	Output string `short:"o" default:"table" enum:"table,json" help:"Output format (${enum})."`
}

func (c *StatusCmd) Run(ctx context.Context) error {
	return errNotImplemented("status", "#6")
}
