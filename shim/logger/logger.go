// Package logger is zlayer-logger, the logging binary containerd's runc shim
// starts for a task whose stdio is a binary:// log URI. It writes the
// container's stdout and stderr through shim/logfile, so that under
// io.containerd.runc.v2 a replica's log has the format, the rotation and the
// reader of io.containerd.zlayer.v1's. The runtime, not the node, owns the
// logger: it starts with the task, keeps writing while containerd or the node
// are down, and ends after the container's pipes close.
package logger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/core/runtime/v2/logging"

	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/logfile"
)

// drainTimeout bounds how long the logger goes on after SIGTERM for output
// still in the pipes: the runc shim sends SIGTERM after closing its ends
// and kills the logger 12 s later.
const drainTimeout = 10 * time.Second

// Main runs the logger with the arguments and fds containerd's runc shim
// gives it; it does not return. version is reported by -v: the node runs a
// lean logger only when it reports the node's own version.
func Main(version string) {
	if len(os.Args) == 2 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		// The shim's layout, which the node parses for the version.
		fmt.Printf("%s:\n  Version: %s\n", contract.LoggerName, version)
		os.Exit(0)
	}
	logging.Run(func(ctx context.Context, cfg *logging.Config, ready func() error) error {
		return Run(ctx, cfg, os.Args[1:], ready)
	})
}

// Run writes cfg's streams into the container's log until both end. It
// calls ready once the log is open, so that a log that cannot be opened
// fails the task's start instead of losing its output.
func Run(ctx context.Context, cfg *logging.Config, args []string, ready func() error) error {
	stateDir, opts, err := contract.ParseLoggerArgs(args)
	if err != nil {
		return err
	}
	if cfg.ID == "" || cfg.Namespace == "" {
		return errors.New("no CONTAINER_ID or CONTAINER_NAMESPACE in the environment: run by containerd's runtime for a binary:// log URI")
	}
	lf, err := logfile.Open(contract.LogPath(stateDir, cfg.Namespace, cfg.ID), opts)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := ready(); err != nil {
		return fmt.Errorf("tell the runtime the logger is ready: %w", err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	for _, s := range []struct {
		name string
		r    interface{ Read([]byte) (int, error) }
	}{{"stdout", cfg.Stdout}, {"stderr", cfg.Stderr}} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := logfile.Pump(s.r, lf.Stream(s.name), func(err error) {
				fmt.Fprintf(os.Stderr, "%s: container %s log write failed; output dropped until it recovers: %v\n", contract.LoggerName, cfg.ID, err)
			})
			if err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", s.name, err))
				mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		// SIGTERM: the runtime has closed its ends, so the pipes end once
		// the container's last writer is gone; give what is still in
		// them the time to come out.
		select {
		case <-done:
		case <-time.After(drainTimeout):
			return errors.New("container output still open after SIGTERM; stopping")
		}
	}
	return errors.Join(errs...)
}
