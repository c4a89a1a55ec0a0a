package secrets

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// RunDirName is the folder of the node's data dir where replicas' file
// secrets are written for their containers to bind-mount.
const RunDirName = "secrets-run"

// EnsureTmpfs makes dir a private tmpfs (mode 0700, at most 16 MiB) unless
// it is one already: file secrets are written there in the clear for a
// bind mount, and a tmpfs keeps them off the disk. A tmpfs already there
// (left by a serve killed with -9) is kept, with the files of the replicas
// it adopts. release unmounts it (detached: running replicas keep their
// files, and one restarted later finds its source gone and is recreated),
// so a stopped node leaves no values behind and its data dir removable.
func EnsureTmpfs(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	release = func() { _ = unix.Unmount(dir, unix.MNT_DETACH) }
	if isTmpfs(dir) {
		return release, nil
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0700,size=16m"); err != nil {
		return nil, fmt.Errorf("mount a tmpfs for secrets on %s: %w", dir, err)
	}
	return release, nil
}

func isTmpfs(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.TMPFS_MAGIC
}
