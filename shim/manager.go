package shim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	cgroupsv2 "github.com/containerd/cgroups/v3/cgroup2"
	bootapi "github.com/containerd/containerd/api/runtime/bootstrap/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/api/types/runc/options"
	runcmanager "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2/manager"
	"github.com/containerd/containerd/v2/defaults"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/schedcore"
	cshim "github.com/containerd/containerd/v2/pkg/shim"
	"github.com/containerd/errdefs"
	"github.com/containerd/log"
	"golang.org/x/sys/unix"

	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/exitrecord"
)

// groupKeys are the annotations that put a container into a shared shim,
// first match wins. Ours first; runc's own keys keep pods grouped as
// io.containerd.runc.v2 would group them.
var groupKeys = []string{
	contract.GroupAnnotation,
	"io.containerd.runc.v2.group",
	"io.kubernetes.cri.sandbox-id",
}

// manager is runc's shim manager with our own Start: runc's groups only on
// its own annotations, and it re-executes itself by path, which for the
// multi-call zlayer binary would lose the containerd-shim-zlayer-v1 face.
type manager struct {
	runc    cshim.Shim
	version string // reported by Info in place of runc's
}

func newManager(version string) *manager {
	return &manager{runc: runcmanager.NewShimManager(contract.Runtime), version: version}
}

func (m *manager) Name() string { return contract.Runtime }

func (m *manager) Info(ctx context.Context, options io.Reader) (*types.RuntimeInfo, error) {
	if f, ok := options.(*os.File); ok && isTerminal(f) {
		// A person typed -info: there are no options to wait for.
		options = eofReader{}
	}
	info, err := m.runc.Info(ctx, options)
	if err != nil {
		return nil, err
	}
	if info.Version != nil {
		info.Version.Version = m.version
		info.Version.Revision = ""
	}
	return info, nil
}

// Stop runs when containerd cleans up after a shim that is gone (killed, or
// crashed): runc's cleanup, then an exit record if the shim could not write
// one, so the node still learns that the task ended.
func (m *manager) Stop(ctx context.Context, id string) (cshim.StopStatus, error) {
	st, err := m.runc.Stop(ctx, id)
	if err != nil {
		return st, err
	}
	// Pid 0: the task never got a process (its create failed); there is no
	// end to record.
	if ns, nerr := namespaces.NamespaceRequired(ctx); nerr == nil && st.Pid != 0 {
		path := contract.ExitPath(contract.StateDir(), ns, id)
		if _, rerr := os.Stat(path); errors.Is(rerr, os.ErrNotExist) {
			rec := exitrecord.Record{
				ExitCode:  st.ExitStatus,
				ExitedAt:  st.ExitedAt.UTC(),
				Signal:    exitrecord.SignalOf(st.ExitStatus),
				Pid:       st.Pid,
				ID:        id,
				Namespace: ns,
			}
			if werr := exitrecord.Write(path, rec); werr != nil {
				log.G(ctx).WithError(werr).Warn("write exit record after shim loss")
			}
		}
	}
	return st, nil
}

