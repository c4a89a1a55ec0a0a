package stack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Options says which components a test needs. The registry always runs.
type Options struct {
	Buildkit   bool // buildkitd (OCI worker, runc) and a buildx remote builder on it
	Containerd bool // containerd with CRI and NRI off
	Dockerd    bool // dockerd from Debian's docker.io, with a private socket and roots
	// Namespace is the containerd namespace (default: a name unique to this stack).
	Namespace string
	// NoBusybox skips seeding library/busybox:latest into the registry.
	NoBusybox bool
}

// Stack is a running set of components under one short temp folder.
type Stack struct {
	Dir      string // short temp folder holding sockets, roots and logs
	RepoRoot string
	ToolsBin string // pinned tools built by tools/build.sh
	BinDir   string // zlayer, its links and the lean shim, built from the working tree

	Registry string // 127.0.0.1:PORT, plain HTTP

	BuildkitAddr string // unix:// address of buildkitd
	BuilderName  string // buildx builder on buildkitd
	DockerConfig string // private DOCKER_CONFIG with the buildx plugin

	ContainerdAddr string // containerd's gRPC socket path
	Namespace      string
	FIFODir        string
	RuncRoot       string
	StateDir       string // ZLAYER_STATE_DIR in containerd's (and so the shims') environment

	DockerHost string // unix:// address of dockerd, when requested

	procs     []*daemon
	cgroupsAt map[string]bool // cgroup folders present before any daemon started
	logf      func(format string, args ...any)
}

// state is what zlstack keeps in DIR/stack.json so another process can stop
// the stack by PID.
type state struct {
	Stack *Stack          `json:"stack"`
	PIDs  map[string]int  `json:"pids"`
	Cgrps map[string]bool `json:"cgroups_before"`
}

// ErrUnavailable means the stack cannot run on this machine (not root, a tool
// missing); tests skip on it unless ZLAYER_INTEGRATION=require.
type ErrUnavailable struct{ Reason string }

func (e *ErrUnavailable) Error() string { return "integration stack unavailable: " + e.Reason }

// Required reports whether integration tests must run rather than skip.
func Required() bool { return os.Getenv("ZLAYER_INTEGRATION") == "require" }

// Start brings up a stack for a test, skipping (or failing, when required) if
// it cannot run here, and registers its teardown with t.Cleanup.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	if testing.Short() {
		// -short asks for unit tests only, even where integration is required.
		t.Skip("integration test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	s, err := Up(ctx, opts, t.Logf)
	if s != nil {
		t.Cleanup(func() {
			if t.Failed() {
				s.DumpLogs(t.Logf)
			}
			if err := s.Close(); err != nil {
				t.Errorf("stack teardown: %v", err)
			}
		})
	}
	var ue *ErrUnavailable
	if errors.As(err, &ue) {
		skipOrFail(t, ue.Error())
	}
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	return s
}

// Available checks the preconditions of opts without starting anything.
func Available(opts Options) error {
	if os.Geteuid() != 0 {
		return &ErrUnavailable{"needs root (daemons, mounts, cgroups)"}
	}
	root, err := repoRoot()
	if err != nil {
		return &ErrUnavailable{err.Error()}
	}
	tools := toolsDir(root)
	need := []string{"registry"}
	if opts.Buildkit {
		need = append(need, "buildkitd", "buildx")
	}
	if opts.Containerd {
		need = append(need, "containerd", "containerd-shim-runc-v2", "ctr")
	}
	for _, n := range need {
		if _, err := os.Stat(filepath.Join(tools, "bin", n)); err != nil {
			return &ErrUnavailable{fmt.Sprintf("%s not built (run `make tools`)", n)}
		}
	}
	host := []string{}
	if opts.Buildkit || opts.Containerd {
		host = append(host, "runc")
	}
	if opts.Buildkit {
		host = append(host, "docker")
	}
	if opts.Dockerd {
		host = append(host, "dockerd")
	}
	for _, n := range host {
		if _, err := lookPath(n); err != nil {
			return &ErrUnavailable{fmt.Sprintf("%s not found on PATH (run `make deps`)", n)}
		}
	}
	if !opts.NoBusybox {
		if _, err := os.Stat(busyboxBinary(tools)); err != nil {
			return &ErrUnavailable{"busybox-static not extracted (run `make tools`)"}
		}
	}
	return nil
}

func skipOrFail(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("%s (ZLAYER_INTEGRATION=require)", reason)
	}
	t.Skip(reason)
}

// Up starts the stack outside of a test (zlstack uses it). On error the
// returned stack, if any, must still be closed.
func Up(ctx context.Context, opts Options, logf func(string, ...any)) (*Stack, error) {
	if err := Available(opts); err != nil {
		return nil, err
	}
	root, _ := repoRoot()
	dir, err := os.MkdirTemp("/tmp", "zl")
	if err != nil {
		return nil, err
	}
	if logf == nil {
		logf = func(string, ...any) {}
	}
	s := &Stack{
		Dir:       dir,
		RepoRoot:  root,
		ToolsBin:  filepath.Join(toolsDir(root), "bin"),
		cgroupsAt: snapshotCgroups(),
		logf:      logf,
	}
	for _, d := range []string{"logs", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return s, err
		}
	}
	if err := s.buildBinaries(ctx); err != nil {
		return s, err
	}
	if err := s.startRegistry(ctx); err != nil {
		return s, fmt.Errorf("registry: %w", err)
	}
	if opts.Buildkit || !opts.NoBusybox {
		if err := s.startBuildkit(ctx); err != nil {
			return s, fmt.Errorf("buildkitd: %w", err)
		}
	}
	if !opts.NoBusybox {
		if err := s.seedBusybox(ctx); err != nil {
			return s, fmt.Errorf("seed busybox: %w", err)
		}
	}
	if opts.Buildkit {
		if err := s.createBuilder(ctx); err != nil {
			return s, fmt.Errorf("buildx builder: %w", err)
		}
	}
	if opts.Containerd {
		s.Namespace = opts.Namespace
		if s.Namespace == "" {
			s.Namespace = "zlt" + strings.TrimPrefix(filepath.Base(dir), "zl")
		}
		if err := s.startContainerd(ctx); err != nil {
			return s, fmt.Errorf("containerd: %w", err)
		}
	}
	if opts.Dockerd {
		if err := s.startDockerd(ctx); err != nil {
			return s, fmt.Errorf("dockerd: %w", err)
		}
	}
	return s, s.saveState()
}

