package main

import (
	"context"
)

// DownCmd removes a deployment.
type DownCmd struct {
	NodeFlags
	Deployment string `arg:"" help:"Deployment to remove."`
}

func (c *DownCmd) Run(ctx context.Context) error {
	return errNotImplemented("down", "#6")
}
