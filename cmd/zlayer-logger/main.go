// Command zlayer-logger is the logging binary the node gives containerd's
// runc shim in a binary:// log URI (see shim/logger). It is a main of its
// own, as containerd-shim-zlayer-v1 is, because the runtime execs it at every
// task start: linking only the logger keeps that exec cheap. The multi-call
// zlayer runs the same logger under this name.
package main

import (
	"github.com/zlayer/zlayer/cmd/internal/buildinfo"
	"github.com/zlayer/zlayer/shim/logger"
)

// version is set at link time, with the same -X flag as zlayer's (see the
// Makefile): the node compares the two.
var version = ""

func main() {
	logger.Main(buildinfo.Version(version))
}
