package main

import (
	"context"
)

// ImageCmd groups image commands.
type ImageCmd struct {
	Import ImageImportCmd `cmd:"" help:"Upload a docker or OCI image tar to the node."`
}

// ImageImportCmd uploads an image tar so builds reach a node without a registry.
type ImageImportCmd struct {
	NodeFlags
	File string `arg:"" help:"Image tar (docker save or OCI layout)." type:"existingfile"`
}

func (c *ImageImportCmd) Run(ctx context.Context) error {
	return errNotImplemented("image import", "#6")
}
