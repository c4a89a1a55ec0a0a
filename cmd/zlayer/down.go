package main

import (
	"context"
	"fmt"
)

// DownCmd removes a deployment.
type DownCmd struct {
	NodeFlags
	Deployment string `arg:"" help:"Deployment to remove."`
}

func (c *DownCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	if err := cl.Delete(ctx, c.Deployment); err != nil {
		return err
	}
	fmt.Printf("deployment %s removed\n", c.Deployment)
	return nil
}
