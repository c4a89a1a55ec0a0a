// Package containerdproc runs containerd as a supervised child of the node,
// as k3s does: config rendered into the data dir (CRI, NRI and the pod
// sandbox controller off; root, state and sockets under the data dir), a
// user template or drop-ins honoured, readiness awaited, its log rotated,
// and a restart with backoff whenever it dies.
package containerdproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/template"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/zlayer/zlayer/noderuntime/logfile"
)

// Options configure the child.
type Options struct {
	Binary  string // containerd executable; default: "containerd" on PATH
	DataDir string // the node's data dir; containerd lives in DataDir/containerd
	Env     []string
	Log     *slog.Logger
	// OnReady runs after every (re)start once the socket answers.
	OnReady func()
}

// Paths are where the rendered config puts things.
type Paths struct {
	Dir, Config, Socket, Root, State, Log, Template, DropIns string
}

func PathsFor(dataDir string) Paths {
	dir := filepath.Join(dataDir, "containerd")
	p := Paths{
		Dir:      dir,
		Config:   filepath.Join(dir, "config.toml"),
		Socket:   filepath.Join(dir, "c.sock"),
		Root:     filepath.Join(dir, "root"),
		State:    filepath.Join(dir, "state"),
		Log:      filepath.Join(dir, "containerd.log"),
		Template: filepath.Join(dir, "config.toml.tmpl"),
		DropIns:  filepath.Join(dir, "conf.d"),
	}
	// A unix socket path must fit in sun_path (108 bytes, the shim appends to
	// its own); a deep data dir gets a socket under /run instead.
	if len(p.Socket) > 90 {
		p.Socket = fmt.Sprintf("/run/zlayer/c-%x.sock", hashString(dataDir))
	}
	return p
}

func hashString(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return h
}

// defaultTemplate is the config unless DataDir/containerd/config.toml.tmpl
// exists; drop-ins in conf.d/*.toml are imported either way.
const defaultTemplate = `# Rendered by zlayer serve; edit config.toml.tmpl or add conf.d/*.toml instead.
version = 4
root = '{{.Root}}'
state = '{{.State}}'
temp = '{{.Dir}}/tmp'
imports = ['{{.DropIns}}/*.toml']
disabled_plugins = ['io.containerd.grpc.v1.cri', 'io.containerd.cri.v1.images', 'io.containerd.cri.v1.runtime', 'io.containerd.nri.v1.nri', 'io.containerd.podsandbox.controller.v1.podsandbox']

[plugins]
  [plugins.'io.containerd.server.v1.grpc']
    address = '{{.Socket}}'
  [plugins.'io.containerd.server.v1.ttrpc']
    address = '{{.Socket}}.ttrpc'
  [plugins.'io.containerd.internal.v1.opt']
    path = '{{.Dir}}/opt'
  [plugins.'io.containerd.shim.v1.manager']
    socket_dir = '{{.Dir}}/s'
`

// Render writes the config file and returns its paths.
func Render(dataDir string) (Paths, error) {
	p := PathsFor(dataDir)
	for _, d := range []string{p.Dir, p.DropIns, filepath.Dir(p.Socket)} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return p, err
		}
	}
	text := defaultTemplate
	if b, err := os.ReadFile(p.Template); err == nil {
		text = string(b)
	}
	tmpl, err := template.New("config").Parse(text)
	if err != nil {
		return p, fmt.Errorf("containerd config template %s: %w", p.Template, err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, p); err != nil {
		return p, fmt.Errorf("containerd config template %s: %w", p.Template, err)
	}
	return p, os.WriteFile(p.Config, buf.Bytes(), 0o600)
}

// Answers reports whether a containerd serves at socket.
func Answers(ctx context.Context, socket string) bool {
	if _, err := os.Stat(socket); err != nil {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := containerd.New(socket, containerd.WithTimeout(time.Second))
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.Version(ctx)
	return err == nil
}

// Supervisor owns the containerd child.
type Supervisor struct {
	opts  Options
	Paths Paths

	mu      sync.Mutex
	pid     int
	started int // starts so far
	ready   chan struct{}
	done    chan struct{}
}

// Start renders the config, starts containerd and waits until it answers.
// The child is kept running (restarted with backoff) until ctx ends; then
// it is stopped and Wait returns.
func Start(ctx context.Context, opts Options) (*Supervisor, error) {
	if opts.Binary == "" {
		bin, err := exec.LookPath("containerd")
		if err != nil {
			return nil, fmt.Errorf("no containerd answers and none found on PATH to start: %w", err)
		}
		opts.Binary = bin
	}
	p, err := Render(opts.DataDir)
	if err != nil {
		return nil, err
	}
	s := &Supervisor{opts: opts, Paths: p, ready: make(chan struct{}), done: make(chan struct{})}
	adopt := 0
	if pid := s.leftover(); pid > 0 {
		if Answers(ctx, p.Socket) {
			adopt = pid
		} else {
			opts.Log.Info("stopping unresponsive containerd left by an earlier serve", "pid", pid)
			stopPID(pid, 5*time.Second)
		}
	}
	// containerd writes its log file itself (O_APPEND, rotated by copy and
	// truncate): a pipe through serve would break when serve is killed and
	// take containerd down with SIGPIPE.
	lw, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, err
	}
	go func() {
		t := time.NewTicker(15 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				_ = logfile.CopyTruncate(p.Log, 10<<20, 3)
			}
		}
	}()
	go s.loop(ctx, lw, adopt)
	select {
	case <-s.ready:
		return s, nil
	case <-s.done:
		return nil, fmt.Errorf("containerd exited before it was ready; see %s", p.Log)
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("containerd not ready after 30s; see %s", p.Log)
	}
}

