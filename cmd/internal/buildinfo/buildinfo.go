// Package buildinfo names the version a ZLayer binary was built from. zlayer
// and the lean containerd-shim-zlayer-v1 share it so that both report the
// same version for one build, which the node checks before it prefers the
// lean shim over its own face.
package buildinfo

import "runtime/debug"

// Version is the git version the binary was built from: linked (the value
// the linker stamped into main.version), else the VCS stamp Go records, else
// "dev".
func Version(linked string) string {
	if linked != "" {
		return linked
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
