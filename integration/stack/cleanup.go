package stack

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
)

// unmountUnder removes every mount below dir, deepest first. Daemons killed
// hard leave overlay and bind mounts that would make the folder undeletable.
func unmountUnder(dir string) error {
	mounts, err := mountsUnder(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, m := range mounts {
		if err := unix.Unmount(m, 0); err != nil {
			if err2 := unix.Unmount(m, unix.MNT_DETACH); err2 != nil {
				errs = append(errs, fmt.Errorf("umount %s: %w", m, err2))
			}
		}
	}
	return errors.Join(errs...)
}

// mountsUnder lists the mount points below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	prefix := strings.TrimRight(dir, "/") + "/"
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, prefix) || mp == dir {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out, sc.Err()
}

// MountsUnder is exported for tests that assert nothing was left mounted.
func MountsUnder(dir string) ([]string, error) { return mountsUnder(dir) }

func unescapeMount(s string) string {
	return strings.NewReplacer(`\040`, " ", `\011`, "\t", `\012`, "\n", `\134`, `\`).Replace(s)
}

// cgroupRoots are the hierarchies where buildkitd and containerd create their
// folders (v1 controllers and the v2 unified tree).
func cgroupRoots() []string {
	var roots []string
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		p := filepath.Join("/sys/fs/cgroup", e.Name())
		if st, err := os.Lstat(p); err == nil && st.IsDir() {
			roots = append(roots, p)
		}
	}
	return roots
}

// snapshotCgroups records the top-level cgroup folders that exist now.
func snapshotCgroups() map[string]bool {
	seen := map[string]bool{}
	for _, r := range cgroupRoots() {
		ents, _ := os.ReadDir(r)
		for _, e := range ents {
			if e.IsDir() {
				seen[filepath.Join(r, e.Name())] = true
			}
		}
	}
	return seen
}

// removeNewCgroups removes the empty top-level cgroup folders (and their empty
// children) that appeared since before. A folder still in use by another
// stack's daemon is not empty and stays.
func removeNewCgroups(before map[string]bool) {
	if before == nil {
		return
	}
	for p := range snapshotCgroups() {
		if before[p] {
			continue
		}
		removeEmptyTree(p)
	}
}

// RemoveNamedCgroups removes the empty cgroup trees with these top-level
// names (containerd namespaces) in every hierarchy, and returns the ones
// still there (in use).
func RemoveNamedCgroups(names ...string) (left []string) {
	for _, r := range cgroupRoots() {
		for _, n := range names {
			if n != "" && !strings.Contains(n, "/") {
				p := filepath.Join(r, n)
				removeEmptyTree(p)
				if _, err := os.Stat(p); err == nil {
					left = append(left, p)
				}
			}
		}
	}
	return left
}

func removeEmptyTree(dir string) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if e.IsDir() {
			removeEmptyTree(filepath.Join(dir, e.Name()))
		}
	}
	_ = unix.Rmdir(dir)
}