// Socket is the child's gRPC address.
func (s *Supervisor) Socket() string { return s.Paths.Socket }

// PID is the current child's process id (0 between restarts).
func (s *Supervisor) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pid
}

// Restarts counts restarts after the first start.
func (s *Supervisor) Restarts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started == 0 {
		return 0
	}
	return s.started - 1
}

// Wait blocks until the supervisor has stopped the child for good.
func (s *Supervisor) Wait() { <-s.done }

func (s *Supervisor) pidFile() string { return filepath.Join(s.Paths.Dir, "containerd.pid") }

// leftover finds a containerd an earlier serve on this data dir started
// and left running (serve was killed): its pid file names it and its
// command line carries our config path. Adopting it instead of restarting
// it keeps a crash of serve from bouncing containerd.
func (s *Supervisor) leftover() int {
	b, err := os.ReadFile(s.pidFile())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return 0
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte(s.Paths.Config)) || isZombie(pid) {
		return 0
	}
	return pid
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(b, ')')
	return i < 0 || i+2 >= len(b) || b[i+2] == 'Z' || b[i+2] == 'X'
}

// stopPID ends a containerd that is not our child (polling, since we
// cannot wait for it).
func stopPID(pid int, grace time.Duration) {
	_ = syscall.Kill(pid, syscall.SIGTERM)
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if syscall.Kill(pid, 0) != nil || isZombie(pid) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

// watchAdopted supervises an adopted containerd until it exits or ctx ends.
func (s *Supervisor) watchAdopted(ctx context.Context, pid int) error {
	s.mu.Lock()
	s.pid = pid
	s.started++
	s.mu.Unlock()
	s.opts.Log.Info("adopted running containerd", "pid", pid, "socket", s.Paths.Socket)
	s.markReady()
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			stopPID(pid, 10*time.Second)
			s.clearPID()
			_ = os.Remove(s.pidFile())
			return ctx.Err()
		case <-t.C:
			if syscall.Kill(pid, 0) != nil || isZombie(pid) {
				s.clearPID()
				return fmt.Errorf("adopted containerd %d exited", pid)
			}
		}
	}
}

func (s *Supervisor) markReady() {
	s.mu.Lock()
	select {
	case <-s.ready:
	default:
		close(s.ready)
	}
	s.mu.Unlock()
	if s.opts.OnReady != nil {
		s.opts.OnReady()
	}
}

func (s *Supervisor) loop(ctx context.Context, lw *os.File, adopt int) {
	defer close(s.done)
	defer lw.Close()
	backoff := time.Second
	for {
		startedAt := time.Now()
		var err error
		if adopt > 0 {
			err, adopt = s.watchAdopted(ctx, adopt), 0
		} else {
			err = s.runOnce(ctx, lw)
		}
		if ctx.Err() != nil {
			return
		}
		if time.Since(startedAt) > time.Minute {
			backoff = time.Second
		}
		s.opts.Log.Error("containerd exited; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

func (s *Supervisor) runOnce(ctx context.Context, lw *os.File) error {
	_ = os.Remove(s.Paths.Socket)
	_ = os.Remove(s.Paths.Socket + ".ttrpc")
	cmd := exec.Command(s.opts.Binary, "--config", s.Paths.Config)
	cmd.Env = append(os.Environ(), s.opts.Env...)
	cmd.Stdout, cmd.Stderr = lw, lw
	cmd.Dir = s.Paths.Dir
	// Its own process group, and no PDEATHSIG: a killed serve leaves
	// containerd (and the containers) running for the next serve to adopt.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.pid = cmd.Process.Pid
	s.started++
	s.mu.Unlock()
	_ = os.WriteFile(s.pidFile(), []byte(strconv.Itoa(cmd.Process.Pid)), 0o600)
	s.opts.Log.Info("containerd started", "pid", cmd.Process.Pid, "config", s.Paths.Config, "log", s.Paths.Log)

	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	go s.awaitReady(ctx, exited)

	select {
	case err := <-exited:
		s.clearPID()
		return err
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited: //nolint:errcheck // stopped on purpose: its exit status is no error
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited //nolint:errcheck // killed on purpose: its exit status is no error
		}
		s.clearPID()
		_ = os.Remove(s.pidFile())
		return ctx.Err()
	}
}

func (s *Supervisor) clearPID() {
	s.mu.Lock()
	s.pid = 0
	s.mu.Unlock()
}

func (s *Supervisor) awaitReady(ctx context.Context, exited <-chan error) {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if s.PID() == 0 {
			return
		}
		if Answers(ctx, s.Paths.Socket) {
			s.opts.Log.Info("containerd ready", "socket", s.Paths.Socket)
			s.markReady()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ProbeOverlay reports whether overlayfs can mount under dir (it cannot on
// overlayfs itself, e.g. in a container without a volume there).
func ProbeOverlay(dir string) error {
	base, err := os.MkdirTemp(dir, "ovl-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(base)
	var dirs [4]string
	for i, n := range []string{"lower", "upper", "work", "merged"} {
		dirs[i] = filepath.Join(base, n)
		if err := os.Mkdir(dirs[i], 0o700); err != nil {
			return err
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s", dirs[0], dirs[1], dirs[2])
	if err := syscall.Mount("overlay", dirs[3], "overlay", 0, opts); err != nil {
		return fmt.Errorf("overlayfs cannot mount in %s: %w", dir, err)
	}
	if err := syscall.Unmount(dirs[3], 0); err != nil {
		return errors.Join(fmt.Errorf("unmount overlay probe: %w", err))
	}
	return nil
}
