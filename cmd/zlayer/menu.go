package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	tea "github.com/charmbracelet/bubbletea"
	"golang.org/x/term"

	"github.com/zlayer/zlayer/pipeline"
	"github.com/zlayer/zlayer/pipeline/imagebuild"
	"github.com/zlayer/zlayer/pipeline/menu"
)

// runMenu opens the interactive menu when zlayer runs with no arguments on a
// terminal. It reports handled=false when there is no menu to show, and the
// caller prints help instead.
func runMenu() (code int, handled bool) {
	if !term.IsTerminal(int(os.Stdin.Fd())) || !term.IsTerminal(int(os.Stdout.Fd())) {
		return 0, false
	}
	wd, err := os.Getwd()
	if err != nil {
		return 0, false
	}
	m := menu.New(wd, menu.Scan(wd, 3))
	if _, err := tea.NewProgram(m).Run(); err != nil {
		fmt.Fprintf(os.Stderr, "zlayer: menu: %v\n", err)
		return 1, true
	}
	c := m.Choice()
	if c == nil {
		return 0, true
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := runChoice(ctx, wd, c); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			if msg := ee.Error(); msg != "" {
				fmt.Fprintf(os.Stderr, "zlayer: %s\n", msg)
			}
			return ee.code, true
		}
		fmt.Fprintf(os.Stderr, "zlayer: %v\n", err)
		return 1, true
	}
	return 0, true
}

func runChoice(ctx context.Context, wd string, c *menu.Choice) error {
	path := filepath.Join(wd, c.Item.Path)
	if c.Item.Kind == menu.Pipeline {
		fmt.Printf("zlayer pipeline -f %s\n", c.Item.Path)
		opts := pipeline.Options{File: path, Sets: c.Vars, Only: c.Only, Push: c.Push,
			Builder: os.Getenv("BUILDX_BUILDER"), Frontend: os.Getenv("ZLAYER_FRONTEND")}
		pl, err := pipeline.Load(opts)
		if err != nil {
			return err
		}
		return runPipeline(ctx, pl, opts, true, false)
	}
	fmt.Printf("zlayer build -f %s %s\n", c.Item.Path, c.Context)
	err := imagebuild.Build(ctx, imagebuild.Options{
		File: path, Context: filepath.Join(wd, c.Context), Tags: c.Tags, BuildArgs: c.Args, Push: c.Push,
		Builder: os.Getenv("BUILDX_BUILDER"), Addr: os.Getenv("BUILDKIT_HOST"), Frontend: os.Getenv("ZLAYER_FRONTEND"),
		Progress: "auto",
	})
	var bf *imagebuild.BuildFailedError
	if errors.As(err, &bf) {
		return exitError{code: bf.Code}
	}
	return err
}
