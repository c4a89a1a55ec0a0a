package main

import (
	"context"
)

// DeployCmd applies a deployment spec.
type DeployCmd struct {
	NodeFlags
	SpecArg string `arg:"" optional:"" name:"spec-file" help:"Deployment spec (YAML)." type:"path"`
	Spec    string `help:"Deployment spec (YAML); same as the positional argument." type:"path"`
	DryRun  bool   `name:"dry-run" help:"Validate the spec without a node."`
}

func (c *DeployCmd) Run(ctx context.Context) error {
	return errNotImplemented("deploy", "#6")
}
