package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/zlayer/zlayer/frontend/convert"
	"github.com/zlayer/zlayer/frontend/zimagefile"
)

// ConvertCmd prints the Dockerfile a ZImagefile is equivalent to, so users can
// leave ZImagefiles at any time.
type ConvertCmd struct {
	File   string `arg:"" optional:"" default:"ZImagefile" help:"ZImagefile to convert (- for stdin)."`
	Output string `short:"o" help:"Write the Dockerfile here instead of stdout." type:"path"`
	Schema bool   `help:"Print the ZImagefile JSON Schema (for editors) instead of converting; same as zlayer schema zimagefile."`
}

func (c *ConvertCmd) Run(ctx context.Context) error {
	if c.Schema {
		dt, err := zimagefile.JSONSchema()
		if err != nil {
			return err
		}
		return writeOut(c.Output, dt)
	}
	var data []byte
	var err error
	name := c.File
	if c.File == "-" {
		name = "<stdin>"
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(c.File)
	}
	if err != nil {
		return fmt.Errorf("convert: %w", err)
	}
	f, err := zimagefile.Parse(name, data)
	if err != nil {
		var list zimagefile.ErrorList
		if errors.As(err, &list) {
			return fmt.Errorf("%d problem(s):\n%s", len(list), list.Pretty(data))
		}
		return err
	}
	df, err := convert.ToDockerfile(f)
	if err != nil {
		return fmt.Errorf("convert %s: %w", name, err)
	}
	return writeOut(c.Output, df)
}
