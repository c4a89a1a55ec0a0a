package shim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	taskAPI "github.com/containerd/containerd/api/runtime/task/v3"
	"github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/task"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/containerd/v2/pkg/shutdown"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"github.com/containerd/fifo"
	"github.com/containerd/log"
	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"

	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/exitrecord"
	"github.com/zlayer/zlayer/shim/logfile"
)

// How long an exit waits for the container's last output to reach the log
// before its exit record is written regardless (a process outside the
// container may still hold its stdout).
const drainTimeout = 5 * time.Second

// service is runc's task service with what the node needs on top: output of
// containers created without stdio goes to a durable log, and the end of
// each task is written down as an exit record.
type service struct {
	taskAPI.TTRPCTaskService // runc's

	ctx       context.Context // lives as long as the shim
	namespace string
	stateDir  string

	mu         sync.Mutex
	containers map[string]*tracked
}

// tracked is what the shim keeps per container beyond runc's state.
type tracked struct {
	id      string
	exitRec string
	log     *logfile.File // nil when the creator gave explicit stdio
	fifos   []string
	readers []io.Closer // our ends of the fifos, closed early only on a failed create
	pumps   sync.WaitGroup

	oomSeen    atomic.Bool
	oomCounter string // cgroup file whose oom_kill count rises on an OOM kill
	oomBase    uint64

	recordOnce sync.Once
	exitOnce   sync.Once
	recorded   chan struct{} // closed once the exit record is written
	exited     chan struct{} // closed when the init's exit event is seen
	published  chan struct{} // closed once that event went on to containerd
}

func newService(ctx context.Context, publisher cshim.Publisher, sd shutdown.Service) (*service, error) {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	s := &service{
		ctx:        context.WithoutCancel(ctx),
		namespace:  ns,
		stateDir:   contract.StateDir(),
		containers: map[string]*tracked{},
	}
	inner, err := task.NewTaskService(ctx, &exitPublisher{Publisher: publisher, svc: s}, sd)
	if err != nil {
		return nil, err
	}
	s.TTRPCTaskService = inner
	// As a face of the multi-call binary the shim has initialized every
	// package of every face (the lean binary far fewer); hand that garbage
	// back to the kernel once the shim is up instead of at runc's first 30 s
	// tick, since a node may run many shims.
	time.AfterFunc(2*time.Second, debug.FreeOSMemory)
	// runc's service removes the socket named in its working folder's
	// "address" file, but a group's shim outlives the bundle it started in.
	// The listening socket containerd handed over as fd 3 knows its own path.
	if sa, err := unix.Getsockname(3); err == nil {
		if ua, ok := sa.(*unix.SockaddrUnix); ok && ua.Name != "" && !strings.HasPrefix(ua.Name, "@") {
			path := ua.Name
			sd.RegisterCallback(func(context.Context) error {
				if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
					return err
				}
				return nil
			})
		}
	}
	return s, nil
}

func (s *service) RegisterTTRPC(server *ttrpc.Server) error {
	taskAPI.RegisterTTRPCTaskService(server, s)
	return nil
}

func (s *service) get(id string) *tracked {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.containers[id]
}

