// Command zlayer is the multi-call binary of ZLayer. The name it is invoked
// under picks the face it shows: zlayer (everything), zlayer-build (build and
// pipeline), zlayer-runtime (the node commands) or containerd-shim-zlayer-v1
// (the containerd shim, which containerd finds on PATH by that name; make
// build installs the lean cmd/containerd-shim-zlayer-v1 under that name
// instead, which starts faster, and this face serves one-file installs) or
// zlayer-logger (the logging binary of runc-runtime replicas; the lean
// cmd/zlayer-logger likewise).
package main

import (
	"os"
	"path/filepath"
)

func main() {
	os.Exit(run(filepath.Base(os.Args[0]), os.Args[1:]))
}
