// Package node wires a ZLayer node together: containerd (found or started
// as a supervised child), the store, the reconciler and the API.
package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	containerd "github.com/containerd/containerd/v2/client"

	"github.com/zlayer/zlayer/noderuntime/api"
	"github.com/zlayer/zlayer/noderuntime/changes"
	"github.com/zlayer/zlayer/noderuntime/containerdproc"
	"github.com/zlayer/zlayer/noderuntime/metrics"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/registry"
	"github.com/zlayer/zlayer/noderuntime/secrets"
	"github.com/zlayer/zlayer/noderuntime/spec"
	"github.com/zlayer/zlayer/noderuntime/store"
	"github.com/zlayer/zlayer/shim/contract"
	"github.com/zlayer/zlayer/shim/logfile"
)

// Config is everything `zlayer serve` takes.
type Config struct {
	DataDir          string
	Socket           string
	Bind             string
	TokenFile        string
	Registries       *registry.Registries // the node config's registries: section (nil: none)
	ContainerdSocket string
	Namespace        string
	StateDir         string
	Snapshotter      string
	Runtime          string
	// Version is this zlayer's build version; a lean shim beside the
	// executable is used only when it reports the same.
	Version string
	// ContainerdBinary overrides the containerd looked up on PATH.
	ContainerdBinary string
	// StopTimeout is the grace between SIGTERM and SIGKILL when a replica stops.
	StopTimeout time.Duration
	Log         *slog.Logger
	// LogOptions rotate replicas' logs (zero: the shim's defaults).
	LogOptions logfile.Options
	// Networks adds network modes beyond host (bridge, from node
	// networking); specs asking for a mode missing here are refused.
	Networks reconcile.Networks
	// DefaultNetworkMode is what services without network_mode get
	// (empty: host).
	DefaultNetworkMode spec.NetworkMode
	// Extensions run beside the controller until ctx ends (e.g. ingress and
	// service discovery fed from the controller's replicas).
	Extensions []func(ctx context.Context, ctrl *reconcile.Controller, st *store.Store) error
	// BeforeStop runs before a replica is stopped for good (the ingress
	// drains it).
	BeforeStop func(ctx context.Context, id string)
	// API hardening (see api.Limits, api.ServingTLS): plain HTTP only on
	// InsecureBind; the read-only token in ReadTokenFile.
	InsecureBind  string
	ReadTokenFile string
	TLS           api.TLSFiles
	APILimits     api.Limits
	// PullProgressTimeout and CreateTimeout are the reconciler's deadlines
	// (reconcile.Options); zero takes its defaults.
	PullProgressTimeout, CreateTimeout time.Duration
	// Cluster makes the node one of a cluster (nil: a node on its own).
	Cluster Cluster
}

// Cluster is a node's part in a cluster (noderuntime/cluster's Runtime):
// what the API adds, which replicas the controller runs, the API's TLS
// (the node certificate), and the loops that keep the node in the cluster.
type Cluster interface {
	api.Cluster
	Placement() reconcile.Placement
	// SecretSource gives the values of the secrets of the node's replicas
	// (kept by the cluster, not by the node).
	SecretSource() reconcile.SecretSource
	ServingTLS(base *tls.Config) *tls.Config
	Changes() changes.Source
	Run(ctx context.Context, ctrl *reconcile.Controller, st *store.Store) error
}

// ShimName is the binary containerd looks for to run io.containerd.zlayer.v1.
const ShimName = contract.ShimBinary

// loadToken loads the token in file (def when file is empty), creating it
// on the first start; what names the token in the error.
func loadToken(file, def, what string) (path, token string, err error) {
	if file == "" {
		file = def
	}
	token, err = api.LoadOrCreateToken(file)
	if err != nil {
		return file, "", fmt.Errorf("%s: %w", what, err)
	}
	return file, token, nil
}

