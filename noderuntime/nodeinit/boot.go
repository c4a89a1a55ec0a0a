package nodeinit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/zlayer/zlayer/noderuntime/containerdproc"
)

// Boot is the container's entrypoint: it prepares the container, then runs
// what the user asked for, staying PID 1 so that orphans (daemonized shims,
// replicas whose shim died) are reaped and signals reach the node.
//
//   - no arguments or `serve ...`: the node.
//   - `deploy ...` or `join ...`: a node, plus that command run against it
//     once it is ready; the container keeps serving afterwards, and ends
//     with the command's exit code if the command fails.
//   - a program on PATH (bash, sh, ctr): that program, for debugging.
//   - anything else: a zlayer command (status, ps, version ...).
func Boot(self string, args []string, log *slog.Logger) int {
	env := Env{DataDir: envOr("ZLAYER_DATA_DIR", "/var/lib/zlayer"), CgroupDir: "/sys/fs/cgroup", Log: log}
	// The steps remount / and /run and rewrite iptables links: right for a
	// container being booted as a node, harmful on a machine. Only PID 1
	// (the container's entrypoint) runs them.
	if os.Getpid() == 1 {
		if err := Run(env); err != nil {
			log.Error("cannot prepare this container as a node", "err", err)
			return 1
		}
	} else {
		log.Warn("not PID 1, so not a container's entrypoint: skipping the node preparation steps")
	}
	if len(args) == 0 {
		args = []string{"serve"}
	}
	sup := newSupervisor(log)
	defer sup.stop()
	switch args[0] {
	case "serve", "join":
		// join is serve plus joining a cluster: the node process itself.
		serve, err := sup.start(self, args...)
		if err != nil {
			log.Error("start serve", "err", err)
			return 1
		}
		go sup.linkContainerdSocket(env)
		return sup.waitFor(serve)
	case "deploy":
		serve, err := sup.start(self, "serve")
		if err != nil {
			log.Error("start serve", "err", err)
			return 1
		}
		if err := sup.awaitReady(serve, 2*time.Minute); err != nil {
			log.Error("node did not become ready", "err", err)
			sup.signal(syscall.SIGTERM)
			sup.waitFor(serve)
			return 1
		}
		go sup.linkContainerdSocket(env)
		cmd, err := sup.start(self, args...)
		if err != nil {
			log.Error("start "+args[0], "err", err)
			return 1
		}
		// A deploy cut short by `docker stop` is not a failed deploy: the
		// container ends with serve's code, as a stopped node does.
		if code := sup.waitFor(cmd); code != 0 && !sup.terminating {
			log.Error(args[0]+" failed; stopping the node", "exit_code", code)
			sup.signal(syscall.SIGTERM)
			sup.waitFor(serve)
			return code
		}
		return sup.waitFor(serve)
	default:
		prog, argv := self, args
		if p, err := exec.LookPath(args[0]); err == nil {
			prog, argv = p, args[1:]
		}
		p, err := sup.start(prog, argv...)
		if err != nil {
			log.Error("start", "program", prog, "err", err)
			return 127
		}
		return sup.waitFor(p)
	}
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// supervisor starts children, forwards signals to them and reaps every
// process that ends up as its child.
type supervisor struct {
	log     *slog.Logger
	sigs    chan os.Signal
	started []int
	// terminating is set once SIGTERM or SIGINT has been forwarded.
	terminating bool
	exits       map[int]int // pid -> exit code, for children already reaped
}

func newSupervisor(log *slog.Logger) *supervisor {
	s := &supervisor{log: log, sigs: make(chan os.Signal, 16), exits: map[int]int{}}
	signal.Notify(s.sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
		syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGCHLD)
	return s
}

func (s *supervisor) stop() { signal.Stop(s.sigs) }

func (s *supervisor) start(prog string, args ...string) (int, error) {
	p, err := os.StartProcess(prog, append([]string{prog}, args...), &os.ProcAttr{
		Files: []*os.File{os.Stdin, os.Stdout, os.Stderr},
		Env:   os.Environ(),
	})
	if err != nil {
		return 0, err
	}
	// Release resets p.Pid, so keep it first. Reaping goes through
	// wait4(-1), never through p.Wait.
	pid := p.Pid
	_ = p.Release()
	if pid <= 0 {
		return 0, fmt.Errorf("start %s: no pid", prog)
	}
	s.started = append(s.started, pid)
	return pid, nil
}

// signal forwards sig to every child still running.
func (s *supervisor) signal(sig syscall.Signal) {
	for _, pid := range s.started {
		// kill(0) and kill(-1) would signal whole groups or every process.
		if _, done := s.exits[pid]; !done && pid > 0 {
			_ = syscall.Kill(pid, sig)
		}
	}
}

// waitFor serves signals and reaps until pid has exited; it returns pid's
// exit code (128+signal when killed).
func (s *supervisor) waitFor(pid int) int {
	for {
		s.reap()
		if code, ok := s.exits[pid]; ok {
			return code
		}
		sig := <-s.sigs
		if sig != syscall.SIGCHLD {
			s.log.Info("forwarding signal", "signal", sig)
			if sig == syscall.SIGTERM || sig == syscall.SIGINT {
				s.terminating = true
			}
			s.signal(sig.(syscall.Signal))
		}
	}
}

func (s *supervisor) reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
		code := ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		s.exits[pid] = code
	}
}

// awaitReady polls the node API's readiness until it answers 200, the
// node exits, or the timeout passes. Signals keep being forwarded.
func (s *supervisor) awaitReady(serve int, timeout time.Duration) error {
	sock := envOr("ZLAYER_SOCKET", "/run/zlayer/zlayer.sock")
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
	}}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		s.reap()
		if code, ok := s.exits[serve]; ok {
			return fmt.Errorf("serve exited with code %d", code)
		}
		select {
		case sig := <-s.sigs:
			if sig != syscall.SIGCHLD {
				s.signal(sig.(syscall.Signal))
				return fmt.Errorf("interrupted by %v", sig)
			}
		default:
		}
		if resp, err := hc.Get("http://node/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return errors.New("timed out")
}

// linkContainerdSocket: ctr (and any containerd client) looks for
// /run/containerd/containerd.sock by default, but serve's own containerd
// listens inside the data dir. Once it is up, a link makes `ctr -n zlayer
// containers ls` work inside the container without --address. Nothing is
// linked when the user points serve at a containerd of their own.
func (s *supervisor) linkContainerdSocket(env Env) {
	const want = "/run/containerd/containerd.sock"
	if v := os.Getenv("CONTAINERD_SOCKET"); v != "" && v != want {
		return
	}
	target := containerdproc.PathsFor(env.DataDir).Socket
	for i := 0; i < 600; i++ {
		if _, err := os.Lstat(want); err == nil {
			return
		}
		if _, err := os.Stat(target); err == nil {
			if err := os.MkdirAll(filepath.Dir(want), 0o711); err == nil {
				_ = os.Symlink(target, want)
			}
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}
