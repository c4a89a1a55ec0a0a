// Command zimagefile-frontend is the entrypoint of the zlayer/zimagefile
// BuildKit gateway frontend image: BuildKit runs it with the gateway API on
// stdin/stdout when a build file starts with `# syntax=zlayer/zimagefile`.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/moby/buildkit/frontend/gateway/grpcclient"

	"github.com/zlayer/zlayer/frontend"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := grpcclient.RunFromEnvironment(ctx, frontend.Build); err != nil {
		// stderr lands in buildkitd's log; the client already got the error.
		fmt.Fprintf(os.Stderr, "zimagefile-frontend: %v\n", err)
		os.Exit(1)
	}
}
