package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/alecthomas/kong"

	"github.com/zlayer/zlayer/shim"
	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/logger"
)

// Invocation names of the multi-call binary.
const (
	nameBuild   = "zlayer-build"
	nameRuntime = "zlayer-runtime"
	nameShim    = contract.ShimBinary
)

// buildCommands are the commands of the build side, shared by the full CLI and
// the zlayer-build face.
type buildCommands struct {
	Build    BuildCmd    `cmd:"" help:"Build an image from a ZImagefile or a Dockerfile."`
	Pipeline PipelineCmd `cmd:"" help:"Build many images from a ZPipeline.yaml in dependency waves."`
}

// runtimeCommands are the node-side commands, shared by the full CLI and the
// zlayer-runtime face.
type runtimeCommands struct {
	Serve  ServeCmd  `cmd:"" help:"Run this machine (or privileged container) as a ZLayer node."`
	Deploy DeployCmd `cmd:"" help:"Apply a deployment spec to a node."`
	Join   JoinCmd   `cmd:"" help:"Join this node to a cluster."`
	Status StatusCmd `cmd:"" help:"Show the node's deployments and their health."`
	Ps     PsCmd     `cmd:"" help:"List the replicas running on the node."`
	Logs   LogsCmd   `cmd:"" help:"Show a service's logs."`
	Scale  ScaleCmd  `cmd:"" help:"Change a service's replica count."`
	// The rollout commands.
	History  HistoryCmd  `cmd:"" help:"List a deployment's generations: when, what and who."`
	Rollback RollbackCmd `cmd:"" help:"Bring back an earlier generation of a deployment."`
	Restart  RestartCmd  `cmd:"" help:"Roll every replica of a service."`
	Down     DownCmd     `cmd:"" help:"Remove a deployment and its replicas."`
	Exec     ExecCmd     `cmd:"" help:"Run a command in a replica."`
	Nodes    NodesCmd    `cmd:"" help:"List the cluster's nodes."`
	Node     NodeCmd     `cmd:"" help:"Cordon, uncordon or drain a cluster node."`
	Token    TokenCmd    `cmd:"" help:"Make, list and revoke cluster join tokens."`
	Cluster  ClusterCmd  `cmd:"" help:"Back up and restore the cluster's state."`
}

// fullCLI is the whole command tree, shown by `zlayer --help`.
type fullCLI struct {
	Globals
	buildCommands
	Convert ConvertCmd `cmd:"" help:"Print the Dockerfile equivalent to a ZImagefile."`
	Schema  SchemaCmd  `cmd:"" help:"Print the JSON Schema of a ZImagefile, deployment spec, ZPipeline or node config."`
	runtimeCommands
	Image      ImageCmd      `cmd:"" help:"Manage images on a node."`
	Secret     SecretCmd     `cmd:"" help:"Manage secrets on a node."`
	Version    VersionCmd    `cmd:"" help:"Print the version."`
	Completion CompletionCmd `cmd:"" help:"Print a shell completion script."`
	Dev        DevCmd        `cmd:"" help:"Try ZLayer on one machine: a cluster of node containers in Docker."`
	Entrypoint EntrypointCmd `cmd:"" hidden:"" help:"Entrypoint of the zlayer-node image."`
}

type buildCLI struct {
	Globals
	buildCommands
	Version VersionCmd `cmd:"" help:"Print the version."`
}

type runtimeCLI struct {
	Globals
	runtimeCommands
	Version VersionCmd `cmd:"" help:"Print the version."`
}

// run parses args for the face named name and runs the selected command. It
// returns the process exit code.
func run(name string, args []string) int {
	if name == nameShim {
		// containerd's shim protocol owns argv and stdio; kong must not see it.
		shim.Main(buildVersion())
		return 0
	}
	if name == contract.LoggerName {
		// The runtime's logging protocol owns argv and fds 3-5, as above.
		logger.Main(buildVersion())
		return 0
	}
	if face, ok := containerdFaces[name]; ok {
		return face(args)
	}
	var grammar any
	var desc string
	switch name {
	case nameBuild:
		grammar, desc = &buildCLI{}, "ZLayer image builder: ZImagefiles, Dockerfiles and pipelines over BuildKit."
	case nameRuntime:
		grammar, desc = &runtimeCLI{}, "ZLayer node runtime: serve, deploy and inspect workloads."
	default:
		name = "zlayer"
		grammar, desc = &fullCLI{}, "ZLayer: build images with BuildKit, run them on nodes with containerd."
	}
	if len(args) == 0 && name == "zlayer" {
		if code, handled := runMenu(); handled {
			return code
		}
		args = []string{"--help"}
	}

	ctx, stop := signalContext()
	defer stop()

	parser, err := kong.New(grammar,
		kong.Name(name),
		kong.Description(desc),
		kong.UsageOnError(),
		kong.ConfigureHelp(kong.HelpOptions{Compact: true}),
		kong.Vars{"version": buildVersion()},
	)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 2
	}
	kctx, err := parser.Parse(args)
	if err != nil {
		var perr *kong.ParseError
		if errors.As(err, &perr) {
			fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
			return 2
		}
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	g := globalsOf(grammar)
	logger := g.logger(os.Stderr)
	// Services handed to commands by type, as kong binds them.
	kctx.BindTo(ctx, (*context.Context)(nil))
	kctx.Bind(logger, g, kctx.Model)
	if err := kctx.Run(); err != nil {
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			fmt.Fprintf(os.Stderr, "%s: interrupted\n", name)
			return 130
		}
		var ee exitError
		if errors.As(err, &ee) {
			if msg := ee.Error(); msg != "" {
				fmt.Fprintf(os.Stderr, "%s: %s\n", name, msg)
			}
			return ee.code
		}
		fmt.Fprintf(os.Stderr, "%s: %s\n", name, strings.TrimSpace(err.Error()))
		return 1
	}
	return 0
}

// signalContext is cancelled by the first SIGINT or SIGTERM, so that every
// long step (waits, follows, execs, builds) stops cleanly; a second one ends
// the process at once, by that signal, whatever it is doing. The channel
// stays registered throughout, so no second signal falls in a gap.
func signalContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			cancel()
		case <-done:
			return
		}
		select {
		case sig := <-ch:
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-done:
		}
	}()
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel()
		})
	}
}

func globalsOf(grammar any) *Globals {
	switch g := grammar.(type) {
	case *fullCLI:
		return &g.Globals
	case *buildCLI:
		return &g.Globals
	case *runtimeCLI:
		return &g.Globals
	}
	return &Globals{}
}

// exitError carries a specific exit code out of a command, e.g. a pipeline in
// which some image failed.
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string {
	if e.err == nil {
		return ""
	}
	return e.err.Error()
}
func (e exitError) Unwrap() error { return e.err }
