package dockernode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
)

// TestIntegrationDockerNode builds the node image once with buildx on the
// harness builder, loads it into the harness's dockerd, and runs the
// scenarios below against it.
func TestIntegrationDockerNode(t *testing.T) {
	s := stack.Start(t, stack.Options{Buildkit: true, Dockerd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 18*time.Minute)
	defer cancel()
	if _, err := BuildImage(ctx, s); err != nil {
		t.Fatalf("build the node image: %v", err)
	}
	size, err := Docker(ctx, s, "image", "inspect", "-f", "{{.Size}}", Image)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("node image size: %s bytes", strings.TrimSpace(size))
	t.Run("ServeDeployRestartRemove", func(t *testing.T) { serveDeployRestartRemove(ctx, t, s) })
	t.Run("ContainerCommands", func(t *testing.T) { containerCommands(ctx, t, s) })
	t.Run("ThreeNodeCluster", func(t *testing.T) { threeNodeCluster(ctx, t, s) })
}

// nodeContainer is the node run privileged in the harness's dockerd, with a
// state volume and a specs folder, and what its steps hand on.
type nodeContainer struct {
	ctx context.Context
	s   *stack.Stack
	id  string // the container's
	// dockerdMounts are dockerd's own mounts (on a host whose / is not
	// shared, it bind-mounts its data root onto itself to share it): there
	// before the node and after it; only mounts that appear with the node
	// may not remain.
	dockerdMounts []string
	ifBefore      []string // host interfaces before the node's network
	port, apiPort int      // published: the node's port 80 and its API
	bport         int      // published: the bridge replicas' ingress port
	hostAPI       func(t *testing.T, args ...string) string
	url, burl     string          // the published port's and the ingress's
	bridged       map[string]bool // bridge replicas answering before the restart
}

// docker runs a docker command that has to succeed.
func (c *nodeContainer) docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := Docker(c.ctx, c.s, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// nodeContainerSteps are the story of one node container, in order.
var nodeContainerSteps = []scenario.Step[*nodeContainer]{
	{Name: "serves, with the host CLI trusting its CA", Run: testNodeContainerServes},
	{Name: "deploy with docker exec", Run: testNodeContainerDeploy},
	{Name: "docker restart brings the deployment back", Run: testNodeContainerRestart},
	{Name: "docker rm -f leaves nothing on the host", Run: testNodeContainerRemove},
}

// serveDeployRestartRemove is the kind-style end to end: the node run
// privileged with a state volume and a specs folder, a service deployed
// with `docker exec`, reached through the published port, listed with ctr,
// brought back by `docker restart`, and `docker rm -f` leaving nothing on
// the host. It runs the commands docker/README.md shows, as written there.
func serveDeployRestartRemove(ctx context.Context, t *testing.T, s *stack.Stack) {
	c := &nodeContainer{ctx: ctx, s: s}
	specs := filepath.Join(s.Dir, "specs")
	if err := PrepareSpecs(ctx, s, specs); err != nil {
		t.Fatal(err)
	}
	c.dockerdMounts = mountsMentioning(t, filepath.Join(s.Dir, "dkd"))
	var err error
	if c.port, err = FreePort(); err != nil {
		t.Fatal(err)
	}
	if c.apiPort, err = FreePort(); err != nil {
		t.Fatal(err)
	}
	if c.bport, err = FreePort(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(specs, "bridged.yaml"), []byte(bridgedSpec), 0o644); err != nil {
		t.Fatal(err)
	}

	// dockerd runs with --bridge=none here, so publishing a port needs a
	// network: a user-defined bridge (removed by the last step, and
	// checked).
	c.ifBefore = hostInterfaces(t)
	c.docker(t, "network", "create", "zlnet")
	t.Cleanup(func() { _, _ = Docker(context.Background(), s, "network", "rm", "zlnet") })

	args := append([]string{"run"}, Privileged()...)
	args = append(args, "-d", "--name", "zlayer", "--network", "zlnet",
		"-p", fmt.Sprintf("127.0.0.1:%d:80", c.port), "-p", fmt.Sprintf("127.0.0.1:%d:3669", c.apiPort),
		"-p", fmt.Sprintf("127.0.0.1:%d:%d", c.bport, bridgedPort),
		"-v", "zlayer-state:/var/lib/zlayer", "-v", specs+":/specs:ro",
		Image, "serve")
	c.docker(t, args...)
	t.Cleanup(func() { _, _ = Docker(context.Background(), s, "rm", "-f", "zlayer") })
	c.id = strings.TrimSpace(c.docker(t, "inspect", "-f", "{{.Id}}", "zlayer"))
	c.url = fmt.Sprintf("http://127.0.0.1:%d/", c.port)
	c.burl = fmt.Sprintf("http://127.0.0.1:%d/", c.bport)
	scenario.Run(t, c, nodeContainerSteps)
}

func testNodeContainerServes(t *testing.T, c *nodeContainer) {
	if err := WaitReady(c.ctx, c.s, "zlayer", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	logs := c.docker(t, "logs", "zlayer")
	for _, want := range []string{"node starting", "snapshotter=overlayfs"} {
		if !strings.Contains(logs, want) {
			t.Errorf("docker logs zlayer lacks %q:\n%s", want, logs)
		}
	}
	// The host CLI over the published TLS API, trusting the node's CA by
	// its file and by the fingerprint from `docker logs`.
	c.hostAPI = hostCLI(c.ctx, t, c.s, func(args ...string) string { return c.docker(t, args...) }, logs, c.apiPort)
	if out := c.hostAPI(t, "status"); !strings.Contains(out, "no deployments") {
		t.Errorf("host CLI status: %s", out)
	}

	if out := c.docker(t, "exec", "zlayer", "ctr", "version"); !strings.Contains(out, "Server:") {
		t.Errorf("ctr version inside the container does not reach the node's containerd:\n%s", out)
	}
}

// testNodeContainerDeploy: the deploy from the issue, as `docker exec`.
func testNodeContainerDeploy(t *testing.T, c *nodeContainer) {
	docker := func(args ...string) string { t.Helper(); return c.docker(t, args...) }
	if out := docker("exec", "zlayer", "zlayer", "image", "import", "/specs/busybox.tar"); !strings.Contains(out, "busybox") {
		t.Fatalf("image import: %s", out)
	}
	if out := docker("exec", "zlayer", "ctr", "-n", "zlayer", "images", "ls"); !strings.Contains(out, "busybox") {
		t.Errorf("ctr -n zlayer images ls lacks the imported image:\n%s", out)
	}
	docker("exec", "zlayer", "zlayer-runtime", "deploy", "--spec", "/specs/app.yaml")
	if body := httpGet(t, c.url, 30*time.Second); !strings.Contains(body, Body) {
		t.Fatalf("published port answered %q, want %q", body, Body)
	}
	// Bridge replicas behind the ingress: each answers its own name.
	docker("exec", "zlayer", "zlayer-runtime", "deploy", "--spec", "/specs/bridged.yaml")
	c.bridged = answering(t, c.burl, 2, 60*time.Second)
	ctrLs := docker("exec", "zlayer", "ctr", "-n", "zlayer", "containers", "ls")
	replica := firstReplica(ctrLs, "web-httpd-")
	if replica == "" {
		t.Fatalf("ctr -n zlayer containers ls lists no web-httpd replica:\n%s", ctrLs)
	}
	// CONTAINERD_NAMESPACE and the socket link make plain ctr work too.
	if out := docker("exec", "zlayer", "ctr", "containers", "ls"); !strings.Contains(out, replica) {
		t.Errorf("plain `ctr containers ls` lacks %s:\n%s", replica, out)
	}
	if out := docker("exec", "zlayer", "cat", "/var/lib/zlayer/containerd/containerd.log"); !strings.Contains(out, "containerd successfully booted") {
		t.Errorf("containerd.log in the data dir:\n%s", out)
	}
	if out := docker("exec", "zlayer", "zlayer-runtime", "ps"); !strings.Contains(out, "httpd") {
		t.Errorf("zlayer-runtime ps: %s", out)
	}
	if out := docker("exec", "zlayer", "bash", "-c", "echo $BASH_VERSION; iptables --version"); !strings.Contains(out, "iptables v") {
		t.Errorf("bash and iptables in the image: %s", out)
	}
}

// testNodeContainerRestart: docker restart: the state volume brings the
// deployment back.
func testNodeContainerRestart(t *testing.T, c *nodeContainer) {
	docker := func(args ...string) string { t.Helper(); return c.docker(t, args...) }
	docker("restart", "zlayer")
	if err := WaitReady(c.ctx, c.s, "zlayer", 60*time.Second); err != nil {
		t.Fatal(err)
	}
	if body := httpGet(t, c.url, 60*time.Second); !strings.Contains(body, Body) {
		t.Fatalf("after docker restart the published port answered %q", body)
	}
	if out := docker("exec", "zlayer", "ctr", "-n", "zlayer", "containers", "ls"); firstReplica(out, "web-httpd-") == "" {
		t.Fatalf("after docker restart ctr lists no replica:\n%s", out)
	}
	// The API answers before the reconciler has reported the adopted
	// replica once: ask again for a while before calling it wrong.
	var out string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(time.Second) {
		if out = docker("exec", "zlayer", "zlayer-runtime", "status"); strings.Contains(out, "1/1") || time.Now().After(deadline) {
			break
		}
	}
	if !strings.Contains(out, "1/1") {
		t.Errorf("after docker restart status is not 1/1:\n%s", out)
	}
	// The CA lives on the volume: the remembered fingerprint still holds.
	if out := c.hostAPI(t, "status"); !strings.Contains(out, "1/1") {
		t.Errorf("host CLI status after docker restart: %s", out)
	}
	// The bridge replicas' namespaces went with the container's /run: the
	// node recreates them, and both answer through the ingress again.
	if again := answering(t, c.burl, 2, 2*time.Minute); !sameSet(again, c.bridged) {
		t.Errorf("after docker restart the bridge replicas answering are %v, before %v", again, c.bridged)
	}
	if out := docker("exec", "zlayer", "zlayer-runtime", "status"); !regexp.MustCompile(`web\s+2/2`).MatchString(out) {
		t.Errorf("after docker restart the bridge service is not 2/2:\n%s", out)
	}
	if out := docker("logs", "zlayer"); strings.Contains(out, "no such file or directory") && strings.Contains(out, "namespace") {
		t.Errorf("a replica restart failed on its vanished namespace:\n%s", out)
	}
}

func testNodeContainerRemove(t *testing.T, c *nodeContainer) {
	docker := func(args ...string) string { t.Helper(); return c.docker(t, args...) }
	// The nested containers' cgroups sit under the node container's.
	if dirs := cgroupDirsOf(c.id); len(dirs) == 0 {
		t.Errorf("no cgroup for container %s found on the host; the leak check below would prove nothing", c.id)
	}
	topBefore := topLevelCgroups(t)

	docker("rm", "-f", "zlayer")
	if dirs := cgroupDirsOf(c.id); len(dirs) > 0 {
		t.Errorf("docker rm -f left cgroups on the host: %v", dirs)
	}
	// Only this container ran on this dockerd: none of its mounts (rootfs,
	// network namespace) may remain under its roots.
	if m := without(mountsMentioning(t, filepath.Join(c.s.Dir, "dkd")), c.dockerdMounts); len(m) > 0 {
		t.Errorf("docker rm -f left mounts on the host: %v", m)
	}
	if m := mountsMentioning(t, "/var/lib/zlayer"); len(m) > 0 {
		t.Errorf("nested mounts escaped to the host: %v", m)
	}
	for _, name := range topLevelCgroups(t) {
		if name == "zlayer" && !contains(topBefore, name) {
			t.Error("a /sys/fs/cgroup/*/zlayer cgroup appeared on the host")
		}
	}
	docker("network", "rm", "zlnet")
	for _, name := range hostInterfaces(t) {
		if !contains(c.ifBefore, name) && (strings.HasPrefix(name, "br-") || strings.HasPrefix(name, "veth")) {
			t.Errorf("host interface %s left behind", name)
		}
	}
	docker("volume", "rm", "zlayer-state")
}

// commandContainers are the containers run with the README's
// container-argument forms.
type commandContainers struct {
	ctx   context.Context
	s     *stack.Stack
	specs string // the folder mounted at /specs
	// cleanup registers a cleanup with the whole story, for a container
	// that the steps after the one starting it use.
	cleanup func(func())
}

// docker runs a docker command.
func (c *commandContainers) docker(args ...string) (string, error) {
	return Docker(c.ctx, c.s, args...)
}

var commandSteps = []scenario.Step[*commandContainers]{
	{Name: "plain buildx build of the Dockerfile", Run: testPlainBuildxBuild},
	{Name: "bash as the command", Run: testBashAsCommand},
	{Name: "a two-node cluster in containers", Run: testClusterInContainers},
	{Name: "deploy --spec as the command", Run: testDeployAsCommand},
	{Name: "docker stop exits 0 promptly", Run: testDockerStop},
	{Name: "invalid spec as the command names the line", Run: testInvalidSpecAsCommand},
}

// containerCommands runs the container-argument forms the README shows:
// `deploy --spec FILE` (a node that deploys the spec and keeps serving),
// `serve --cluster-init` and `join --api URL --token T` (a cluster of two
// node containers), a program (bash), and `docker stop`; and the plain
// `docker buildx build` of the Dockerfile without --target.
func containerCommands(ctx context.Context, t *testing.T, s *stack.Stack) {
	c := &commandContainers{ctx: ctx, s: s, specs: filepath.Join(s.Dir, "specs2"), cleanup: t.Cleanup}
	if err := PrepareSpecs(ctx, s, c.specs); err != nil {
		t.Fatal(err)
	}
	// A spec that needs no image import: busybox's own nc answers.
	spec := strings.Replace(Spec, "pull_policy: never", "pull_policy: if_not_present", 1)
	if err := os.WriteFile(filepath.Join(c.specs, "myspec.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := c.docker("network", "create", "zlnet2"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = Docker(context.Background(), s, "network", "rm", "zlnet2") })
	scenario.Run(t, c, commandSteps)
}

// testPlainBuildxBuild: the seed's form: the Dockerfile without --target
// builds the prebuilt node image (the tests' builder cannot --load; a
// docker tar is loaded).
func testPlainBuildxBuild(t *testing.T, c *commandContainers) {
	s := c.s
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(".cache", "node", fmt.Sprintf("test-%d-plain", os.Getpid()))
	if err := os.MkdirAll(filepath.Join(root, bin), 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(filepath.Join(root, bin))
	if _, err := Run(c.ctx, s, root, "cp", "-f", filepath.Join(s.BinDir, "zlayer"), filepath.Join(root, bin, "zlayer")); err != nil {
		t.Fatal(err)
	}
	plainTar := filepath.Join(s.Dir, "plain.tar")
	if out, err := Run(c.ctx, s, root, "docker", "buildx", "build", "-f", "docker/Dockerfile.zlayer-node",
		"--build-arg", "BINARY_PATH="+filepath.Join(bin, "zlayer"), "--build-arg", "TOOLS_PATH="+mustRel(root, s.ToolsBin),
		"-t", "zlayer-node:plain", "--output", "type=docker,dest="+plainTar, "."); err != nil {
		t.Fatal(err, out)
	}
	if out, err := c.docker("load", "-i", plainTar); err != nil {
		t.Fatal(err, out)
	}
	if out, err := c.docker("run", "--rm", "--entrypoint", "zlayer-runtime", "zlayer-node:plain", "version"); err != nil || !strings.Contains(out, "zlayer") {
		t.Errorf("image from a plain buildx build: %v\n%s", err, out)
	}
}

// testBashAsCommand: bash as the command: a shell in the image, with the
// node tools on PATH.
func testBashAsCommand(t *testing.T, c *commandContainers) {
	args := append([]string{"run", "--rm"}, Privileged()...)
	out, err := c.docker(append(args, Image, "bash", "-c", "command -v zlayer-runtime ctr runc containerd iptables")...)
	if err != nil || strings.Count(out, "/") < 5 {
		t.Errorf("bash in the image: %v\n%s", err, out)
	}
}

// testClusterInContainers: the README's cluster in Docker, as kind runs
// Kubernetes nodes: a first server started with --cluster-init, an agent
// joining it with the token the server wrote, a wrong CA hash refused
// before anything is sent, and a two-replica deployment placed one per
// node.
func testClusterInContainers(t *testing.T, c *commandContainers) {
	docker := func(args ...string) string {
		t.Helper()
		out, err := c.docker(args...)
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(out)
	}
	run := func(name string, args ...string) {
		t.Helper()
		a := append([]string{"run"}, Privileged()...)
		a = append(a, "-d", "--name", name, "--network", "zlnet2", "-v", c.specs+":/specs:ro", Image)
		docker(append(a, args...)...)
		t.Cleanup(func() { _, _ = Docker(context.Background(), c.s, "rm", "-f", "-v", name) })
	}
	run("zl-s1", "serve", "--cluster-init", "--node-name", "s1")
	if err := WaitReady(c.ctx, c.s, "zl-s1", 90*time.Second); err != nil {
		t.Fatal(err)
	}
	ip := docker("inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", "zl-s1")
	var token string
	deadline := time.Now().Add(30 * time.Second)
	for token == "" && time.Now().Before(deadline) {
		out, err := c.docker("exec", "zl-s1", "cat", "/var/lib/zlayer/cluster/token.agent")
		if err == nil {
			token = strings.TrimSpace(out)
		} else {
			time.Sleep(200 * time.Millisecond)
		}
	}
	if !strings.HasPrefix(token, "ZL10") {
		t.Fatalf("no agent token from the first server: %q", token)
	}
	api := "https://" + ip + ":3669"

	// A token naming another CA: refused, and the joiner exits.
	wrong := "ZL10" + strings.Repeat("0", 64) + token[4+64:]
	out, err := c.docker(append(append([]string{"run", "--rm"}, Privileged()...), "--network", "zlnet2", Image,
		"join", "--api", api, "--token", wrong, "--node-name", "bad")...)
	if err == nil || !strings.Contains(out, "does not match") {
		t.Errorf("a join with another CA's hash: err=%v, want a refusal naming the CA mismatch\n%s", err, out)
	}

	run("zl-a1", "join", "--api", api, "--token", token, "--node-name", "a1", "--node-label", "disk=ssd")
	type node struct {
		Name, Role, State string
		Labels            map[string]string
	}
	var list struct{ Nodes []node }
	deadline = time.Now().Add(90 * time.Second)
	for {
		out, err := c.docker("exec", "zl-s1", "zlayer", "nodes", "-o", "json")
		ready := 0
		if err == nil && json.Unmarshal([]byte(out), &list) == nil {
			for _, n := range list.Nodes {
				if n.State == "ready" {
					ready++
				}
			}
		}
		if ready == 2 {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := c.docker("logs", "--tail", "30", "zl-a1")
			t.Fatalf("the agent never became a ready node: %v\n%s\nagent logs:\n%s", err, out, logs)
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, n := range list.Nodes {
		if n.Name == "a1" && (n.Role != "agent" || n.Labels["disk"] != "ssd") {
			t.Errorf("agent listed as %+v", n)
		}
	}

	// Two replicas, one per node; the image is loaded into each node (no
	// registry is reachable from the containers).
	for _, n := range []string{"zl-s1", "zl-a1"} {
		docker("exec", n, "zlayer", "image", "import", "/specs/busybox.tar")
	}
	spec := "version: v1\ndeployment: spread\nservices:\n  sleeper:\n    image: {name: busybox, pull_policy: never}\n" +
		"    command:\n      entrypoint: [/bin/sleep, \"3600\"]\n    scale: {replicas: 2}\n"
	if err := os.WriteFile(filepath.Join(c.specs, "spread.yaml"), []byte(spec), 0o644); err != nil {
		t.Fatal(err)
	}
	docker("exec", "zl-s1", "zlayer", "deploy", "/specs/spread.yaml")
	var reps []struct{ Node, State string }
	deadline = time.Now().Add(90 * time.Second)
	for {
		out, err := c.docker("exec", "zl-a1", "zlayer", "ps", "-o", "json")
		on := map[string]bool{}
		if err == nil && json.Unmarshal([]byte(out), &reps) == nil {
			for _, r := range reps {
				if r.State == "ready" {
					on[r.Node] = true
				}
			}
		}
		if on["s1"] && on["a1"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the two replicas never ran one per node (asked through the agent): %v\n%s", err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// testDeployAsCommand: deploy --spec FILE as the container's command. The
// node has no route to the harness registry, so the image is imported as
// soon as the node answers; the deploy, waiting for readiness, then
// completes.
func testDeployAsCommand(t *testing.T, c *commandContainers) {
	docker := c.docker
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	run := append([]string{"run"}, Privileged()...)
	run = append(run, "-d", "--name", "zl-deploy", "--network", "zlnet2",
		"-p", fmt.Sprintf("127.0.0.1:%d:80", port),
		"-v", c.specs+"/myspec.yaml:/spec.yaml:ro", "-v", c.specs+":/specs:ro",
		Image, "deploy", "--spec", "/spec.yaml")
	if out, err := docker(run...); err != nil {
		t.Fatal(err, out)
	}
	// The next step stops this container: it is removed with the story.
	c.cleanup(func() { _, _ = Docker(context.Background(), c.s, "rm", "-f", "-v", "zl-deploy") })
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := docker("exec", "zl-deploy", "zlayer", "image", "import", "/specs/busybox.tar")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			logs, _ := docker("logs", "zl-deploy")
			t.Fatalf("node in zl-deploy never took the import: %v\n%s\n%s", err, out, logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	if body := httpGet(t, url, 60*time.Second); !strings.Contains(body, Body) {
		logs, _ := docker("logs", "zl-deploy")
		t.Fatalf("deploy-as-command container answered %q\n%s", body, logs)
	}
	if out, _ := docker("inspect", "-f", "{{.State.Running}}", "zl-deploy"); strings.TrimSpace(out) != "true" {
		t.Errorf("the container stopped after its deploy: %s", out)
	}

	// The deploy command prints the ready table when it is done.
	deadline = time.Now().Add(60 * time.Second)
	for {
		logs, _ := docker("logs", "zl-deploy")
		if regexp.MustCompile(`httpd\s+1/1`).MatchString(logs) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deploy as the command never reported ready:\n%s", logs)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testDockerStop: docker stop: SIGTERM reaches serve through PID 1; serve
// stops containerd and exits 0 well before Docker's 10 s SIGKILL.
func testDockerStop(t *testing.T, c *commandContainers) {
	docker := c.docker
	t0 := time.Now()
	if out, err := docker("stop", "zl-deploy"); err != nil {
		t.Fatal(err, out)
	}
	took := time.Since(t0)
	code, _ := docker("inspect", "-f", "{{.State.ExitCode}}", "zl-deploy")
	if strings.TrimSpace(code) != "0" || took > 9*time.Second {
		logs, _ := docker("logs", "--tail", "20", "zl-deploy")
		t.Errorf("docker stop: exit code %s after %v, want 0 well within 10s\n%s", strings.TrimSpace(code), took, logs)
	}
	t.Logf("docker stop took %v", took)
}

// testInvalidSpecAsCommand: an invalid spec as the command: the container
// exits non-zero and names the file and line.
func testInvalidSpecAsCommand(t *testing.T, c *commandContainers) {
	bad := "version: v1\ndeployment: bad\nservices:\n  x:\n    image: {name: busybox}\n    replicas_typo: 3\n"
	if err := os.WriteFile(filepath.Join(c.specs, "bad.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := c.docker(append(append([]string{"run", "--rm"}, Privileged()...), "-v", c.specs+":/specs:ro", Image, "deploy", "--spec", "/specs/bad.yaml")...)
	if err == nil || !strings.Contains(out, "/specs/bad.yaml:6") {
		t.Errorf("deploy of an invalid spec as the command: err=%v, want a failure naming /specs/bad.yaml:6\n%s", err, out)
	}
}

func httpGet(t *testing.T, url string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return string(b)
			}
			last = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		} else {
			last = err
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("GET %s: no answer within %v: %v", url, timeout, last)
	return ""
}

// bridgedPort is the ingress port of bridgedSpec.
const bridgedPort = 8081

// bridgedSpec is two bridge-network replicas behind a public endpoint on
// the ingress, each answering its hostname (its container id).
var bridgedSpec = fmt.Sprintf(`version: v1
deployment: bridged
services:
  web:
    image: {name: docker.io/library/busybox:latest, pull_policy: never}
    network_mode: bridge
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 8080 -h /www"]
    endpoints:
      - {name: http, protocol: http, port: %d, target_port: 8080, expose: public}
    scale: {replicas: 2}
    restart_policy: {kind: always, delay: 500ms}
    health: {interval: 500ms, check: {type: http, port: 8080, path: /}}
`, bridgedPort)

// answering polls url until n different bodies have answered and returns
// them.
func answering(t *testing.T, url string, n int, timeout time.Duration) map[string]bool {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.Now().Add(timeout)
	for len(seen) < n && time.Now().Before(deadline) {
		resp, err := (&http.Client{Timeout: 2 * time.Second}).Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				seen[strings.TrimSpace(string(b))] = true
				continue
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(seen) < n {
		t.Fatalf("GET %s: %d of %d replicas answered within %v: %v", url, len(seen), n, timeout, seen)
	}
	return seen
}

func sameSet(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range a {
		if !b[k] {
			return false
		}
	}
	return true
}

func firstReplica(ctrLs, prefix string) string {
	for _, l := range strings.Split(ctrLs, "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], prefix) {
			return f[0]
		}
	}
	return ""
}

// cgroupDirsOf lists the host cgroup folders named for a container id.
func cgroupDirsOf(id string) []string {
	var dirs []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	roots = append(roots, "/sys/fs/cgroup")
	for _, r := range roots {
		for _, pat := range []string{"docker/" + id + "*", "system.slice/docker-" + id + "*"} {
			m, _ := filepath.Glob(filepath.Join(r, pat))
			dirs = append(dirs, m...)
		}
	}
	return dirs
}

func topLevelCgroups(t *testing.T) []string {
	var names []string
	roots, _ := filepath.Glob("/sys/fs/cgroup/*")
	for _, r := range append(roots, "/sys/fs/cgroup") {
		ents, _ := os.ReadDir(r)
		for _, e := range ents {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	return names
}

// without is list less the entries in drop.
func without(list, drop []string) []string {
	var out []string
	for _, e := range list {
		if !contains(drop, e) {
			out = append(out, e)
		}
	}
	return out
}

func mountsMentioning(t *testing.T, s string) []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 4 && strings.Contains(f[4], s) {
			out = append(out, f[4])
		}
	}
	return out
}

func hostInterfaces(t *testing.T) []string {
	ifs, err := net.Interfaces()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, i := range ifs {
		names = append(names, i.Name)
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

var fingerprintLog = regexp.MustCompile(`API TLS CA fingerprint.* fingerprint=(sha256:[0-9a-f]{64})`)

// hostCLI checks what docker/README.md shows for driving the node from the
// host: the CA copied out with docker exec verifies the TLS API, and the
// fingerprint from docker logs, given once, is remembered. It returns a
// runner of host CLI commands using the remembered fingerprint and the
// read-only token, failing the test it is given.
func hostCLI(ctx context.Context, t *testing.T, s *stack.Stack, docker func(...string) string, logs string, apiPort int) func(t *testing.T, args ...string) string {
	t.Helper()
	caFile := filepath.Join(s.Dir, "node-ca.crt")
	if err := os.WriteFile(caFile, []byte(docker("exec", "zlayer", "cat", "/var/lib/zlayer/tls/ca.crt")), 0o644); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(docker("exec", "zlayer", "cat", "/var/lib/zlayer/token.read"))
	m := fingerprintLog.FindStringSubmatch(logs)
	if m == nil {
		t.Fatalf("docker logs lacks the API TLS CA fingerprint:\n%s", logs)
	}
	if fileFP := strings.TrimSpace(docker("exec", "zlayer", "cat", "/var/lib/zlayer/tls/ca.fingerprint")); fileFP != m[1] {
		t.Errorf("logged fingerprint %s, ca.fingerprint %s", m[1], fileFP)
	}
	known := filepath.Join(s.Dir, "known_nodes")
	host := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	run := func(args ...string) (string, error) {
		args = append(args, "--host", host, "--token", token, "--known-nodes", known)
		return Run(ctx, s, s.Dir, filepath.Join(s.BinDir, "zlayer"), args...)
	}
	if out, err := run("status", "--ca-file", caFile); err != nil || !strings.Contains(out, "no deployments") {
		t.Errorf("host CLI with the CA file: %v %s", err, out)
	}
	if out, err := run("status"); err == nil || !strings.Contains(out, m[1]) {
		t.Errorf("host CLI trusting nothing: %v %s", err, out)
	}
	if out, err := run("status", "--ca-fingerprint", m[1]); err != nil {
		t.Errorf("host CLI with the fingerprint: %v %s", err, out)
	}
	return func(t *testing.T, args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Errorf("host CLI: %v", err)
		}
		return out
	}
}
