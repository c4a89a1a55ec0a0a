package stack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
)

func (s *Stack) containerdPaths() (dir, cfg string) {
	dir = filepath.Join(s.Dir, "ctd")
	return dir, filepath.Join(dir, "config.toml")
}

// startContainerd writes a config that keeps every path containerd and its
// shims use under the stack folder, then starts it.
func (s *Stack) startContainerd(ctx context.Context) error {
	dir, cfgPath := s.containerdPaths()
	s.ContainerdAddr = filepath.Join(s.Dir, "ctd.sock")
	s.FIFODir = filepath.Join(dir, "fifo")
	s.RuncRoot = filepath.Join(dir, "runc")
	s.StateDir = filepath.Join(s.Dir, "zlstate")
	for _, d := range []string{"root", "state", "tmp", "opt", "s", "fifo", "runc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(s.StateDir, 0o755); err != nil {
		return err
	}
	if err := s.writeHostsDir(); err != nil {
		return err
	}
	// CRI, NRI and the pod sandbox controller are off: tests drive containerd
	// through its own API and must not touch the host's CNI or /run.
	cfg := fmt.Sprintf(`version = 4
root = '%[1]s/root'
state = '%[1]s/state'
temp = '%[1]s/tmp'
disabled_plugins = ['io.containerd.grpc.v1.cri', 'io.containerd.cri.v1.images', 'io.containerd.cri.v1.runtime', 'io.containerd.nri.v1.nri', 'io.containerd.podsandbox.controller.v1.podsandbox']
[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = '%[2]s'
  [plugins.'io.containerd.server.v1.ttrpc']
    address = '%[2]s.ttrpc'
  [plugins.'io.containerd.server.v1.debug']
    address = ''
  [plugins.'io.containerd.internal.v1.opt']
    path = '%[1]s/opt'
  [plugins.'io.containerd.shim.v1.manager']
    socket_dir = '%[1]s/s'
`, dir, s.ContainerdAddr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	return s.StartContainerd(ctx)
}

// StartContainerd (re)starts containerd with the stack's config, e.g. after
// KillContainerd in a test of how shims survive it.
func (s *Stack) StartContainerd(ctx context.Context) error {
	_, cfgPath := s.containerdPaths()
	env := append(os.Environ(),
		"PATH="+s.BinDir+":"+s.ToolsBin+":"+os.Getenv("PATH")+":/usr/sbin:/sbin",
		"ZLAYER_STATE_DIR="+s.StateDir)
	d, err := s.startDaemon("containerd", env, filepath.Join(s.ToolsBin, "containerd"), "--config", cfgPath)
	if err != nil {
		return err
	}
	return waitReady(ctx, d, func(ctx context.Context) error {
		c, err := containerd.New(s.ContainerdAddr, containerd.WithTimeout(time.Second))
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Version(ctx)
		return err
	})
}

// KillContainerd sends SIGKILL to containerd (only) and waits for it to exit;
// shims and containers are left running, as after a crash.
func (s *Stack) KillContainerd() error {
	for i, p := range s.procs {
		if p.name != "containerd" || !p.alive() {
			continue
		}
		_ = syscall.Kill(p.pid, syscall.SIGKILL)
		if !p.waitExit(10 * time.Second) {
			return fmt.Errorf("containerd (pid %d) survived SIGKILL", p.pid)
		}
		s.procs = append(s.procs[:i], s.procs[i+1:]...)
		return nil
	}
	return errors.New("containerd is not running")
}

// ContainerdClient connects in the stack's namespace; closed at test end.
func (s *Stack) ContainerdClient(t testing.TB) *containerd.Client {
	t.Helper()
	c, err := containerd.New(s.ContainerdAddr, containerd.WithDefaultNamespace(s.Namespace))
	if err != nil {
		t.Fatalf("containerd client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// Resolver resolves references against the stack's registry over plain HTTP;
// docker.io names go there too, as for buildkitd.
func (s *Stack) Resolver() remotes.Resolver {
	reg := s.Registry
	hosts := func(host string) ([]docker.RegistryHost, error) {
		if host != reg && host != "docker.io" && host != "registry-1.docker.io" {
			return nil, fmt.Errorf("no route to registry %q from the test stack", host)
		}
		return []docker.RegistryHost{{
			Client:       http.DefaultClient,
			Authorizer:   docker.NewDockerAuthorizer(),
			Host:         reg,
			Scheme:       "http",
			Path:         "/v2",
			Capabilities: docker.HostCapabilityPull | docker.HostCapabilityResolve | docker.HostCapabilityPush,
		}}, nil
	}
	return docker.NewResolver(docker.ResolverOptions{Hosts: hosts})
}

// HostsDir is a containerd hosts directory (certs.d layout) that maps
// docker.io to the stack's registry, for `ctr --hosts-dir` and the node.
func (s *Stack) HostsDir() string { return filepath.Join(s.Dir, "certs.d") }

func (s *Stack) writeHostsDir() error {
	for host, body := range map[string]string{
		"docker.io": fmt.Sprintf("server = \"http://%[1]s\"\n\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\"]\n", s.Registry),
		s.Registry:  fmt.Sprintf("server = \"http://%[1]s\"\n\n[host.\"http://%[1]s\"]\n  capabilities = [\"pull\", \"resolve\", \"push\"]\n  skip_verify = true\n", s.Registry),
	} {
		d := filepath.Join(s.HostsDir(), host)
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, "hosts.toml"), []byte(body), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// cleanupContainers kills and deletes every task and container in every
// namespace, so no shim or container outlives the stack.
func (s *Stack) cleanupContainers() {
	if s.ContainerdAddr == "" || !s.containerdRunning() {
		return
	}
	RemoveContainers(s.ContainerdAddr)
}

// RemoveContainers kills and deletes every task and container in every
// namespace of the containerd at addr (a node's own, when its serve was
// killed and left it running).
func RemoveContainers(addr string) {
	c, err := containerd.New(addr, containerd.WithTimeout(2*time.Second))
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return
	}
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := c.Containers(nctx)
		if err != nil {
			continue
		}
		for _, ctr := range cs {
			if task, err := ctr.Task(nctx, nil); err == nil {
				_, _ = KillTask(nctx, task)
			}
			_ = ctr.Delete(nctx, containerd.WithSnapshotCleanup)
		}
	}
}

func (s *Stack) containerdRunning() bool {
	for _, p := range s.procs {
		if p.name == "containerd" && p.alive() {
			return true
		}
	}
	return false
}

// killLeftoverShims stops shims that our containerd started and that outlived
// it (a container still running when containerd was killed).
func (s *Stack) killLeftoverShims() {
	if s.ContainerdAddr == "" {
		return
	}
	for _, pid := range ShimPIDs(s.ContainerdAddr) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// ShimPIDs lists the shim processes that serve the containerd at addr.
func ShimPIDs(addr string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		for i := 0; i+1 < len(args); i++ {
			if args[i] == "-address" && args[i+1] == addr {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

// KillTask SIGKILLs a task's init process, waits for it to exit and deletes
// the task. The kernel takes the rest of the container's PID namespace down
// with init. It deliberately avoids containerd's WithProcessKill, which runs
// `runc kill --all`: that signals every PID runc finds in the container's
// cgroup, and on these hosts it was seen to take down unrelated processes.
func KillTask(ctx context.Context, task containerd.Task) (*containerd.ExitStatus, error) {
	exitC, err := task.Wait(ctx)
	if err != nil {
		return nil, err
	}
	if err := task.Kill(ctx, syscall.SIGKILL); err != nil && !strings.Contains(err.Error(), "not found") &&
		!strings.Contains(err.Error(), "process already finished") {
		return nil, fmt.Errorf("kill task %s: %w", task.ID(), err)
	}
	select {
	case <-exitC:
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("task %s did not exit after SIGKILL", task.ID())
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return task.Delete(ctx)
}
