// Package nodeinit prepares a privileged container to be a ZLayer node, the
// way kind's entrypoint prepares a container to be a Kubernetes node: a few
// small named steps that make the container look enough like a machine for
// containerd and runc to run nested containers in it. Each step says why it
// exists; each is harmless where it is not needed (e.g. on a real host).
package nodeinit

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Env is what the steps look at; tests point it at fake trees.
type Env struct {
	DataDir   string // the node's data dir (ZLAYER_DATA_DIR, default /var/lib/zlayer)
	CgroupDir string // /sys/fs/cgroup
	Log       *slog.Logger
}

// Step is one named preparation.
type Step struct {
	Name string
	Run  func(Env) error
	// Required steps stop the entrypoint when they fail; the others only warn.
	Required bool
}

// Steps in the order the entrypoint runs them.
var Steps = []Step{
	{Name: "make-root-rshared", Run: makeRootShared, Required: true},
	{Name: "fresh-run", Run: freshRun},
	{Name: "cgroups", Run: fixCgroups, Required: true},
	{Name: "iptables-mode", Run: selectIptables},
	{Name: "data-volume", Run: checkDataVolume},
}

// Run runs every step, logging each; it stops at the first required step
// that fails.
func Run(env Env) error {
	for _, s := range Steps {
		err := s.Run(env)
		switch {
		case err == nil:
			env.Log.Debug("init step done", "step", s.Name)
		case s.Required:
			return fmt.Errorf("init step %s: %w", s.Name, err)
		default:
			env.Log.Warn("init step failed; continuing", "step", s.Name, "err", err)
		}
	}
	return nil
}

// makeRootShared: Docker gives a container a private root mount. containerd
// and runc mount each nested container's rootfs and volumes, and storage of
// type bind may ask for shared or slave propagation, which runc can only set
// up when the parent mount is shared; and mounts made under the data dir by
// one process must be visible to the shims in their own mount namespaces.
func makeRootShared(Env) error {
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		return fmt.Errorf("mount --make-rshared /: %w (is the container --privileged?)", err)
	}
	return nil
}

// freshRun: on a machine /run is a tmpfs, so sockets, pid files and runc's
// task state from before a reboot are gone. In a container /run is part of
// the writable layer and survives `docker restart`, where every process
// behind those files is dead; stale runc state and sockets then confuse
// containerd and serve. A tmpfs gives each start of the container a clean
// /run, as a boot does. It is skipped when /run is, or holds, a mount (the
// user passed --tmpfs /run, a volume, or a socket under /run) so nothing
// they put there is hidden.
func freshRun(env Env) error {
	mounted, err := mountsAt("/run")
	if err != nil || mounted {
		return err
	}
	return unix.Mount("tmpfs", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=755")
}

// fixCgroups makes the cgroup tree usable for nested containers.
//
// cgroup v2 with a private cgroup namespace (Docker's default on v2 hosts):
// the container's root cgroup already holds our processes, and the kernel's
// "no internal processes" rule forbids enabling controllers for children
// of a cgroup that has processes of its own. runc needs those controllers
// (memory, cpu, pids) in the nested containers' cgroups, so every process is
// moved into a leaf (/init) and all available controllers are delegated, as
// systemd would do on a machine. When serve is not PID 1 under systemd this
// is exactly what nobody else does.
//
// cgroup v1 (and hybrid): Docker bind-mounts the container's own cgroup
// folders onto /sys/fs/cgroup/<controller>, so nested cgroups land under
// the container's cgroup on the host and go away with it. They must be
// writable, which --privileged provides; say so plainly when they are not.
func fixCgroups(env Env) error {
	var st unix.Statfs_t
	if err := unix.Statfs(env.CgroupDir, &st); err != nil {
		return fmt.Errorf("statfs %s: %w", env.CgroupDir, err)
	}
	if st.Type == unix.CGROUP2_SUPER_MAGIC {
		return fixCgroupV2(env)
	}
	return checkCgroupV1(env)
}

func fixCgroupV2(env Env) error {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return err
	}
	// Only in a cgroup namespace of our own is "/" our cgroup; with
	// --cgroupns=host "/" is the host's root, which must not be touched.
	if strings.TrimSpace(string(self)) != "0::/" {
		env.Log.Warn("cgroup v2 without a private cgroup namespace; nested containers' cgroups may not get controllers (run with --cgroupns=private)",
			"cgroup", strings.TrimSpace(string(self)))
		return nil
	}
	if err := evacuateRoot(env.CgroupDir); err != nil {
		return err
	}
	return delegateControllers(env.CgroupDir)
}