func (s *service) Create(ctx context.Context, r *taskAPI.CreateTaskRequest) (*taskAPI.CreateTaskResponse, error) {
	annotations, err := bundleAnnotations(r.Bundle)
	if err != nil {
		return nil, errgrpc.ToGRPC(err)
	}
	logOpts, err := contract.LogOptions(annotations)
	if err != nil {
		return nil, errgrpc.ToGRPC(fmt.Errorf("container %s: %w: %w", r.ID, err, errdefs.ErrInvalidArgument))
	}
	c := &tracked{
		id:        r.ID,
		exitRec:   contract.ExitPath(s.stateDir, s.namespace, r.ID),
		recorded:  make(chan struct{}),
		exited:    make(chan struct{}),
		published: make(chan struct{}),
	}
	// A record from an earlier task of the same container would be mistaken
	// for this one's end.
	if err := os.Remove(c.exitRec); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, errgrpc.ToGRPC(fmt.Errorf("remove old exit record: %w", err))
	}
	// Only containers created without any output stdio are ours to log;
	// explicit fifos, files, binaries or a terminal stay as runc has them.
	if !r.Terminal && r.Stdout == "" && r.Stderr == "" {
		if err := c.startLogging(s.ctx, r.Bundle, contract.LogPath(s.stateDir, s.namespace, r.ID), logOpts); err != nil {
			return nil, errgrpc.ToGRPC(fmt.Errorf("container %s log: %w", r.ID, err))
		}
		r.Stdout, r.Stderr = c.fifos[0], c.fifos[1]
	}
	s.mu.Lock()
	s.containers[r.ID] = c
	s.mu.Unlock()

	resp, err := s.TTRPCTaskService.Create(ctx, r)
	if err != nil {
		s.mu.Lock()
		delete(s.containers, r.ID)
		s.mu.Unlock()
		c.abortLogging(s.ctx)
		return nil, err
	}
	c.oomCounter, c.oomBase = oomCounterOf(int(resp.Pid))
	return resp, nil
}

// startLogging makes a fifo per stream in the bundle for runc's shim to copy
// the container's pipes into, and pumps each into the log. The fifo keeps
// runc's IO path intact, and when the log falls behind it fills and the
// container blocks on its pipe rather than losing lines.
func (c *tracked) startLogging(ctx context.Context, bundle, path string, opts logfile.Options) error {
	lf, err := logfile.Open(path, opts)
	if err != nil {
		return err
	}
	c.log = lf
	for _, stream := range []string{"stdout", "stderr"} {
		name := filepath.Join(bundle, "zlayer-"+stream)
		_ = os.Remove(name) // a leftover from a failed create
		rc, err := fifo.OpenFifo(ctx, name, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o600)
		if err != nil {
			c.abortLogging(ctx)
			return err
		}
		c.fifos = append(c.fifos, name)
		c.readers = append(c.readers, rc)
		c.pumps.Add(1)
		go c.pump(ctx, rc, lf.Stream(stream))
	}
	return nil
}

func (c *tracked) pump(ctx context.Context, rc io.ReadCloser, w *logfile.Stream) {
	defer c.pumps.Done()
	defer rc.Close()
	err := logfile.Pump(rc, w, func(err error) {
		log.G(ctx).WithError(err).WithField("container", c.id).Error("container log write failed; output dropped until it recovers")
	})
	if err != nil {
		log.G(ctx).WithError(err).WithField("container", c.id).Error("flush container log")
	}
}

// abortLogging undoes startLogging when the task was never created: no
// writer will ever open the fifos, so our ends are closed to end the pumps.
func (c *tracked) abortLogging(ctx context.Context) {
	for _, r := range c.readers {
		_ = r.Close()
	}
	c.stopLogging(ctx, drainTimeout)
}

// stopLogging waits up to wait for the pumps to drain, then closes the log.
func (c *tracked) stopLogging(ctx context.Context, wait time.Duration) {
	if c.log == nil {
		return
	}
	if wait > 0 && !waitGroup(&c.pumps, wait) {
		log.G(ctx).WithField("container", c.id).Warn("container output still open; closing its log")
	}
	for _, f := range c.fifos {
		_ = os.Remove(f)
	}
	_ = c.log.Close()
}

// record writes the exit record once, after the output that preceded the
// exit is in the log.
func (c *tracked) record(ctx context.Context, namespace string, status uint32, pid uint32, at time.Time) {
	c.recordOnce.Do(func() {
		defer close(c.recorded)
		if c.log != nil && !waitGroup(&c.pumps, drainTimeout) {
			log.G(ctx).WithField("container", c.id).Warn("exit recorded before the container's output closed")
		}
		rec := exitrecord.Record{
			ExitCode:  int(status),
			ExitedAt:  at.UTC(),
			Signal:    exitrecord.SignalOf(int(status)),
			OOMKilled: c.oomSeen.Load() || oomKilledSince(c.oomCounter, c.oomBase),
			Pid:       int(pid),
			ID:        c.id,
			Namespace: namespace,
		}
		if err := exitrecord.Write(c.exitRec, rec); err != nil {
			log.G(ctx).WithError(err).WithField("container", c.id).Error("write exit record")
		}
	})
}

