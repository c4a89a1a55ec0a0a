// Package node runs `zlayer serve` for tests and benchmarks: the real
// binary with its own supervised containerd under a stack's folder, and a
// cleanup that leaves no deployment, process or mount behind.
package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
	"github.com/zlayer/zlayer/noderuntime/secrets"
)

// Node is one `zlayer serve` process under test.
type Node struct {
	t       testing.TB
	s       *stack.Stack
	Dir     string // data dir
	Socket  string
	Bind    string
	NS      string
	Runtime string
	Config  string
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
	API     *apiclient.Client
	// Args are extra `zlayer serve` flags (StartNodeWithArgs).
	Args []string
	// Prefix and Sub are Options' (a network namespace, join instead of
	// serve); a test may change Sub before a restart (Start).
	Prefix []string
	Sub    []string
	base   string // folder of the data dir, socket, config and log
}

func FreePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartNode runs `zlayer serve` with its own containerd under s.Dir and
// registers a cleanup that leaves no deployment, process or mount behind.
func StartNode(t testing.TB, s *stack.Stack) *Node {
	rt := os.Getenv("ZLAYER_TEST_RUNTIME")
	if rt == "" {
		rt = reconcile.RuntimeRunc
	}
	return StartNodeWith(t, s, rt)
}

// StartNodeWith is StartNode with a given containerd runtime.
func StartNodeWith(t testing.TB, s *stack.Stack, rt string) *Node {
	return StartNodeWithArgs(t, s, rt)
}

// StartNodeWithArgs is StartNodeWith with extra serve flags.
func StartNodeWithArgs(t testing.TB, s *stack.Stack, rt string, args ...string) *Node {
	return StartNodeOpts(t, s, Options{Runtime: rt, Args: args})
}

// Options place a node for harnesses that run several (integration/cluster);
// the zero value is StartNode's node.
type Options struct {
	Runtime string // containerd runtime (default ZLAYER_TEST_RUNTIME, else runc)
	// Dir holds the node's data dir, socket, config and log (default the
	// stack's folder). Keep it short: the API socket lives in it.
	Dir string
	// Bind is the TLS API address (default 127.0.0.1 on a free port).
	Bind string
	// Namespace is the node's containerd namespace (default from the stack).
	Namespace string
	// Prefix is the command line serve runs under, such as a network
	// namespace's nsenter; the CLI runs without it (over the unix socket).
	Prefix []string
	// Sub is the subcommand and its own flags (default serve), such as
	// join --api URL --token T; the node's serve flags follow it.
	Sub []string
	// Mirror is the docker.io mirror host:port written to the node config
	// (default the stack's registry on loopback).
	Mirror string
	Args   []string // extra flags after the serve flags
	// Config is appended to the node config (after the registries).
	Config string
}

