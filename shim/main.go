// Package shim is containerd-shim-zlayer-v1, the containerd runtime
// io.containerd.zlayer.v1: runc's shim v2 (manager and task service) plus
// per-service grouping, durable JSON-lines logs and exit records. The
// contract, logfile and exitrecord packages beside it hold what the node
// shares with it.
package shim

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"runtime"

	"github.com/containerd/containerd/api/types"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/containerd/v2/plugins"
	"github.com/containerd/plugin"
	"github.com/containerd/plugin/registry"
)

// binaryName is the name containerd derives from io.containerd.zlayer.v1:
// the lean shim binary's, and the zlayer face's that runs the same Main.
const binaryName = "containerd-shim-zlayer-v1"

// Main runs the shim; containerd invokes it with the shim v2 protocol's argv.
// It works the same from the lean binary and from the multi-call zlayer;
// version is the zlayer build's, which -v and -info report.
func Main(version string) {
	args := os.Args[1:]
	if hasFlag(args, "v", "version") {
		fmt.Printf("%s:\n", binaryName)
		fmt.Println("  Version: ", version)
		fmt.Println("  Runtime: ", "io.containerd.zlayer.v1 (runc shim v2 of containerd v2.4.2)")
		fmt.Println("  Go version:", runtime.Version())
		fmt.Println("")
		return
	}
	if hasFlag(args, "info") && isTerminal(os.Stdout) {
		// containerd reads protobuf; a person gets it as JSON.
		info, err := newManager(version).Info(context.Background(), os.Stdin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", binaryName, err)
			os.Exit(1)
		}
		fmt.Println(infoText(info))
		return
	}
	// The plugin registry is process-global: under the multi-call zlayer,
	// whatever its other packages registered must not be loaded into the
	// shim. The lean binary registers nothing else; the reset costs nothing.
	registry.Reset()
	registry.Register(&plugin.Registration{
		Type:     plugins.TTRPCPlugin,
		ID:       "task",
		Requires: []plugin.Type{plugins.EventPlugin, plugins.InternalPlugin},
		InitFn: func(ic *plugin.InitContext) (any, error) {
			pp, err := ic.GetByID(plugins.EventPlugin, "publisher")
			if err != nil {
				return nil, err
			}
			sd, err := ic.GetByID(plugins.InternalPlugin, "shutdown")
			if err != nil {
				return nil, err
			}
			return newService(ic.Context, pp.(cshim.Publisher), sd.(shutdown.Service))
		},
	})
	cshim.RunShim(context.Background(), newManager(version))
}

// hasFlag reports whether args, up to the first non-flag, hold -name or
// --name for one of names, as Go's flag package would read them.
func hasFlag(args []string, names ...string) bool {
	for _, a := range args {
		if len(a) < 2 || a[0] != '-' {
			return false
		}
		a = a[1:]
		if a[0] == '-' {
			a = a[1:]
		}
		for _, n := range names {
			if a == n || a == n+"=true" {
				return true
			}
		}
	}
	return false
}

// infoText renders RuntimeInfo for a person; runc's features travel as JSON
// inside a protobuf Any, which protojson cannot resolve.
func infoText(info *types.RuntimeInfo) string {
	out := map[string]any{"name": info.GetName()}
	if v := info.GetVersion(); v != nil {
		out["version"] = v.GetVersion()
	}
	for key, a := range map[string]interface {
		GetTypeUrl() string
		GetValue() []byte
	}{"options": info.GetOptions(), "features": info.GetFeatures()} {
		if a == nil || a.GetTypeUrl() == "" {
			continue
		}
		if json.Valid(a.GetValue()) {
			out[key] = json.RawMessage(a.GetValue())
		} else {
			out[key] = a.GetTypeUrl()
		}
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	return string(b)
}
