package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// daemon is a process the stack started; it is only ever signalled by PID.
type daemon struct {
	name string
	pid  int
	log  string
	cmd  *exec.Cmd     // nil when loaded from stack.json by another process
	done chan struct{} // closed when cmd has been reaped
}

// startDaemon runs bin in its own process group (so a terminal's ^C reaches
// the test, which then stops the daemon in order) with its output in a log.
func (s *Stack) startDaemon(name string, env []string, bin string, args ...string) (*daemon, error) {
	logPath := filepath.Join(s.Dir, "logs", name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	f.Close()
	d := &daemon{name: name, pid: cmd.Process.Pid, log: logPath, cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.done) }()
	s.procs = append(s.procs, d)
	_ = os.WriteFile(filepath.Join(s.Dir, "run", name+".pid"), fmt.Appendf(nil, "%d\n", d.pid), 0o644)
	s.logf("stack: started %s (pid %d), log %s", name, d.pid, logPath)
	return d, nil
}

func (d *daemon) alive() bool {
	if d.done != nil {
		select {
		case <-d.done:
			return false
		default:
			return true
		}
	}
	// Loaded from stack.json by another process: make sure the PID still
	// names our daemon and was not reused by something else.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", d.pid))
	return err == nil && strings.Contains(string(b), d.name)
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs.
func (d *daemon) stop(grace time.Duration) error {
	if !d.alive() {
		return nil
	}
	_ = syscall.Kill(d.pid, syscall.SIGTERM)
	if d.waitExit(grace) {
		return nil
	}
	_ = syscall.Kill(d.pid, syscall.SIGKILL)
	if d.waitExit(5 * time.Second) {
		return nil
	}
	return fmt.Errorf("%s (pid %d) did not exit", d.name, d.pid)
}

func (d *daemon) waitExit(limit time.Duration) bool {
	if d.done != nil {
		select {
		case <-d.done:
			return true
		case <-time.After(limit):
			return false
		}
	}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if syscall.Kill(d.pid, 0) != nil {
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// waitReady polls check until it succeeds, the daemon dies, or ctx ends.
func waitReady(ctx context.Context, d *daemon, check func(context.Context) error) error {
	var last error
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = check(cctx)
		cancel()
		if last == nil {
			return nil
		}
		if !d.alive() {
			return fmt.Errorf("%s exited during start-up (see %s): %w", d.name, d.log, last)
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("%s not ready (see %s)", d.name, d.log), last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}
