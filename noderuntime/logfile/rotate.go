// Package logfile keeps containerd's own log (which containerd writes to a
// file it holds open, O_APPEND) within a size. Replicas' logs are not kept
// here: the zlayer shim and zlayer-logger write them through shim/logfile,
// rotating by rename, which loses nothing; copy-and-truncate can lose what
// is written between the copy and the truncate, acceptable for a daemon's
// diagnostics but not for a workload's output.
package logfile

import (
	"fmt"
	"os"
)

// CopyTruncate rotates a file another process appends to (with O_APPEND) when
// it is larger than maxSize: the content moves to path.1 (older ones shift)
// and path is truncated in place, so the writer keeps its descriptor.
func CopyTruncate(path string, maxSize int64, keep int) error {
	st, err := os.Stat(path)
	if err != nil || st.Size() <= maxSize {
		return nil
	}
	for i := keep - 1; i >= 1; i-- {
		_ = os.Rename(fmt.Sprintf("%s.%d", path, i), fmt.Sprintf("%s.%d", path, i+1))
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if keep > 0 {
		if err := os.WriteFile(path+".1", data, 0o640); err != nil {
			return err
		}
	}
	return os.Truncate(path, 0)
}
