package reconcile

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/containers"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/zlayer/zlayer/noderuntime/health"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/exitrecord"
	"github.com/zlayer/zlayer/shim/logfile"
)

func withNS(ctx context.Context, ns string) context.Context { return namespaces.WithNamespace(ctx, ns) }

// logOptions bound a replica's log: the zlayer shim gets them as
// annotations, zlayer-logger (under runc's shim) as its arguments.
func (c *Controller) logOptions() logfile.Options {
	o := c.o.LogOptions
	if o.MaxSize <= 0 {
		o.MaxSize = logfile.DefaultMaxSize
	}
	if o.MaxFiles <= 0 {
		o.MaxFiles = logfile.DefaultMaxFiles
	}
	return o
}

// create makes the container and starts its first task.
func (c *Controller) create(ctx context.Context, d *spec.Deployment, r *Replica) error {
	s := d.Services[r.Service]
	netw, err := c.o.Networks.For(s.NetworkMode)
	if err != nil {
		return err
	}
	img, err := c.EnsureImage(ctx, s.Image.Name, s.Image.PullPolicy)
	if err != nil {
		return err
	}
	c.mu.Lock()
	r.ImageDigest, r.Image = img.Target().Digest.String(), img.Name()
	c.changed()
	c.mu.Unlock()
	if err := c.runInit(ctx, d, r, s); err != nil {
		return err
	}
	// The image is here; making the container waits for a slot (bounding
	// the node's concurrent creations) and has the create timeout.
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-c.slots }()
	ctx, cancel := context.WithTimeout(ctx, c.o.CreateTimeout)
	defer cancel()
	if err := c.makeContainer(ctx, d, r, s, netw, img); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("creating the container did not finish within %s (create timeout): %w", c.o.CreateTimeout, err)
		}
		return err
	}
	return nil
}

// makeContainer creates r's container from img and starts its first task.
func (c *Controller) makeContainer(ctx context.Context, d *spec.Deployment, r *Replica, s *spec.Service, netw Network, img containerd.Image) error {

	opts := []oci.SpecOpts{oci.WithDefaultSpecForPlatform("linux/amd64"), oci.WithImageConfig(img)}
	switch {
	case len(s.Command.Entrypoint) > 0:
		// As with docker run --entrypoint, a new entrypoint drops the image's CMD.
		opts = append(opts, oci.WithProcessArgs(append(append([]string{}, s.Command.Entrypoint...), s.Command.Args...)...))
	case len(s.Command.Args) > 0:
		opts = append(opts, withArgsAfterEntrypoint(img, s.Command.Args))
	}
	if s.Command.Workdir != "" {
		opts = append(opts, oci.WithProcessCwd(s.Command.Workdir))
	}
	if len(s.Env) > 0 {
		env, err := c.env(s)
		if err != nil {
			return err
		}
		opts = append(opts, oci.WithEnv(env))
	}
	env := []string{"ZLAYER_DEPLOYMENT=" + d.Deployment, "ZLAYER_SERVICE=" + r.Service, "ZLAYER_REPLICA=" + strconv.Itoa(r.Index)}
	opts = append(opts, oci.WithEnv(env))
	opts = append(opts, netw.SpecOpts(d.Deployment, r.Service, s)...)
	opts = append(opts, containerOpts(s)...)
	if s.Resources.Memory > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(s.Resources.Memory)))
	}
	if s.Resources.CPU > 0 {
		const period = 100000
		opts = append(opts, oci.WithCPUCFS(int64(s.Resources.CPU*period), period))
	}
	mounts, err := c.mounts(s)
	if err != nil {
		return err
	}
	sm, err := c.secretMounts(r.ID, s)
	if err != nil {
		return err
	}
	mounts = append(mounts, sm...)
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	lo := c.logOptions()
	opts = append(opts, oci.WithAnnotations(map[string]string{
		contract.GroupAnnotation:       d.Deployment + "/" + r.Service,
		contract.LogMaxSizeAnnotation:  strconv.FormatInt(lo.MaxSize, 10),
		contract.LogMaxFilesAnnotation: strconv.Itoa(lo.MaxFiles),
	}))
	labels := map[string]string{
		LabelDeployment: d.Deployment, LabelService: r.Service, LabelReplica: strconv.Itoa(r.Index),
		LabelHash: r.Hash, LabelRestarts: "0",
	}
	for k, v := range s.Labels {
		labels[k] = v
	}
	// A leftover container of this id (e.g. a failed earlier attempt) goes.
	if old, err := c.o.Client.LoadContainer(ctx, r.ID); err == nil {
		c.deleteContainer(ctx, old, c.stopPolicyOf(s))
	}
	c.mu.Lock()
	keepLogs := r.keepLogs
	c.mu.Unlock()
	if !keepLogs {
		_ = logfile.Remove(c.logPath(r.ID))
		_ = os.Remove(c.exitPath(r.ID))
	}
	ctr, err := c.o.Client.NewContainer(ctx, r.ID,
		containerd.WithImage(img),
		containerd.WithSnapshotter(c.o.Snapshotter),
		containerd.WithNewSnapshot(r.ID, img),
		containerd.WithRuntime(c.o.Runtime, c.runtimeOptions()),
		containerd.WithNewSpec(opts...),
		containerd.WithContainerLabels(labels),
	)
	if err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	_ = ctr
	return c.startTask(ctx, r, false)
}