// evacuateRoot moves every process of the root cgroup into root/init.
func evacuateRoot(root string) error {
	leaf := filepath.Join(root, "init")
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		return err
	}
	// Processes may fork while we move them; a few passes catch them.
	for pass := 0; pass < 5; pass++ {
		pids, err := readLines(filepath.Join(root, "cgroup.procs"))
		if err != nil {
			return err
		}
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			err := os.WriteFile(filepath.Join(leaf, "cgroup.procs"), []byte(pid), 0o644)
			// A process that exited meanwhile is fine; kernel threads cannot move.
			if err != nil && !errors.Is(err, unix.ESRCH) && !errors.Is(err, unix.EINVAL) {
				return fmt.Errorf("move pid %s to %s: %w", pid, leaf, err)
			}
		}
	}
	return nil
}

func delegateControllers(root string) error {
	b, err := os.ReadFile(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return err
	}
	var enable []string
	for _, c := range strings.Fields(string(b)) {
		enable = append(enable, "+"+c)
	}
	if len(enable) == 0 {
		return nil
	}
	if err := os.WriteFile(filepath.Join(root, "cgroup.subtree_control"), []byte(strings.Join(enable, " ")), 0o644); err != nil {
		return fmt.Errorf("enable controllers %v: %w", enable, err)
	}
	return nil
}

func checkCgroupV1(env Env) error {
	probe := filepath.Join(env.CgroupDir, "memory")
	if _, err := os.Stat(probe); err != nil {
		probe = filepath.Join(env.CgroupDir, "pids")
	}
	if unix.Access(probe, unix.W_OK) != nil {
		return fmt.Errorf("%s is read-only: nested containers cannot get cgroups (run the container with --privileged)", probe)
	}
	return nil
}

// selectIptables: the image carries both iptables backends, and the kernel
// rules the CNI plugins add must go through the one the host's kernel (and
// anything else in this network namespace) already uses, or NAT and port
// mappings silently do nothing. As kind does, count the rules each backend
// sees and pick the busier one, nft when both are empty.
func selectIptables(Env) error {
	legacy := countRules("iptables-legacy-save")
	nft := countRules("iptables-nft-save")
	mode := "nft"
	if legacy > nft || (nft < 0 && legacy >= 0) {
		mode = "legacy"
	}
	if legacy < 0 && nft < 0 {
		return errors.New("neither iptables backend works; bridge networking will not be available")
	}
	for _, t := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		target := strings.Replace(t, "tables", "tables-"+mode, 1)
		if _, err := exec.LookPath(target); err != nil {
			continue
		}
		link := filepath.Join("/usr/sbin", t)
		_ = os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	return nil
}

// countRules returns how many rules a save command prints, -1 when it fails.
func countRules(cmd string) int {
	if _, err := exec.LookPath(cmd); err != nil {
		return -1
	}
	out, err := exec.Command(cmd).Output()
	if err != nil {
		return -1
	}
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "-") {
			n++
		}
	}
	return n
}

// checkDataVolume: overlayfs cannot use an upper dir that is itself on
// overlayfs, which is what the container's own filesystem is. serve then
// falls back to the native snapshotter (every layer copied in full: slower
// and bigger). The remedy is a volume at the data dir, as kind mounts one
// at /var/lib/containerd; say so up front rather than leave the user to
// find it in serve's log.
func checkDataVolume(env Env) error {
	if err := os.MkdirAll(env.DataDir, 0o711); err != nil {
		return err
	}
	var st unix.Statfs_t
	if err := unix.Statfs(env.DataDir, &st); err != nil {
		return err
	}
	if st.Type == unix.OVERLAYFS_SUPER_MAGIC {
		env.Log.Warn("the data dir is on the container's overlay filesystem; overlayfs snapshots cannot stack on it, so the native snapshotter will be used (slower, more disk). Mount a volume there: -v zlayer-state:"+env.DataDir,
			"data_dir", env.DataDir)
	}
	return nil
}

// mountsAt reports whether path or anything below it is a mount point.
func mountsAt(path string) (bool, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 {
			if mp := unescapeMount(fields[4]); mp == path || strings.HasPrefix(mp, path+"/") {
				return true, nil
			}
		}
	}
	return false, sc.Err()
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func readLines(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out, nil
}