// StartNodeOpts is StartNode placed by o.
func StartNodeOpts(t testing.TB, s *stack.Stack, o Options) *Node {
	if o.Runtime == "" {
		o.Runtime = os.Getenv("ZLAYER_TEST_RUNTIME")
	}
	if o.Runtime == "" {
		o.Runtime = reconcile.RuntimeRunc
	}
	if o.Dir == "" {
		o.Dir = s.Dir
	}
	if o.Bind == "" {
		o.Bind = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	}
	if o.Namespace == "" {
		o.Namespace = "zln" + strings.TrimPrefix(filepath.Base(s.Dir), "zl")
	}
	if o.Mirror == "" {
		o.Mirror = s.Registry
	}
	if len(o.Sub) == 0 {
		o.Sub = []string{"serve"}
	}
	n := &Node{Args: o.Args, Prefix: o.Prefix, Sub: o.Sub, base: o.Dir,
		t: t, s: s, Dir: filepath.Join(o.Dir, "n"), Socket: filepath.Join(o.Dir, "api.sock"),
		Bind: o.Bind, NS: o.Namespace,
		Runtime: o.Runtime, Config: filepath.Join(o.Dir, "node.yaml"), logPath: filepath.Join(o.Dir, "logs", "serve.log"),
	}
	if err := os.MkdirAll(filepath.Dir(n.logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("registries:\n  mirrors:\n    docker.io:\n      endpoint: [\"http://%s\"]\n", o.Mirror) + o.Config
	if err := os.WriteFile(n.Config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var err error
	n.API, err = apiclient.New(n.Socket, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.cleanup)
	n.Start()
	return n
}

// ServeCommand is the `zlayer serve` this node runs.
func (n *Node) ServeCommand(ctx context.Context) *exec.Cmd {
	args := append(append([]string{}, n.Sub...), "--log-level", "debug",
		"--data-dir", n.Dir, "--socket", n.Socket, "--bind", n.Bind,
		"--containerd-socket", filepath.Join(n.base, "no-containerd.sock"),
		"--namespace", n.NS, "--config", n.Config, "--stop-timeout", "2s")
	args = append(args, n.Args...)
	bin := filepath.Join(n.s.BinDir, "zlayer")
	if len(n.Prefix) > 0 {
		args = append(append(append([]string{}, n.Prefix[1:]...), bin), args...)
		bin = n.Prefix[0]
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(n.s.Env(), "ZLAYER_RUNTIME="+n.Runtime)
	return cmd
}

func (n *Node) Start() {
	t := n.t
	t.Helper()
	lf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := n.ServeCommand(context.Background())
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd = cmd
	n.exited = make(chan struct{})
	go func() { _ = cmd.Wait(); lf.Close(); close(n.exited) }()
	n.WaitFor("API ready", 30*time.Second, func() bool {
		_, err := n.API.Raw(context.Background(), "/health/ready")
		return err == nil
	})
}

// Kill9 kills serve with SIGKILL, as a crash would.
func (n *Node) Kill9() {
	_ = n.cmd.Process.Kill()
	<-n.exited
}

func (n *Node) Stop() {
	if n.cmd == nil {
		return
	}
	select {
	case <-n.exited:
		return
	default:
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(20 * time.Second):
		n.t.Errorf("serve did not stop on SIGTERM")
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

// CAFile is the node's own CA certificate, which clients trust.
func (n *Node) CAFile() string { return filepath.Join(n.Dir, "tls", "ca.crt") }

// Token reads the admin token, or the read-only one.
func (n *Node) Token(readOnly bool) string {
	n.t.Helper()
	name := "token"
	if readOnly {
		name = "token.read"
	}
	b, err := os.ReadFile(filepath.Join(n.Dir, name))
	if err != nil {
		n.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TCP is a client of the TLS API with token, trusting the node's CA.
func (n *Node) TCP(token string) *apiclient.Client {
	n.t.Helper()
	c, err := apiclient.NewWith("https://"+n.Bind, apiclient.Options{Token: token, CAFile: n.CAFile()})
	if err != nil {
		n.t.Fatal(err)
	}
	return c
}

// HTTPS is an HTTP client trusting the node's CA, without keep-alive (an
// idle connection would hold a slot of the API's connection cap).
func (n *Node) HTTPS() *http.Client {
	n.t.Helper()
	b, err := os.ReadFile(n.CAFile())
	if err != nil {
		n.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		n.t.Fatalf("no certificate in %s", n.CAFile())
	}
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
}

// Log is serve's output so far.
func (n *Node) Log() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

// ContainerdPID is the node's containerd child.
func (n *Node) ContainerdPID() int {
	b, _ := os.ReadFile(filepath.Join(n.Dir, "containerd", "containerd.pid"))
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return pid
}

func (n *Node) containerdSocket() string { return filepath.Join(n.Dir, "containerd", "c.sock") }

func (n *Node) cleanup() {
	t := n.t
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if t.Failed() {
		if b, err := os.ReadFile(n.logPath); err == nil {
			lines := strings.Split(string(b), "\n")
			if len(lines) > 80 {
				lines = lines[len(lines)-80:]
			}
			t.Logf("---- serve log ----\n%s", strings.Join(lines, "\n"))
		}
	}
	if alive(n) {
		if list, err := n.API.List(ctx); err == nil {
			for _, d := range list {
				if err := n.API.Delete(ctx, d.Name); err != nil {
					t.Errorf("down %s: %v", d.Name, err)
				}
			}
		}
		// In a cluster another node's cleanup may have deleted the
		// deployments a moment ago: this node's replicas stop on their own
		// schedule, before serve stops with their containerd.
		n.waitNoContainers(30 * time.Second)
	}
	ctdPID := n.ContainerdPID()
	// A serve killed before cleanup (kill -9 of a cluster node that the test
	// did not restart) leaves its containerd running for the next serve to
	// adopt: none will, so its containers go through containerd, then it.
	if n.cmd != nil && !alive(n) && ctdPID > 1 && !Zombie(ctdPID) {
		stack.RemoveContainers(n.containerdSocket())
		_ = syscall.Kill(ctdPID, syscall.SIGTERM)
	}
	if n.cmd != nil && !alive(n) {
		// The secrets tmpfs outlives a killed serve on purpose (its
		// replicas keep running and read their files); none will now.
		_ = syscall.Unmount(filepath.Join(n.Dir, "secrets-run"), syscall.MNT_DETACH)
	}
	n.Stop()
	// serve stops its containerd child; the shims go with their containers.
	deadline := time.Now().Add(15 * time.Second)
	for ctdPID > 1 && syscall.Kill(ctdPID, 0) == nil && !Zombie(ctdPID) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if ctdPID > 1 && syscall.Kill(ctdPID, 0) == nil && !Zombie(ctdPID) {
		t.Errorf("containerd child %d outlived serve", ctdPID)
		_ = syscall.Kill(ctdPID, syscall.SIGKILL)
	}
	for time.Now().Before(deadline) && len(stack.ShimPIDs(n.containerdSocket())) > 0 {
		time.Sleep(100 * time.Millisecond)
	}
	if pids := stack.ShimPIDs(n.containerdSocket()); len(pids) > 0 {
		t.Errorf("shims left after down and stop: %v", pids)
		for _, p := range pids {
			if p > 1 {
				_ = syscall.Kill(p, syscall.SIGKILL)
			}
		}
	}
	if m, _ := stack.MountsUnder(n.Dir); len(m) > 0 {
		t.Errorf("mounts left under the data dir: %v", m)
	}
	// The containers' cgroups sit under the containerd namespace's name;
	// containerd leaves the emptied folders.
	stack.RemoveNamedCgroups(n.NS)
}

// waitNoContainers waits until the node's containerd has no container in
// its namespace, or limit.
func (n *Node) waitNoContainers(limit time.Duration) {
	c, err := containerd.New(n.containerdSocket(), containerd.WithTimeout(2*time.Second))
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), n.NS), limit)
	defer cancel()
	for {
		cs, err := c.Containers(ctx)
		if err != nil || len(cs) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func Zombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	return err != nil || strings.Contains(string(b), ") Z ")
}

// Running reports whether serve runs (started and not exited).
func (n *Node) Running() bool { return n.cmd != nil && alive(n) }

func alive(n *Node) bool {
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

func (n *Node) WaitFor(what string, limit time.Duration, ok func() bool) time.Duration {
	n.t.Helper()
	start := time.Now()
	for time.Since(start) < limit {
		if ok() {
			return time.Since(start)
		}
		select {
		case <-n.exited:
			n.t.Fatalf("serve exited while waiting for %s", what)
		case <-time.After(50 * time.Millisecond):
		}
	}
	n.t.Fatalf("timed out after %s waiting for %s", limit, what)
	return 0
}

// CLI runs the zlayer CLI against the node.
func (n *Node) CLI(args ...string) (stdout, stderr string, code int) {
	n.t.Helper()
	return n.CLIIn("", args...)
}

// CLIIn is CLI with stdin.
func (n *Node) CLIIn(stdin string, args ...string) (stdout, stderr string, code int) {
	n.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// A full path: stack.Command keeps exec's PATH lookup error for bare names.
	cmd := n.s.Command(ctx, filepath.Join(n.s.BinDir, "zlayer"), args...)
	cmd.Env = append(cmd.Env, "ZLAYER_HOST="+n.Socket)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	cmd.Stdin = strings.NewReader(stdin)
	err := cmd.Run()
	code = 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		n.t.Fatalf("zlayer %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

func (n *Node) MustCLI(args ...string) string {
	n.t.Helper()
	o, e, code := n.CLI(args...)
	if code != 0 {
		n.t.Fatalf("zlayer %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, o, e)
	}
	return o
}

func (n *Node) Replicas(dep, svc string) []apitypes.ReplicaStatus {
	n.t.Helper()
	all, err := n.API.Replicas(context.Background())
	if err != nil {
		n.t.Fatal(err)
	}
	var out []apitypes.ReplicaStatus
	for _, r := range all {
		if r.Deployment == dep && (svc == "" || r.Service == svc) {
			out = append(out, r)
		}
	}
	return out
}

func (n *Node) Ready(dep string) bool {
	st, err := n.API.Get(context.Background(), dep)
	return err == nil && st.Ready
}

func (n *Node) WriteSpec(name, body string) string {
	p := filepath.Join(n.base, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		n.t.Fatal(err)
	}
	return p
}

func PIDsOf(rs []apitypes.ReplicaStatus) map[string]uint32 {
	m := map[string]uint32{}
	for _, r := range rs {
		m[r.ID] = r.PID
	}
	return m
}

func RestartsOf(rs []apitypes.ReplicaStatus) int {
	n := 0
	for _, r := range rs {
		n += r.Restarts
	}
	return n
}

// PID is serve's process id.
func (n *Node) PID() int { return n.cmd.Process.Pid }

// ContainerdSocket is the node's containerd child socket.
func (n *Node) ContainerdSocket() string { return n.containerdSocket() }

// RSS reads a process's resident set size in bytes.
func RSS(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Use has the node report to t (a subtest of the one that started it)
// until the returned func restores the former one, so that a failed CLI
// call or wait fails the step that made it.
func (n *Node) Use(t testing.TB) (restore func()) {
	parent := n.t
	n.t = t
	return func() { n.t = parent }
}

// SecretFiles is what SecretValuesOnDisk looked at.
type SecretFiles struct {
	Checked    int // regular files read
	Snapshots  int // of them, in containerd's snapshots (the containers' rootfs)
	SpecCopies int // copies of a container's OCI spec holding the env value
}

// SecretValuesOnDisk fails t for every file of the node's data dir that
// holds fileValue, or envValue outside the copies of a container's OCI
// spec: the env must reach the container's process, so containerd's
// metadata, the bundle's config.json and runc's state.json keep it. The
// secrets tmpfs, where file secrets are by design, is not looked at.
func (n *Node) SecretValuesOnDisk(t testing.TB, fileValue, envValue string) SecretFiles {
	t.Helper()
	runDir := filepath.Join(n.Dir, secrets.RunDirName)
	var seen SecretFiles
	_ = filepath.WalkDir(n.Dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() && p == runDir {
			return fs.SkipDir
		}
		if !e.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(n.Dir, p)
		inMeta := false
		switch filepath.Base(p) {
		case "meta.db", "config.json", "state.json":
			inMeta = true
		}
		b, _ := os.ReadFile(p)
		seen.Checked++
		if inMeta && bytes.Contains(b, []byte(envValue)) {
			seen.SpecCopies++
		}
		if strings.Contains(rel, "snapshots") {
			seen.Snapshots++
		}
		if bytes.Contains(b, []byte(fileValue)) || !inMeta && bytes.Contains(b, []byte(envValue)) {
			t.Errorf("%s: %s holds a value", n.Dir, rel)
		}
		return nil
	})
	return seen
}