func (c *Controller) runtimeOptions() any {
	if c.o.Runtime == RuntimeRunc {
		return &runcoptions.Options{Root: filepath.Join(c.o.DataDir, "runc")}
	}
	return nil
}

// withArgsAfterEntrypoint keeps the image's entrypoint and replaces its CMD.
func withArgsAfterEntrypoint(img containerd.Image, args []string) oci.SpecOpts {
	return func(ctx context.Context, cl oci.Client, ctr *containers.Container, s *oci.Spec) error {
		ic, err := img.Spec(ctx)
		if err != nil {
			return err
		}
		s.Process.Args = append(append([]string{}, ic.Config.Entrypoint...), args...)
		return nil
	}
}

func (c *Controller) mounts(s *spec.Service) ([]specs.Mount, error) {
	var out []specs.Mount
	for _, m := range s.Storage {
		mode := "rw"
		if m.ReadOnly {
			mode = "ro"
		}
		switch m.Type {
		case "bind":
			out = append(out, specs.Mount{Type: "bind", Source: m.Source, Destination: m.Target, Options: []string{"rbind", mode}})
		case "named":
			src := filepath.Join(c.o.DataDir, "volumes", m.Name)
			if err := os.MkdirAll(src, 0o755); err != nil {
				return nil, err
			}
			out = append(out, specs.Mount{Type: "bind", Source: src, Destination: m.Target, Options: []string{"rbind", mode}})
		case "tmpfs":
			o := []string{"nosuid", "nodev", mode}
			if m.Size > 0 {
				o = append(o, "size="+strconv.FormatInt(m.Size, 10))
			}
			out = append(out, specs.Mount{Type: "tmpfs", Source: "tmpfs", Destination: m.Target, Options: o})
		}
	}
	return out, nil
}

