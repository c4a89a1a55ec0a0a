// Command containerd-shim-zlayer-v1 is the containerd shim of ZLayer on its
// own, as containerd ships cmd/containerd-shim-runc-v2 over its reusable shim
// packages. containerd execs the shim binary twice per shim start (`start`,
// then the daemon it spawns), so a binary that links only the shim starts
// containers faster than the multi-call zlayer, whose
// containerd-shim-zlayer-v1 face runs the same shim.Main.
package main

import (
	"github.com/zlayer/zlayer/cmd/internal/buildinfo"
	"github.com/zlayer/zlayer/shim"
)

// version is set at link time from `git describe`, with the same -X flag as
// zlayer's (see the Makefile): the node compares the two.
var version = ""

func main() {
	shim.Main(buildinfo.Version(version))
}
