package main

import (
	"context"
)

// ScaleCmd sets a service's replica count.
type ScaleCmd struct {
	NodeFlags
	Service    string `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Replicas   int    `arg:"" help:"Replica count."`
	Deployment string `short:"d" help:"Deployment of the service."`
}

func (c *ScaleCmd) Run(ctx context.Context) error {
	return errNotImplemented("scale", "#6")
}