// startTask creates and starts a task for r's container (a restart when
// restart is set: the old task is deleted first).
func (c *Controller) startTask(ctx context.Context, r *Replica, restart bool) error {
	ctr, err := c.o.Client.LoadContainer(ctx, r.ID)
	if err != nil {
		return err
	}
	if restart {
		if why := vanished(ctx, ctr); why != "" {
			return &vanishedError{why: why}
		}
	}
	if t, err := ctr.Task(ctx, nil); err == nil {
		killTask(ctx, t, killNow)
		if _, err := t.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("delete old task: %w", err)
		}
	}
	var creator cio.Creator = cio.NullIO
	if c.o.Runtime != RuntimeZLayer {
		// Our shim logs a container without stdio itself; other runtimes
		// get zlayer-logger as the task's logging binary, which runs beside
		// their shim (so the log keeps filling while the node is away) and
		// writes the same format and rotation. binary-v2: a logger that
		// cannot open the log fails the start instead of leaving the
		// container writing into a pipe nobody reads.
		if c.o.LoggerBinary == "" {
			return fmt.Errorf("runtime %s needs %s to log, and the node has none", c.o.Runtime, contract.LoggerName)
		}
		uri, err := cio.LogURIGenerator("binary-v2", c.o.LoggerBinary, contract.LoggerArgs(c.o.StateDir, c.logOptions()))
		if err != nil {
			return err
		}
		creator = cio.LogURI(uri)
	}
	task, err := ctr.NewTask(ctx, creator)
	if err != nil {
		return fmt.Errorf("create task: %w", err)
	}
	wctx, cancel := context.WithCancel(withNS(context.WithoutCancel(ctx), c.o.Namespace))
	exitCh, err := task.Wait(wctx)
	if err != nil {
		cancel()
		return err
	}
	if err := task.Start(ctx); err != nil {
		cancel()
		killTask(ctx, task, killNow)
		_, _ = task.Delete(ctx)
		return fmt.Errorf("start task: %w", err)
	}
	c.mu.Lock()
	if r.cancel != nil {
		r.cancel()
	}
	r.cancel, r.waitCtx = cancel, wctx
	r.PID = task.Pid()
	r.StartedAt = time.Now()
	r.State, r.Message, r.Healthy = StateRunning, "", nil
	r.attached = true
	if restart {
		r.Restarts++
		c.o.Metrics.Add("zlayer_replica_restarts_total", map[string]string{"deployment": r.Deployment, "service": r.Service}, 1)
	}
	restarts := r.Restarts
	c.changed()
	c.mu.Unlock()
	if restart {
		_, _ = ctr.SetLabels(ctx, map[string]string{LabelRestarts: strconv.Itoa(restarts), LabelHealthy: "false"})
	}
	c.afterStart(wctx, r, task)
	go c.watch(wctx, r, exitCh)
	c.Trigger()
	return nil
}

// afterStart attaches the network and starts the health prober.
func (c *Controller) afterStart(ctx context.Context, r *Replica, task containerd.Task) {
	c.mu.Lock()
	s := r.spec
	c.mu.Unlock()
	addr := "127.0.0.1"
	if s != nil {
		a, err := c.joinNetwork(ctx, r.ID, s.NetworkMode, task.Pid())
		if err != nil {
			// Running on with a loopback address would pass a health check
			// against whatever listens on the host's port and route the
			// ingress to it: stop the replica instead, and let its restart
			// policy bring it back with a network.
			c.o.Log.Error("network attach failed; stopping the replica", "id", r.ID, "err", err)
			c.mu.Lock()
			r.Message = "network: " + err.Error()
			c.changed()
			c.mu.Unlock()
			killTask(ctx, task, killNow)
			return
		}
		addr = a
	}
	c.mu.Lock()
	r.Addr = addr
	if r.State == StateRunning && r.Healthy != nil && *r.Healthy {
		// Adopted after a node restart, healthy when the node went away
		// (a fresh start has no verdict yet).
		r.State = StateReady
	}
	c.changed()
	c.mu.Unlock()
	c.startHealth(ctx, r)
}

// joinNetwork joins a started replica to its network, retrying a few times:
// the CNI chain fails transiently on a busy node (the xtables lock held by
// another rule change, say), and a restart for that would be out of
// proportion.
func (c *Controller) joinNetwork(ctx context.Context, id string, mode spec.NetworkMode, pid uint32) (string, error) {
	n, err := c.o.Networks.For(mode)
	if err != nil {
		return "", err
	}
	var last error
	for i, wait := range []time.Duration{0, 250 * time.Millisecond, time.Second} {
		if i > 0 {
			c.o.Log.Warn("network attach, trying again", "id", id, "err", last)
			select {
			case <-ctx.Done():
				return "", ctx.Err()
			case <-time.After(wait):
			}
		}
		a, err := n.Attach(ctx, id, pid)
		if err == nil {
			return a, nil
		}
		last = err
	}
	return "", last
}

