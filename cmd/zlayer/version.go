package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time from `git describe` (see the Makefile).
var version = ""

// buildVersion is the git version this binary was built from: the linker's
// value, else the VCS stamp Go records, else "dev".
func buildVersion() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "-dirty"
				}
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" {
			return rev + dirty
		}
	}
	return "dev"
}

// VersionCmd prints the version.
type VersionCmd struct{}

func (c *VersionCmd) Run() error {
	fmt.Printf("zlayer %s (%s, %s/%s)\n", buildVersion(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return nil
}
