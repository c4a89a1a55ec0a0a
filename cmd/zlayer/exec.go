package main

import (
	"context"
	"errors"
	"io"
	"os"
)

// ExecCmd runs a command in a replica.
type ExecCmd struct {
	NodeFlags
	Service     string   `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Command     []string `arg:"" passthrough:"" help:"Command and arguments, after --."`
	Replica     int      `default:"0" help:"Replica to run in (0: the first running one)."`
	Deployment  string   `short:"d" help:"Deployment of the service."`
	TTY         bool     `short:"t" help:"Allocate a terminal (not supported yet)."`
	Interactive bool     `short:"i" help:"Pass stdin to the command."`
}

func (c *ExecCmd) Run(ctx context.Context) error {
	if c.TTY {
		return errors.New("exec: -t (a terminal) is not supported yet; run without it")
	}
	cmd := c.Command
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	if len(cmd) == 0 {
		return errors.New("exec: give a command after --")
	}
	cl, dep, svc, err := c.serviceClient(ctx, c.Service, c.Deployment)
	if err != nil {
		return err
	}
	var stdin io.Reader
	if c.Interactive {
		stdin = os.Stdin
	}
	code, err := cl.Exec(ctx, dep, svc, c.Replica, cmd, stdin, os.Stdout, os.Stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}