// startHealth (re)starts r's prober with its current spec; without a check
// a running replica is ready.
func (c *Controller) startHealth(ctx context.Context, r *Replica) {
	c.mu.Lock()
	if r.healthCancel != nil {
		r.healthCancel()
		r.healthCancel = nil
	}
	s := r.spec
	addr := r.Addr
	if s == nil || s.Health == nil {
		r.healthOf = nil
		if r.State == StateRunning || r.State == StateUnhealthy {
			r.State, r.Message = StateReady, ""
			c.changed()
		}
		c.mu.Unlock()
		return
	}
	hctx, cancel := context.WithCancel(ctx)
	r.healthCancel = cancel
	r.healthOf = s.Health
	c.mu.Unlock()
	exec := func(ctx context.Context, cmd []string) (int, error) {
		return c.Exec(ctx, r.ID, cmd, nil, io.Discard, io.Discard)
	}
	go health.Run(hctx, s.Health, addr, exec, func(st health.Status) {
		if hctx.Err() != nil {
			return
		}
		h := st.Healthy
		changed := c.recordHealth(r, st)
		c.o.Log.Info("health", "id", r.ID, "healthy", h, "err", st.LastError)
		c.Trigger()
		if changed {
			if ctr, err := c.o.Client.LoadContainer(hctx, r.ID); err == nil {
				_, _ = ctr.SetLabels(hctx, map[string]string{LabelHealthy: strconv.FormatBool(h)})
			}
		}
	})
}

// recordHealth applies a prober's verdict to r and reports whether its
// health changed.
func (c *Controller) recordHealth(r *Replica, st health.Status) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := st.Healthy
	changed := r.Healthy == nil || *r.Healthy != h
	state, msg := r.State, r.Message
	r.Healthy = &h
	if r.State == StateRunning || r.State == StateReady || r.State == StateUnhealthy {
		if h {
			r.State, r.Message = StateReady, ""
		} else {
			r.State, r.Message = StateUnhealthy, st.LastError
		}
	}
	// A verdict that shows nothing new wakes no one.
	if changed || r.State != state || r.Message != msg {
		c.changed()
	}
	return changed
}

