package main

import (
	"fmt"
	"runtime"

	"github.com/zlayer/zlayer/cmd/internal/buildinfo"
)

// version is set at link time from `git describe` (see the Makefile).
var version = ""

func buildVersion() string { return buildinfo.Version(version) }

// VersionCmd prints the version.
type VersionCmd struct{}

func (c *VersionCmd) Run() error {
	fmt.Printf("zlayer %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