// Run serves until ctx ends. Replicas keep running after it returns.
func Run(ctx context.Context, cfg Config) error {
	log := cfg.Log
	if cfg.StateDir == "" {
		cfg.StateDir = filepath.Join(cfg.DataDir, "containers")
	}
	for _, d := range []string{cfg.DataDir, cfg.StateDir} {
		if err := os.MkdirAll(d, 0o711); err != nil {
			return err
		}
	}
	regs := cfg.Registries
	if regs == nil {
		regs = &registry.Registries{}
	}
	st, err := store.OpenWith(filepath.Join(cfg.DataDir, "state.db"), store.Options{Log: log.With("component", "store")})
	if err != nil {
		return err
	}
	defer st.Close()
	tokenFile, token, err := loadToken(cfg.TokenFile, filepath.Join(cfg.DataDir, "token"), "API token")
	if err != nil {
		return err
	}
	readTokenFile, readToken, err := loadToken(cfg.ReadTokenFile, filepath.Join(cfg.DataDir, "token.read"), "API read token")
	if err != nil {
		return err
	}
	if readToken == token {
		return fmt.Errorf("API read token in %s is the admin token of %s: give it its own", readTokenFile, tokenFile)
	}
	listeners := api.Listeners{Socket: cfg.Socket, Bind: cfg.Bind, InsecureBind: cfg.InsecureBind}
	switch {
	case cfg.Cluster != nil && cfg.Bind == "":
		return errors.New("a cluster node serves its API on TLS to the other nodes: --bind must not be empty")
	case cfg.Cluster != nil:
		if cfg.TLS.Cert != "" {
			log.Warn("a cluster node serves the API with its node certificate (signed by the cluster CA); --tls-cert is not used")
		}
		listeners.TLS = cfg.Cluster.ServingTLS(api.TLSConfig(tls.Certificate{}))
	case cfg.Bind != "":
		if listeners.TLS, err = api.ServingTLS(cfg.DataDir, cfg.TLS, log.With("component", "api")); err != nil {
			return err
		}
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var ctrl *reconcile.Controller
	socket := cfg.ContainerdSocket
	var sup *containerdproc.Supervisor
	// The logger's link is needed by runc's shim under any containerd.
	binDir, err := shimDir(ctx, cfg.DataDir, cfg.Version, log)
	if err != nil {
		return err
	}
	if socket != "" && containerdproc.Answers(ctx, socket) {
		log.Info("using running containerd", "socket", socket)
		if cfg.Runtime == reconcile.RuntimeZLayer {
			log.Warn("an external containerd must find "+ShimName+" on its PATH and share ZLAYER_STATE_DIR with serve for logs and exit records",
				"state_dir", cfg.StateDir)
		}
	} else {
		env := []string{
			contract.StateDirEnv + "=" + cfg.StateDir,
			"PATH=" + binDir + string(os.PathListSeparator) + os.Getenv("PATH"),
		}
		bin := cfg.ContainerdBinary
		if bin == "" {
			if why := usableContainerd(ctx); why != "" {
				// The multi-call binary is containerd too, under that name.
				var err error
				bin, err = faceLink(binDir, "containerd")
				if err != nil {
					return err
				}
				log.Info("running the embedded containerd", "why", why, "binary", bin)
			}
		}
		sup, err = containerdproc.Start(ctx, containerdproc.Options{
			Binary: bin, DataDir: cfg.DataDir, Env: env, Log: log.With("component", "containerd"),
			OnReady: func() {
				if ctrl != nil {
					ctrl.Trigger()
				}
			},
		})
		if err != nil {
			return err
		}
		socket = sup.Socket()
		defer sup.Wait()
		defer cancel()
	}

	snap := cfg.Snapshotter
	if snap == "overlayfs" {
		probeDir := cfg.DataDir
		if sup != nil {
			probeDir = sup.Paths.Dir
		}
		if err := containerdproc.ProbeOverlay(probeDir); err != nil {
			log.Warn("overlayfs unavailable, using the native snapshotter", "reason", err)
			snap = "native"
		}
	}

	client, err := containerd.New(socket, containerd.WithDefaultNamespace(cfg.Namespace), containerd.WithTimeout(10*time.Second))
	if err != nil {
		return fmt.Errorf("containerd %s: %w", socket, err)
	}
	defer client.Close()

	m := metrics.New()
	m.Help("zlayer_store_quarantined_records", "State records that could not be decoded and were set aside.")
	m.Gauge(func() []metrics.Sample {
		q, _ := st.Quarantined()
		return []metrics.Sample{{Name: "zlayer_store_quarantined_records", Value: float64(len(q))}}
	})
	nodeSecrets := secrets.Open(cfg.DataDir)
	// The controller's: in a cluster the secrets are the cluster's (a
	// server opens them, an agent asks a server for its replicas').
	var secStore reconcile.SecretSource = nodeSecrets
	if cfg.Cluster != nil {
		secStore = cfg.Cluster.SecretSource()
	}
	secDir := filepath.Join(cfg.DataDir, secrets.RunDirName)
	if release, err := secrets.EnsureTmpfs(secDir); err != nil {
		// Env secrets still work; file secrets fail their replicas.
		log.Warn("file secrets unavailable", "reason", err)
		secDir = ""
	} else {
		defer release()
	}
	ctrl = reconcile.New(reconcile.Options{
		Secrets: secStore, SecretsDir: secDir,
		Client: client, Namespace: cfg.Namespace, Snapshotter: snap, Runtime: cfg.Runtime,
		StateDir: cfg.StateDir, DataDir: cfg.DataDir, Registries: regs, Store: st, Metrics: m,
		Log: log.With("component", "reconcile"), Networks: networks(cfg.Networks), BeforeStop: cfg.BeforeStop,
		StopTimeout: cfg.StopTimeout, LoggerBinary: filepath.Join(binDir, contract.LoggerName),
		LogOptions:          cfg.LogOptions,
		PullProgressTimeout: cfg.PullProgressTimeout, CreateTimeout: cfg.CreateTimeout,
		Placement: placement(cfg.Cluster),
	})
	if sup != nil {
		m.Gauge(func() []metrics.Sample {
			return []metrics.Sample{{Name: "zlayer_containerd_restarts", Value: float64(sup.Restarts())}}
		})
	}
	srv := &api.Server{
		Store: st, Controller: ctrl, Metrics: m, Token: token, ReadToken: readToken, Limits: cfg.APILimits,
		Log:         log.With("component", "api"),
		Bridge:      cfg.Networks[spec.NetworkBridge] != nil,
		NetworkMode: cfg.DefaultNetworkMode,
		Secrets:     nodeSecrets,
		Healthy: func(ctx context.Context) error {
			ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			_, err := client.Version(ctx)
			return err
		},
	}
	exts := cfg.Extensions
	if cfg.Cluster != nil {
		srv.Cluster, srv.Changes = cfg.Cluster, cfg.Cluster.Changes()
		exts = append(exts, cfg.Cluster.Run)
	}
	log.Info("node starting", "data_dir", cfg.DataDir, "containerd", socket, "namespace", cfg.Namespace,
		"runtime", cfg.Runtime, "snapshotter", snap, "state_dir", cfg.StateDir)

	errc := make(chan error, 2+len(exts))
	go func() { errc <- ctrl.Run(ctx) }()
	go func() { errc <- srv.Serve(ctx, listeners) }()
	for _, ext := range exts {
		go func() { errc <- ext(ctx, ctrl, st) }()
	}
	var first error
	pending := 2 + len(exts)
	select {
	case <-ctx.Done():
	case first = <-errc:
		pending--
	}
	cancel()
	for ; pending > 0; pending-- {
		if err := <-errc; err != nil && first == nil && !errors.Is(err, context.Canceled) {
			first = err
		}
	}
	return first
}

// shimDir makes sure containerd finds our shim: a link named
// containerd-shim-zlayer-v1, in a folder put first on containerd's PATH, to
// the lean shim installed beside this executable when it is of this build,
// else to this executable (whose face of that name is the same shim, only
// slower to start). zlayer-logger, which runc's shim runs by absolute path,
// is linked there the same way.
func shimDir(ctx context.Context, dataDir, version string, log *slog.Logger) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(dataDir, "bin")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	for _, name := range []string{ShimName, contract.LoggerName} {
		target, err := leanShim(ctx, exe, name, version)
		if err != nil {
			log.Warn("using the zlayer face as "+name+" instead of the binary beside it", "reason", err)
		}
		if target == "" {
			target = exe
			if strings.HasSuffix(exe, ".test") {
				// A test binary has no shim face.
				target = ""
			}
		}
		link := filepath.Join(dir, name)
		if cur, err := os.Readlink(link); err != nil || cur != target {
			_ = os.Remove(link)
			if target != "" {
				if err := os.Symlink(target, link); err != nil {
					return "", err
				}
			}
		}
	}
	return dir, nil
}