// watch waits for the task's exit and records it. A wait that fails
// without an exit means containerd went away: the replica is marked
// unknown and reattached once containerd answers again.
func (c *Controller) watch(ctx context.Context, r *Replica, exitCh <-chan containerd.ExitStatus) {
	var st containerd.ExitStatus
	select {
	case st = <-exitCh:
	case <-ctx.Done():
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.removing {
		return
	}
	if err := st.Error(); err != nil {
		if ctx.Err() != nil {
			return
		}
		r.State, r.Message, r.attached = StateUnknown, "lost contact with containerd: "+err.Error(), false
		c.changed()
		if r.cancel != nil {
			r.cancel()
		}
		go c.Trigger()
		return
	}
	r.attached = false
	if r.cancel != nil {
		r.cancel()
	}
	c.recordExit(r, int(st.ExitCode()), st.ExitTime())
	go c.Trigger()
}

// recordExit stores an exit (reading the shim's exit record for signal and
// OOM details when there is one) and applies the restart policy. c.mu held.
func (c *Controller) recordExit(r *Replica, code int, at time.Time) {
	ex := &ExitInfo{Code: code, At: at}
	if rec, err := exitrecord.Read(c.exitPath(r.ID)); err == nil {
		if at.IsZero() || !rec.ExitedAt.Before(at.Add(-time.Second)) {
			ex.Signal, ex.OOMKilled = signalNumber(rec.Signal), rec.OOMKilled
			if at.IsZero() {
				ex.Code, ex.At = rec.ExitCode, rec.ExitedAt
			}
		}
	}
	if ex.Signal == 0 && ex.Code > 128 && ex.Code < 160 {
		ex.Signal = ex.Code - 128
	}
	r.LastExit = ex
	r.PID = 0
	healthy := false
	r.Healthy = &healthy
	ran := time.Duration(0)
	if !r.StartedAt.IsZero() && !at.IsZero() {
		ran = at.Sub(r.StartedAt)
	}
	c.o.Log.Info("replica exited", "id", r.ID, "code", ex.Code, "ran", ran.Round(time.Millisecond))
	c.afterExit(r, ran)
}

// remove stops and deletes a replica's task and container.
func (c *Controller) remove(ctx context.Context, r *Replica) {
	c.mu.Lock()
	r.removing = true
	r.State = StateStopping
	c.changed()
	c.mu.Unlock()
	// A create or restart in flight (a pull that hangs, say) is abandoned
	// first: down and scale never wait on it, and it cannot leave a
	// container behind.
	c.abandonWork(r)
	c.mu.Lock()
	cancel := r.cancel
	// The spec it last ran under: refreshSpec keeps it current for stop
	// settings changed without a rollout.
	stop := c.stopPolicyOf(r.spec)
	c.mu.Unlock()
	if c.o.BeforeStop != nil {
		c.o.BeforeStop(ctx, r.ID)
	}
	if ctr, err := c.o.Client.LoadContainer(ctx, r.ID); err == nil {
		c.deleteContainer(ctx, ctr, stop)
	}
	if cancel != nil {
		cancel()
	}
	if s := r.spec; s != nil {
		if n, err := c.o.Networks.For(s.NetworkMode); err == nil {
			_ = n.Detach(ctx, r.ID)
		}
	}
	_ = logfile.Remove(c.logPath(r.ID))
	_ = os.Remove(c.exitPath(r.ID))
	c.removeSecretFiles(r.ID)
	c.mu.Lock()
	if c.replicas[r.ID] == r {
		delete(c.replicas, r.ID)
		c.changed()
	}
	c.mu.Unlock()
}

func (c *Controller) stopTask(ctx context.Context, ctr containerd.Container, p stopPolicy) {
	t, err := ctr.Task(ctx, nil)
	if err != nil {
		return
	}
	killTask(ctx, t, p)
	if _, err := t.Delete(ctx); err != nil && !errdefs.IsNotFound(err) {
		c.o.Log.Warn("delete task", "id", ctr.ID(), "err", err)
	}
}

// stopPolicy is how a task is asked to stop: signal, then SIGKILL after
// grace. The zero policy (killNow) sends SIGKILL at once.
type stopPolicy struct {
	signal syscall.Signal
	grace  time.Duration
}

var killNow = stopPolicy{}

// stopPolicyOf is s's stop_signal and stop_grace_period, the node's SIGTERM
// and --stop-timeout where s leaves them out (or s is nil: a leftover
// container whose spec is unknown).
func (c *Controller) stopPolicyOf(s *spec.Service) stopPolicy {
	p := stopPolicy{signal: syscall.SIGTERM, grace: c.o.StopTimeout}
	if s == nil {
		return p
	}
	if s.StopSignal != "" {
		if n := unix.SignalNum(spec.CanonicalSignal(s.StopSignal)); n != 0 {
			p.signal = n
		}
	}
	if s.StopGracePeriod != nil {
		p.grace = s.StopGracePeriod.D()
	}
	return p
}

// killTask sends p's signal, then SIGKILL after p's grace (at once for a
// grace of 0, as docker stop -t 0 does). Only the container's init is
// signalled: it is PID 1 of the container's PID namespace, so its death
// takes the rest with it. (runc's kill --all walks cgroups, which on
// hybrid cgroup hosts has been seen to reach far beyond the container.)
func killTask(ctx context.Context, t containerd.Task, p stopPolicy) {
	st, err := t.Status(ctx)
	if err != nil || st.Status == containerd.Stopped || st.Status == containerd.Created && t.Pid() == 0 {
		return
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := t.Wait(wctx)
	if err != nil {
		return
	}
	if p.signal != 0 {
		_ = t.Kill(ctx, p.signal)
		if p.grace > 0 {
			select {
			case <-ch:
				return
			case <-time.After(p.grace):
			}
		}
	}
	_ = t.Kill(ctx, syscall.SIGKILL)
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
	}
}

func (c *Controller) deleteContainer(ctx context.Context, ctr containerd.Container, p stopPolicy) {
	c.stopTask(ctx, ctr, p)
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		c.o.Log.Warn("delete container", "id", ctr.ID(), "err", err)
	}
}

