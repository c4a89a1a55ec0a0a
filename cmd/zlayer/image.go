package main

import (
	"context"
	"fmt"
	"os"
)

// ImageCmd groups image commands.
type ImageCmd struct {
	Import ImageImportCmd `cmd:"" help:"Upload a docker or OCI image tar to the node."`
}

// ImageImportCmd uploads an image tar so builds reach a node without a registry.
type ImageImportCmd struct {
	NodeFlags
	File string `arg:"" help:"Image tar (docker save or OCI layout)." type:"existingfile"`
	Name string `help:"Name for an image the archive leaves unnamed."`
}

func (c *ImageImportCmd) Run(ctx context.Context) error {
	cl, err := c.client()
	if err != nil {
		return err
	}
	f, err := os.Open(c.File)
	if err != nil {
		return err
	}
	defer f.Close()
	imgs, err := cl.Import(ctx, f, c.Name)
	if err != nil {
		return err
	}
	for _, i := range imgs {
		fmt.Printf("imported %s (%s)\n", i.Name, i.Digest)
	}
	return nil
}
