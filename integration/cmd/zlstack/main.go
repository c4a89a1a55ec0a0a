// Command zlstack starts and stops the integration stack for scripts such as
// `make demo`:
//
//	eval "$(zlstack up --buildkit --containerd)"   # prints exports, incl. ZLSTACK_DIR
//	zlstack down "$ZLSTACK_DIR"
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "up":
		fs := flag.NewFlagSet("up", flag.ExitOnError)
		var opts stack.Options
		fs.BoolVar(&opts.Buildkit, "buildkit", false, "start buildkitd and a buildx builder")
		fs.BoolVar(&opts.Containerd, "containerd", false, "start containerd")
		fs.BoolVar(&opts.Dockerd, "dockerd", false, "start dockerd")
		_ = fs.Parse(os.Args[2:])
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
		s, err := stack.Up(ctx, opts, logf)
		if err != nil {
			if s != nil {
				s.DumpLogs(logf)
				_ = s.Close()
			}
			fmt.Fprintf(os.Stderr, "zlstack up: %v\n", err)
			os.Exit(1)
		}
		// The daemons are children of this process but in their own process
		// groups; they keep running after it exits and `down` stops them by PID.
		fmt.Print(s.Exports())
		fmt.Printf("export ZLSTACK_DIR=%q\n", s.Dir)
	case "down":
		if len(os.Args) != 3 {
			usage()
		}
		s, err := stack.Load(os.Args[2])
		if err != nil {
			fmt.Fprintf(os.Stderr, "zlstack down: %v\n", err)
			os.Exit(1)
		}
		if err := s.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "zlstack down: %v\n", err)
			os.Exit(1)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: zlstack up [--buildkit] [--containerd] [--dockerd] | zlstack down DIR")
	os.Exit(2)
}