// Exec runs cmd in the replica's container with the process settings of
// its main process and returns the exit code.
func (c *Controller) Exec(ctx context.Context, id string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	return c.ExecWith(ctx, id, cmd, ExecIO{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// ExecIO is an exec's streams and terminal.
type ExecIO struct {
	Stdin          io.Reader // nil: no stdin
	Stdout, Stderr io.Writer // Stderr unused on a terminal
	// TTY runs the command on a terminal of Cols x Rows; each size sent
	// on Resize afterwards resizes it.
	TTY        bool
	Cols, Rows uint16
	Resize     <-chan [2]uint16
}

// ExecWith is Exec with a terminal and resizes. A cancelled ctx (the
// client gone) kills the process; it is deleted on every return.
func (c *Controller) ExecWith(ctx context.Context, id string, cmd []string, eio ExecIO) (int, error) {
	ctx = withNS(ctx, c.o.Namespace)
	ctr, err := c.o.Client.LoadContainer(ctx, id)
	if err != nil {
		return -1, err
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("replica %s is not running", id)
	}
	sp, err := ctr.Spec(ctx)
	if err != nil {
		return -1, err
	}
	pspec := *sp.Process
	pspec.Args = cmd
	pspec.Terminal = eio.TTY
	pspec.ConsoleSize = nil
	if eio.TTY && eio.Cols > 0 && eio.Rows > 0 {
		pspec.ConsoleSize = &specs.Box{Width: uint(eio.Cols), Height: uint(eio.Rows)}
	}
	execID := fmt.Sprintf("x%d", time.Now().UnixNano())
	fifoDir := filepath.Join(c.o.DataDir, "fifo")
	_ = os.MkdirAll(fifoDir, 0o700)
	var in io.Reader
	var sc *stdinCloser
	if eio.Stdin != nil {
		sc = &stdinCloser{r: eio.Stdin, ready: make(chan struct{})}
		in = sc
	}
	copts := []cio.Opt{cio.WithStreams(in, eio.Stdout, eio.Stderr), cio.WithFIFODir(fifoDir)}
	if eio.TTY {
		copts = append(copts, cio.WithTerminal)
	}
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(copts...))
	if err != nil {
		return -1, fmt.Errorf("exec: %w", err)
	}
	if sc != nil {
		// The shim keeps the stdin fifo open: the end of input has to be
		// told with CloseIO once it is all copied.
		sc.close = func() {
			err := proc.CloseIO(context.WithoutCancel(ctx), containerd.WithStdinCloser)
			c.o.Log.Debug("exec stdin closed", "id", id, "exec", execID, "err", err)
		}
	}
	defer func() {
		if _, err := proc.Delete(context.WithoutCancel(ctx)); err != nil {
			c.o.Log.Debug("exec delete", "id", id, "exec", execID, "err", err)
		}
	}()
	ch, err := proc.Wait(ctx)
	if err != nil {
		return -1, err
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec start: %w", err)
	}
	if sc != nil {
		// Only a started process has a stdin for CloseIO to close.
		close(sc.ready)
	}
	resize := eio.Resize
	if !eio.TTY {
		resize = nil
	}
	for {
		select {
		case st := <-ch:
			if ctx.Err() != nil {
				// The wait ended with the session, not with the process.
				return -1, killExec(ctx, proc)
			}
			code, _, err := st.Result()
			if io := proc.IO(); io != nil {
				io.Wait()
			}
			return int(code), err
		case sz, ok := <-resize:
			if !ok {
				resize = nil
				continue
			}
			if err := proc.Resize(ctx, uint32(sz[0]), uint32(sz[1])); err != nil {
				c.o.Log.Debug("exec resize", "id", id, "exec", execID, "err", err)
			}
		case <-ctx.Done():
			return -1, killExec(ctx, proc)
		}
	}
}

// killExec kills an exec whose session ended (ctx) and waits for the kill
// to land, so that the deferred Delete, which refuses a live process,
// leaves nothing behind. The wait is a new one: the session's ended with
// its context, whichever of the two was seen first.
func killExec(ctx context.Context, proc containerd.Process) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	exited, err := proc.Wait(wctx)
	_ = proc.Kill(wctx, syscall.SIGKILL)
	if err == nil {
		select {
		case <-exited:
		case <-wctx.Done():
		}
	}
	return ctx.Err()
}

func signalNumber(v any) int {
	switch x := v.(type) {
	case float64:
		return int(x)
	case string:
		if n, err := strconv.Atoi(x); err == nil {
			return n
		}
		name := strings.TrimPrefix(strings.ToUpper(x), "SIG")
		for i := 1; i < 65; i++ {
			if strings.TrimPrefix(strings.ToUpper(unix.SignalName(syscall.Signal(i))), "SIG") == name && name != "" {
				return i
			}
		}
	}
	return 0
}

// stdinCloser reports the end of an exec's input to the shim.
type stdinCloser struct {
	r     io.Reader
	ready chan struct{}
	close func()
	once  sync.Once
}

func (s *stdinCloser) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err == io.EOF {
		s.once.Do(func() {
			go func() {
				<-s.ready
				s.close()
			}()
		})
	}
	return n, err
}
