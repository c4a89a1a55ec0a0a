// Package shim is containerd-shim-zlayer-v1, the containerd runtime
// io.containerd.zlayer.v1.
package shim

import (
	"fmt"
	"os"
)

// Main runs the shim; containerd invokes it with the shim v2 protocol's argv.
func Main() {
	fmt.Fprintln(os.Stderr, "containerd-shim-zlayer-v1: not implemented yet (tracked in issue #5)")
	os.Exit(1)
}