func (s *Stack) saveState() error {
	st := state{Stack: s, PIDs: map[string]int{}, Cgrps: s.cgroupsAt}
	for _, p := range s.procs {
		st.PIDs[p.name] = p.pid
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "stack.json"), b, 0o644)
}

// Load reads the state zlstack left in dir, for `zlstack down`.
func Load(dir string) (*Stack, error) {
	b, err := os.ReadFile(filepath.Join(dir, "stack.json"))
	if err != nil {
		return nil, err
	}
	var st state
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, "stack.json"), err)
	}
	s := st.Stack
	s.cgroupsAt = st.Cgrps
	s.logf = func(string, ...any) {}
	for name, pid := range st.PIDs {
		s.procs = append(s.procs, &daemon{name: name, pid: pid, log: filepath.Join(dir, "logs", name+".log")})
	}
	return s, nil
}

// Env is the environment for child processes that use the stack.
func (s *Stack) Env() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "PATH", "DOCKER_CONFIG", "BUILDX_BUILDER", "BUILDKIT_HOST", "DOCKER_HOST", "CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE":
			continue
		}
		env = append(env, kv)
	}
	path := s.BinDir + ":" + s.ToolsBin + ":" + os.Getenv("PATH")
	env = append(env, "PATH="+path)
	if s.DockerConfig != "" {
		env = append(env, "DOCKER_CONFIG="+s.DockerConfig, "BUILDX_BUILDER="+s.BuilderName)
	}
	if s.BuildkitAddr != "" {
		env = append(env, "BUILDKIT_HOST="+s.BuildkitAddr)
	}
	if s.ContainerdAddr != "" {
		env = append(env, "CONTAINERD_ADDRESS="+s.ContainerdAddr, "CONTAINERD_NAMESPACE="+s.Namespace)
	}
	if s.DockerHost != "" {
		env = append(env, "DOCKER_HOST="+s.DockerHost)
	}
	return env
}

// Exports renders Env's stack-specific variables as shell exports.
func (s *Stack) Exports() string {
	var b strings.Builder
	for _, kv := range s.Env() {
		k := strings.SplitN(kv, "=", 2)[0]
		switch k {
		case "PATH", "DOCKER_CONFIG", "BUILDX_BUILDER", "BUILDKIT_HOST", "DOCKER_HOST", "CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE":
			fmt.Fprintf(&b, "export %s=%q\n", k, strings.SplitN(kv, "=", 2)[1])
		}
	}
	fmt.Fprintf(&b, "export ZLAYER_REGISTRY=%q\n", s.Registry)
	return b.String()
}

// Close stops everything by PID and removes what the daemons left behind.
func (s *Stack) Close() error {
	var errs []error
	// Shims outliving a killed containerd would, once killed themselves,
	// leave their containers orphaned; a containerd that reconnects to them
	// can delete the containers properly.
	if s.ContainerdAddr != "" && !s.containerdRunning() && len(ShimPIDs(s.ContainerdAddr)) > 0 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		if err := s.StartContainerd(ctx); err != nil {
			s.logf("stack: restart containerd for cleanup: %v", err)
		}
		cancel()
	}
	s.cleanupContainers()
	// Reverse start order: clients of a daemon go before it.
	for i := len(s.procs) - 1; i >= 0; i-- {
		if err := s.procs[i].stop(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	s.procs = nil
	s.killLeftoverShims()
	if err := unmountUnder(s.Dir); err != nil {
		errs = append(errs, err)
	}
	removeNewCgroups(s.cgroupsAt)
	// Folders another stack running in parallel created first are not in the
	// diff above, yet ours may be their last user: try the daemons' own names.
	// Only empty cgroups can be removed, so one still in use stays.
	RemoveNamedCgroups("buildkit", s.Namespace)
	if os.Getenv("ZLAYER_KEEP_STACK") == "" {
		if err := os.RemoveAll(s.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", s.Dir, err))
		}
	}
	return errors.Join(errs...)
}

// DumpLogs prints the tail of every daemon's log, for failed tests.
func (s *Stack) DumpLogs(logf func(string, ...any)) {
	for _, p := range s.procs {
		b, err := os.ReadFile(p.log)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 60 {
			lines = lines[len(lines)-60:]
		}
		logf("---- %s log (%s), last %d lines ----\n%s", p.name, p.log, len(lines), strings.Join(lines, "\n"))
	}
}

// PIDs maps each running daemon's name to its PID.
func (s *Stack) PIDs() map[string]int {
	m := map[string]int{}
	for _, p := range s.procs {
		if p.alive() {
			m[p.name] = p.pid
		}
	}
	return m
}
