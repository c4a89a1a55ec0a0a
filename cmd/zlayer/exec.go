package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/term"

	"github.com/zlayer/zlayer/noderuntime/apiclient"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// ExecCmd runs a command in a replica.
type ExecCmd struct {
	NodeFlags
	Service     string   `arg:"" help:"Service (SERVICE or DEPLOYMENT/SERVICE)."`
	Command     []string `arg:"" passthrough:"" help:"Command and arguments, after --."`
	Replica     int      `default:"0" help:"Replica to run in (0: the first running one)."`
	Deployment  string   `short:"d" help:"Deployment of the service."`
	TTY         bool     `short:"t" help:"Run the command on a terminal (with -i: an interactive shell)."`
	Interactive bool     `short:"i" help:"Stream stdin to the command as it is typed or piped."`
}

func (c *ExecCmd) Run(ctx context.Context) error {
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
	var code int
	if c.TTY || c.Interactive {
		code, err = c.interactive(ctx, cl, dep, svc, cmd)
	} else {
		code, err = cl.Exec(ctx, dep, svc, c.Replica, cmd, nil, os.Stdout, os.Stderr)
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code: code}
	}
	return nil
}

// interactive streams stdin (-i) and, with -t, runs the command on a
// terminal the size of ours, ours in raw mode so that every key (Ctrl-C
// too) goes to the command, and restored however the exec ends.
func (c *ExecCmd) interactive(ctx context.Context, cl *apiclient.Client, dep, svc string, cmd []string) (int, error) {
	s := apiclient.ExecStreams{Stdout: os.Stdout, Stderr: os.Stderr, TTY: c.TTY}
	if c.Interactive {
		s.Stdin = os.Stdin
	}
	in := int(os.Stdin.Fd())
	if c.TTY && term.IsTerminal(in) {
		s.Size = termSize(in)
		resize := make(chan apitypes.TermSize, 1)
		winch := make(chan os.Signal, 1)
		signal.Notify(winch, syscall.SIGWINCH)
		defer signal.Stop(winch)
		go forwardResizes(ctx, in, winch, resize)
		s.Resize = resize
		if c.Interactive {
			old, err := term.MakeRaw(in)
			if err != nil {
				return -1, fmt.Errorf("exec: raw terminal: %w", err)
			}
			defer func() { _ = term.Restore(in, old) }()
		}
	}
	return cl.ExecInteractive(ctx, dep, svc, c.Replica, cmd, s)
}

func termSize(fd int) *apitypes.TermSize {
	w, h, err := term.GetSize(fd)
	if err != nil || w <= 0 || h <= 0 || w > 0xffff || h > 0xffff {
		return nil
	}
	return &apitypes.TermSize{Cols: uint16(w), Rows: uint16(h)}
}

// forwardResizes sends our terminal's size on each SIGWINCH.
func forwardResizes(ctx context.Context, fd int, winch <-chan os.Signal, out chan<- apitypes.TermSize) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-winch:
			if sz := termSize(fd); sz != nil {
				select {
				case out <- *sz:
				case <-ctx.Done():
					return
				}
			}
		}
	}
}