// Wait returns for a container's init process only once its exit record is
// written and its output is in the log, so a client that saw the exit can
// read both.
func (s *service) Wait(ctx context.Context, r *taskAPI.WaitRequest) (*taskAPI.WaitResponse, error) {
	resp, err := s.TTRPCTaskService.Wait(ctx, r)
	if err != nil || r.ExecID != "" {
		return resp, err
	}
	if c := s.get(r.ID); c != nil {
		select {
		case <-c.recorded:
		case <-time.After(drainTimeout + time.Second):
		case <-ctx.Done():
		}
	}
	return resp, nil
}

// State hides the fifos the shim made for its own logging: to a client the
// task has no stdio, as it was created.
func (s *service) State(ctx context.Context, r *taskAPI.StateRequest) (*taskAPI.StateResponse, error) {
	resp, err := s.TTRPCTaskService.State(ctx, r)
	if err != nil || r.ExecID != "" {
		return resp, err
	}
	if c := s.get(r.ID); c != nil && c.log != nil {
		resp.Stdout, resp.Stderr = "", ""
	}
	return resp, nil
}

func (s *service) Delete(ctx context.Context, r *taskAPI.DeleteRequest) (*taskAPI.DeleteResponse, error) {
	c := s.get(r.ID)
	if c != nil && r.ExecID == "" {
		// The exit event is held back until the record is written; it must
		// reach containerd before the delete event, and before a shim left
		// with no container shuts down.
		select {
		case <-c.exited:
			select {
			case <-c.published:
			case <-time.After(drainTimeout + 5*time.Second):
			}
		default:
		}
	}
	resp, err := s.TTRPCTaskService.Delete(ctx, r)
	if err != nil || r.ExecID != "" || c == nil {
		return resp, err
	}
	s.mu.Lock()
	delete(s.containers, r.ID)
	s.mu.Unlock()
	// A task deleted without having run still ends with a record.
	c.record(s.ctx, s.namespace, resp.ExitStatus, resp.Pid, protobuf.FromTimestamp(resp.ExitedAt))
	c.stopLogging(s.ctx, drainTimeout)
	return resp, nil
}

// exitPublisher sees the task service's events on their way to containerd:
// it notes OOM kills, and holds a container's exit event until the exit
// record is written.
type exitPublisher struct {
	cshim.Publisher
	svc *service
}

func (p *exitPublisher) Publish(ctx context.Context, topic string, event events.Event) error {
	switch e := event.(type) {
	case *eventstypes.TaskOOM:
		if c := p.svc.get(e.ContainerID); c != nil {
			c.oomSeen.Store(true)
		}
	case *eventstypes.TaskExit:
		c := p.svc.get(e.ContainerID)
		if c == nil || e.ID != e.ContainerID {
			break
		}
		first := false
		c.exitOnce.Do(func() { close(c.exited); first = true })
		if first {
			// Off the event loop: other containers of the group keep their
			// events flowing while this one's output drains.
			go func() {
				defer close(c.published)
				c.record(p.svc.ctx, p.svc.namespace, e.ExitStatus, e.Pid, protobuf.FromTimestamp(e.ExitedAt))
				if err := p.Publisher.Publish(ctx, topic, event); err != nil {
					log.G(ctx).WithError(err).Error("post event")
				}
			}()
			return nil
		}
	}
	return p.Publisher.Publish(ctx, topic, event)
}

// waitGroup waits for wg up to d and reports whether it finished.
func waitGroup(wg *sync.WaitGroup, d time.Duration) bool {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}