// leanShim returns the lean binary name (containerd-shim-zlayer-v1,
// zlayer-logger) installed in the folder of exe (make build and the node
// image put it there) when it is a separate executable reporting version, or
// "" to use exe's own face. An error says why one that is there is not used.
func leanShim(ctx context.Context, exe, name, version string) (string, error) {
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	path := filepath.Join(filepath.Dir(exe), name)
	resolved, err := filepath.EvalSymlinks(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	if resolved == exe {
		// A link to this executable: its face, a one-file install.
		return "", nil
	}
	if fi, err := os.Stat(resolved); err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
		return "", fmt.Errorf("%s is not an executable file", path)
	}
	// A shim left from another build could speak to state this node does
	// not expect; its -v says which build it is.
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, "-v")
	// A child it left holding stdout must not hold up serve either.
	cmd.WaitDelay = time.Second
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s -v: %w", path, err)
	}
	got := ""
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "Version:"); ok {
			got = strings.TrimSpace(v)
			break
		}
	}
	if got != version {
		return "", fmt.Errorf("%s is version %q, this zlayer is %q", path, got, version)
	}
	return path, nil
}

// placement is the cluster's say in what the controller runs (nil: all).
func placement(c Cluster) reconcile.Placement {
	if c == nil {
		return nil
	}
	return c.Placement()
}