// Start finds or starts the shim process serving this container and returns
// its address. It runs in a short-lived process that containerd execs with
// the bundle as working folder.
func (m *manager) Start(ctx context.Context, params *bootapi.BootstrapParams) (_ *bootapi.BootstrapResult, retErr error) {
	id := params.GetInstanceID()
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return nil, err
	}
	annotations, err := bundleAnnotations(".")
	if err != nil {
		return nil, err
	}
	// One socket per group: a second container of the group finds the first
	// one's shim listening there and joins it.
	socketKey := id
	for _, k := range groupKeys {
		if g := annotations[k]; g != "" {
			socketKey = "zlayer-group/" + g
			break
		}
	}
	socketDir := params.GetSocketDir()
	if socketDir == "" {
		socketDir = filepath.Join(defaults.DefaultStateDir, "s")
	}
	debug := params.GetLogLevel() <= bootapi.LogLevel_LOG_LEVEL_DEBUG
	result := &bootapi.BootstrapResult{Version: 3, Protocol: "ttrpc"}

	var listeners []*listener
	defer func() {
		if retErr != nil {
			for _, l := range listeners {
				l.close()
			}
		}
	}()
	main, err := listen(ctx, socketDir, params.GetContainerdGrpcAddress(), socketKey, false)
	if errors.Is(err, errdefs.ErrAlreadyExists) {
		result.Address = main.addr
		return result, nil
	}
	if err != nil {
		return nil, err
	}
	listeners = append(listeners, main)
	if debug {
		dl, err := listen(ctx, socketDir, params.GetContainerdGrpcAddress(), socketKey, true)
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, dl)
	}

	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cwd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	args := []string{"-namespace", ns, "-id", id, "-address", params.GetContainerdGrpcAddress()}
	if debug {
		args = append(args, "-debug")
	}
	cmd := exec.Command(self, args...)
	// Under the multi-call binary argv[0] picks the face, and /proc/self/exe
	// is "zlayer"; the lean binary ignores argv[0], so both re-exec alike.
	cmd.Args[0] = binaryName
	cmd.Dir = cwd
	cmd.Env = os.Environ()
	// Its own process group, so signals meant for containerd's group (a
	// terminal's ^C, a supervisor stopping containerd) leave containers alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	for _, l := range listeners {
		cmd.ExtraFiles = append(cmd.ExtraFiles, l.f)
	}

	// A core-scheduling cookie belongs to the calling thread and passes to
	// the child it forks, so the thread stays pinned from creation to fork.
	runtime.LockOSThread()
	if os.Getenv("SCHED_CORE") != "" {
		if err := schedcore.Create(schedcore.ProcessGroup); err != nil {
			runtime.UnlockOSThread()
			return nil, fmt.Errorf("enable sched core support: %w", err)
		}
	}
	err = cmd.Start()
	runtime.UnlockOSThread()
	if err != nil {
		return nil, fmt.Errorf("start shim: %w", err)
	}
	defer func() {
		if retErr != nil {
			_ = cmd.Process.Kill()
		}
	}()
	go func() { _ = cmd.Wait() }()

	if err := joinShimCgroup(params, cmd.Process.Pid); err != nil {
		return nil, err
	}
	if err := cshim.AdjustOOMScore(cmd.Process.Pid); err != nil {
		return nil, fmt.Errorf("adjust shim OOM score: %w", err)
	}
	result.Address = main.addr
	return result, nil
}

// joinShimCgroup honours runc options' ShimCgroup, as runc's shim does.
func joinShimCgroup(params *bootapi.BootstrapParams, pid int) error {
	var opts options.Options
	found, err := params.FindExtension(&opts)
	if err != nil {
		return fmt.Errorf("read runc options: %w", err)
	}
	path := opts.GetShimCgroup()
	if !found || path == "" {
		return nil
	}
	if cgroups.Mode() == cgroups.Unified {
		cg, err := cgroupsv2.Load(path)
		if err == nil {
			err = cg.AddProc(uint64(pid))
		}
		if err != nil {
			return fmt.Errorf("move shim into cgroup %s: %w", path, err)
		}
		return nil
	}
	cg, err := cgroup1.Load(cgroup1.StaticPath(path))
	if err == nil {
		err = cg.AddProc(uint64(pid))
	}
	if err != nil {
		return fmt.Errorf("move shim into cgroup %s: %w", path, err)
	}
	return nil
}

// bundleAnnotations reads only the annotations of the bundle's config.json.
func bundleAnnotations(bundle string) (map[string]string, error) {
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return nil, fmt.Errorf("read bundle spec: %w", err)
	}
	var spec struct {
		Annotations map[string]string `json:"annotations"`
	}
	if err := json.Unmarshal(data, &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(bundle, "config.json"), err)
	}
	return spec.Annotations, nil
}

type listener struct {
	addr string
	l    *net.UnixListener
	f    *os.File
}

func (l *listener) close() {
	if l.l != nil {
		l.l.Close()
	}
	if l.f != nil {
		l.f.Close()
	}
	_ = cshim.RemoveSocket(l.addr)
}

// listen binds the socket for key. When a live shim already holds it, it
// returns that address with ErrAlreadyExists; a stale socket left by a dead
// shim is replaced.
func listen(ctx context.Context, root, containerdAddr, key string, debug bool) (*listener, error) {
	addr, err := cshim.CreateSocketAddress(ctx, root, containerdAddr, key, debug)
	if err != nil {
		return nil, err
	}
	// Two starts of one group's shim (replicas created together after a
	// restart) can both find the dead shim's socket: one removes it and
	// binds, the other then finds it gone or taken by the live new shim.
	var ul *net.UnixListener
	for attempt := 0; ; attempt++ {
		ul, err = cshim.NewSocket(addr)
		if err == nil {
			break
		}
		if !cshim.SocketEaddrinuse(err) || attempt == 3 {
			return nil, fmt.Errorf("create shim socket: %w", err)
		}
		if !debug && cshim.CanConnect(addr) {
			return &listener{addr: addr}, errdefs.ErrAlreadyExists
		}
		if err := cshim.RemoveSocket(addr); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("remove stale shim socket: %w", err)
		}
	}
	l := &listener{addr: addr, l: ul}
	if l.f, err = ul.File(); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
