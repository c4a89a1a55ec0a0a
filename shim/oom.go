package shim

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/cgroups/v3"
)

// oomCounterOf finds the file counting OOM kills in the memory cgroup of pid
// and its count now. The kernel's OOM notification and the process's exit
// race each other to the shim, so at exit the shim asks the counter too.
// It returns "" when there is no such counter (no memory controller).
func oomCounterOf(pid int) (string, uint64) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return "", 0
	}
	path := counterPath(data, cgroups.Mode() == cgroups.Unified)
	if path == "" {
		return "", 0
	}
	n, ok := readOOMKills(path)
	if !ok {
		return "", 0
	}
	return path, n
}

// counterPath picks, from /proc/PID/cgroup, the file holding oom_kill: the
// v1 memory hierarchy's memory.oom_control, or in unified mode the v2
// group's memory.events.
func counterPath(procCgroup []byte, unified bool) string {
	sc := bufio.NewScanner(bytes.NewReader(procCgroup))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if unified {
			if parts[0] == "0" && parts[1] == "" {
				return filepath.Join("/sys/fs/cgroup", parts[2], "memory.events")
			}
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			if c == "memory" {
				return filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.oom_control")
			}
		}
	}
	return ""
}

// readOOMKills reads the "oom_kill N" line both files share.
func readOOMKills(path string) (uint64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

func oomKilledSince(path string, base uint64) bool {
	if path == "" {
		return false
	}
	n, ok := readOOMKills(path)
	return ok && n > base
}