func networks(extra reconcile.Networks) reconcile.Networks {
	n := reconcile.Networks{spec.NetworkHost: reconcile.HostNetwork{}}
	for k, v := range extra {
		n[k] = v
	}
	return n
}

// faceLink makes dir/name a link to this executable, so it runs under
// that name (the multi-call binary picks its face from argv[0]).
func faceLink(dir, name string) (string, error) {
	exe, err := os.Executable()
	if err != nil {
		return "", err
	}
	link := filepath.Join(dir, name)
	if cur, err := os.Readlink(link); err == nil && cur == exe {
		return link, nil
	}
	_ = os.Remove(link)
	return link, os.Symlink(exe, link)
}

// usableContainerd says why the containerd on PATH cannot be used (none, or
// older than v2: the rendered config is version 4), or "" when it can.
func usableContainerd(ctx context.Context) string {
	path, err := exec.LookPath("containerd")
	if err != nil {
		return "no containerd on PATH"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").Output()
	if err != nil {
		return fmt.Sprintf("%s --version: %v", path, err)
	}
	// "containerd github.com/containerd/containerd/v2 v2.4.2 <commit>"
	for _, f := range strings.Fields(string(out)) {
		v := strings.TrimPrefix(f, "v")
		if len(v) > 1 && v[0] >= '0' && v[0] <= '9' && strings.Contains(v, ".") {
			if major := v[:strings.Index(v, ".")]; major >= "2" && len(major) == 1 {
				return ""
			}
			return fmt.Sprintf("%s is version %s; version 2 or later is needed", path, f)
		}
	}
	return fmt.Sprintf("cannot read the version of %s: %q", path, strings.TrimSpace(string(out)))
}
