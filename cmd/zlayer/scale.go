package main

import (
	"context"
	"errors"
	"fmt"
)

// ScaleCmd sets a service's replica count.
type ScaleCmd struct {
	NodeFlags
	Service    string `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Replicas   int    `arg:"" help:"Replica count."`
	Deployment string `short:"d" help:"Deployment of the service."`
}

func (c *ScaleCmd) Run(ctx context.Context) error {
	if c.Replicas < 0 {
		return errors.New("scale: the replica count cannot be negative")
	}
	cl, dep, svc, err := c.serviceClient(ctx, c.Service, c.Deployment)
	if err != nil {
		return err
	}
	if _, err := cl.Scale(ctx, dep, svc, c.Replicas); err != nil {
		return err
	}
	fmt.Printf("scaled %s/%s to %d replica(s)\n", dep, svc, c.Replicas)
	return nil
}
