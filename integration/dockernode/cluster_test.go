package dockernode

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// devCluster is a three-node cluster made by `zlayer dev cluster up` in the
// harness's dockerd, and what its steps hand on.
type devCluster struct {
	ctx   context.Context
	s     *stack.Stack
	name  string // the cluster's: its network, and its nodes NAME-1..3
	dir   string // the helper's --dir: ca.crt, token, env
	specs string // a folder mounted nowhere: the host CLI reads specs itself

	// What the host had before the cluster, for the leak check.
	dockerdMounts []string
	volumes       string
	// What the cluster made on the host, for the leak check.
	ids    []string // the node containers'
	bridge string   // the network's host bridge
	veths  []string // the host ends of the nodes' links on it
	subnet string   // the network's

	ingress    map[string]string // node -> its published ingress URL
	replicaIDs map[string]bool   // the service's six, once spread
}

// devClusterNodes are the three node names, in order.
func (c *devCluster) nodes() []string {
	return []string{c.name + "-1", c.name + "-2", c.name + "-3"}
}

func (c *devCluster) docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := Docker(c.ctx, c.s, args...)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(out)
}

// zlayer runs the host's zlayer CLI with the env line the helper wrote, as a
// user sourcing it would.
func (c *devCluster) zlayer(args ...string) (string, error) {
	line := `source "$0" && exec zlayer "$@"`
	cmd := c.s.Command(c.ctx, "bash", append([]string{"-c", line, filepath.Join(c.dir, "env")}, args...)...)
	cmd.Env = append(cmd.Env, "ZLAYER_KNOWN_NODES="+filepath.Join(c.dir, "known_nodes"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("zlayer %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

var devClusterSteps = []scenario.Step[*devCluster]{
	{Name: "zlayer dev cluster up: a first server, a server and an agent joining it, the host CLI through the env line", Run: testDevClusterUp},
	{Name: "six bridge replicas spread 2/2/2, answering through every node's port", Run: testDevClusterSpread},
	{Name: "docker kill of a node: its replicas move, the load through a survivor holds", Run: testDevClusterFailover},
	{Name: "zlayer dev cluster down (docker rm -f) leaves nothing on the host", Run: testDevClusterDown},
}

// threeNodeCluster is the multi-node ZLayer in Docker: three
// zlayer-node containers on one user-defined network, made by the one-line
// helper, a public bridge service spread over them, a node killed under
// load, and the removal checked for leftovers.
func threeNodeCluster(ctx context.Context, t *testing.T, s *stack.Stack) {
	c := &devCluster{ctx: ctx, s: s, name: "zlc", dir: filepath.Join(s.Dir, "devcluster"), specs: filepath.Join(s.Dir, "specs3")}
	if err := PrepareSpecs(ctx, s, c.specs); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.specs, "six.yaml"), []byte(sixSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	c.dockerdMounts = mountsMentioning(t, filepath.Join(s.Dir, "dkd"))
	c.volumes = c.docker(t, "volume", "ls", "-q")
	t.Cleanup(func() {
		_, _ = Run(context.Background(), s, s.Dir, filepath.Join(s.BinDir, "zlayer"), "dev", "cluster", "down", "--name", c.name, "--dir", c.dir)
	})
	scenario.Run(t, c, devClusterSteps)
}

func testDevClusterUp(t *testing.T, c *devCluster) {
	args := []string{"dev", "cluster", "up", "--nodes", "3", "--servers", "2", "--name", c.name,
		"--image", Image, "--publish", fmt.Sprint(bridgedPort), "--dir", c.dir, "--timeout", "4m"}
	if len(stack.MissingPrivilegedCaps()) > 0 {
		args = append(args, "--runtime", stack.PrivilegedRuntime)
	}
	t0 := time.Now()
	out, err := Run(c.ctx, c.s, c.s.Dir, filepath.Join(c.s.BinDir, "zlayer"), args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("dev cluster up took %v:\n%s", time.Since(t0).Round(time.Millisecond), out)
	for _, want := range []string{"export ZLAYER_HOST=https://127.0.0.1:", "ZLAYER_TOKEN_FILE=" + filepath.Join(c.dir, "token"), c.name + "-3  agent"} {
		if !strings.Contains(out, want) {
			t.Errorf("dev cluster up's output lacks %q", want)
		}
	}

	// The nodes as the host CLI sees them through the published API.
	out, err = c.zlayer("nodes", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list apitypes.NodeList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("zlayer nodes -o json: %v\n%s", err, out)
	}
	roles := map[string]string{}
	for _, n := range list.Nodes {
		if n.State != apitypes.NodeReady {
			t.Errorf("node %s is %s", n.Name, n.State)
		}
		roles[n.Name] = n.Role
	}
	want := map[string]string{c.name + "-1": "server", c.name + "-2": "server", c.name + "-3": "agent"}
	if fmt.Sprint(roles) != fmt.Sprint(want) {
		t.Fatalf("nodes: %v, want %v", roles, want)
	}

	// The form: the first node inits, the others join it by its
	// container name on the user-defined network.
	join := "join --api https://" + c.name + "-1:3669 --token ZL10"
	for n, want := range map[string][2]string{ // the command's start and end
		c.name + "-1": {"serve --cluster-init", "--cluster-init"},
		c.name + "-2": {join, " --server"},
		c.name + "-3": {join, ""},
	} {
		cmd := c.docker(t, "inspect", "-f", `{{join .Config.Cmd " "}}`, n)
		if !strings.HasPrefix(cmd, want[0]) || !strings.HasSuffix(cmd, want[1]) || (want[1] == "" && strings.Contains(cmd, "--server")) {
			t.Errorf("%s runs %.60s..., want %s...%s", n, cmd, want[0], want[1])
		}
	}

	// What the cluster put on the host, for the last step to find gone.
	for _, n := range c.nodes() {
		c.ids = append(c.ids, c.docker(t, "inspect", "-f", "{{.Id}}", n))
		port := c.docker(t, "port", n, fmt.Sprintf("%d/tcp", bridgedPort))
		if c.ingress == nil {
			c.ingress = map[string]string{}
		}
		c.ingress[n] = "http://" + strings.SplitN(port, "\n", 2)[0] + "/"
	}
	netID := c.docker(t, "network", "inspect", "-f", "{{.Id}}", c.name)
	c.bridge = "br-" + netID[:12]
	c.subnet = c.docker(t, "network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}}{{end}}", c.name)
	ents, err := os.ReadDir(filepath.Join("/sys/class/net", c.bridge, "brif"))
	if err != nil {
		t.Fatalf("the cluster network's bridge: %v", err)
	}
	for _, e := range ents {
		c.veths = append(c.veths, e.Name())
	}
	if len(c.veths) != 3 {
		t.Errorf("links on %s: %v, want the three nodes'", c.bridge, c.veths)
	}
}

// sixSpec is six bridge replicas behind a public endpoint, each answering
// its own host name.
var sixSpec = strings.Replace(strings.Replace(bridgedSpec, "deployment: bridged", "deployment: six", 1),
	"scale: {replicas: 2}", "scale: {replicas: 6}", 1)

func testDevClusterSpread(t *testing.T, c *devCluster) {
	// Images are per node (no registry is reachable from the nodes).
	for _, n := range c.nodes() {
		if _, err := Docker(c.ctx, c.s, "cp", filepath.Join(c.specs, "busybox.tar"), n+":/tmp/busybox.tar"); err != nil {
			t.Fatal(err)
		}
		c.docker(t, "exec", n, "zlayer", "image", "import", "/tmp/busybox.tar")
	}
	if out, err := c.zlayer("deploy", "--timeout", "3m", filepath.Join(c.specs, "six.yaml")); err != nil {
		t.Fatal(err, out)
	}
	per := c.readyPerNode(t, func(per map[string]int) bool { return len(per) == 3 }, 60*time.Second)
	for _, n := range c.nodes() {
		if per[n] != 2 {
			t.Errorf("ready replicas per node: %v, want 2 on each", per)
			break
		}
	}
	c.crossNode(t)
	// Each node's published port reaches the service: two different
	// replicas at least (its own two carry it even without ingress across
	// nodes).
	for _, n := range c.nodes() {
		seen := answering(t, c.ingress[n], 2, 60*time.Second)
		for id := range seen {
			if !c.replicaIDs[id] {
				t.Errorf("through %s's port %q answered, not a replica of the service %v", n, id, c.replicaIDs)
			}
		}
	}
}

// readyPerNode polls the cluster's replica list until done accepts the
// count of ready replicas per node and six are ready in all, and returns it;
// the six ids go to c.replicaIDs.
func (c *devCluster) readyPerNode(t *testing.T, done func(map[string]int) bool, timeout time.Duration) map[string]int {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := c.zlayer("ps", "-o", "json")
		var reps []apitypes.ReplicaStatus
		per, total, ids := map[string]int{}, 0, map[string]bool{}
		if err == nil && json.Unmarshal([]byte(out), &reps) == nil {
			for _, r := range reps {
				if r.Deployment == "six" && r.State == apitypes.ReplicaReady {
					per[r.Node]++
					total++
					ids[r.ID] = true
				}
			}
			if total == 6 && done(per) {
				c.replicaIDs = ids
				return per
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("ready replicas per node never settled within %v: %v (err %v)\n%s", timeout, per, err, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// loadCount is a load loop's tally.
type loadCount struct {
	mu       sync.Mutex
	ok, fail int
	lastErr  string
}

func (l *loadCount) take() (ok, fail int, lastErr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	ok, fail, lastErr = l.ok, l.fail, l.lastErr
	l.ok, l.fail, l.lastErr = 0, 0, ""
	return ok, fail, lastErr
}

// load sends requests to url one after another until stop closes, each on
// a new connection (so every one is routed afresh by the node's ingress).
func load(url string, stop <-chan struct{}, l *loadCount, wg *sync.WaitGroup) {
	defer wg.Done()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %d", resp.StatusCode)
			}
		}
		l.mu.Lock()
		if err == nil {
			l.ok++
		} else {
			l.fail++
			l.lastErr = err.Error()
		}
		l.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
}

func testDevClusterFailover(t *testing.T, c *devCluster) {
	nodes := c.nodes()
	survivor, victim := nodes[0], nodes[2]
	var l loadCount
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Add(1)
	go load(c.ingress[survivor], stop, &l, &wg)
	defer func() { close(stop); wg.Wait() }()
	time.Sleep(time.Second) // the loop is flowing before the kill
	if ok, fail, last := l.take(); ok == 0 || fail > 0 {
		t.Fatalf("before the kill: %d ok, %d failed (%s)", ok, fail, last)
	}

	t0 := time.Now()
	c.docker(t, "kill", victim)
	per := c.readyPerNode(t, func(per map[string]int) bool { return per[victim] == 0 }, 90*time.Second)
	moved := time.Since(t0)
	ok, fail, last := l.take()
	t.Logf("%s killed: six ready on %v after %v; load through %s meanwhile: %d ok, %d failed (last: %s)",
		victim, per, moved.Round(time.Millisecond), survivor, ok, fail, last)
	if ok+fail == 0 || float64(ok) < 0.99*float64(ok+fail) {
		t.Errorf("during the failover %d of %d requests through %s succeeded, want ≥ 99 %% (last error: %s)", ok, ok+fail, survivor, last)
	}
	if per[nodes[0]]+per[nodes[1]] != 6 {
		t.Errorf("after the kill the replicas run on %v, want all six on %s and %s", per, nodes[0], nodes[1])
	}

	// After: every request succeeds, through both survivors.
	time.Sleep(3 * time.Second)
	ok, fail, last = l.take()
	if ok == 0 || fail > 0 {
		t.Errorf("after the failover through %s: %d ok, %d failed (last: %s), want all", survivor, ok, fail, last)
	}
	seen := answering(t, c.ingress[nodes[1]], 3, 30*time.Second)
	for id := range seen {
		if !c.replicaIDs[id] {
			t.Errorf("after the failover %s's port answered %q, not one of the six ready replicas %v", nodes[1], id, c.replicaIDs)
		}
	}
	t.Logf("after the failover: %d ok through %s; %d replicas answered through %s", ok, survivor, len(seen), nodes[1])
	out, err := c.zlayer("nodes", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list apitypes.NodeList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	for _, n := range list.Nodes {
		if n.Name == victim && n.State == apitypes.NodeReady {
			t.Errorf("the killed %s is still listed ready", victim)
		}
	}
}

func testDevClusterDown(t *testing.T, c *devCluster) {
	if len(c.ids) != 3 {
		t.Fatalf("the earlier steps did not record the nodes: %v", c.ids)
	}
	// The killed node has no cgroup left already; the running ones must
	// have one, or the check after down would prove nothing.
	for _, id := range c.ids {
		if c.docker(t, "inspect", "-f", "{{.State.Running}}", id) == "true" && len(cgroupDirsOf(id)) == 0 {
			t.Errorf("no host cgroup of running container %s: the cgroup check below would prove nothing", id[:12])
		}
	}
	if out, err := Run(c.ctx, c.s, c.s.Dir, filepath.Join(c.s.BinDir, "zlayer"), "dev", "cluster", "down", "--name", c.name, "--dir", c.dir); err != nil {
		t.Fatal(err, out)
	}
	if out := c.docker(t, "ps", "-a", "-q", "--filter", "label=zlayer.dev-cluster="+c.name); out != "" {
		t.Errorf("containers left: %s", out)
	}
	if out := c.docker(t, "network", "ls", "-q", "--filter", "name="+c.name); out != "" {
		t.Errorf("network left: %s", out)
	}
	if out := c.docker(t, "volume", "ls", "-q"); out != c.volumes {
		t.Errorf("volumes after down:\n%s\nbefore:\n%s", out, c.volumes)
	}
	for _, id := range c.ids {
		if dirs := cgroupDirsOf(id); len(dirs) > 0 {
			t.Errorf("cgroups left: %v", dirs)
		}
	}
	if m := without(mountsMentioning(t, filepath.Join(c.s.Dir, "dkd")), c.dockerdMounts); len(m) > 0 {
		t.Errorf("mounts left under dockerd's roots: %v", m)
	}
	if m := mountsMentioning(t, "/var/lib/zlayer"); len(m) > 0 {
		t.Errorf("nested mounts escaped to the host: %v", m)
	}
	for _, name := range append([]string{c.bridge}, c.veths...) {
		if _, err := os.Stat(filepath.Join("/sys/class/net", name)); err == nil {
			t.Errorf("host interface %s left behind", name)
		}
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("the helper's folder %s is still there (%v)", c.dir, err)
	}
	// The nodes' firewall rules live in their own network namespaces, and
	// this dockerd adds none (--iptables=false): no host rule may name the
	// cluster's bridge or subnet.
	for _, save := range []string{"iptables-legacy-save", "iptables-nft-save"} {
		out, err := Run(c.ctx, c.s, c.s.Dir, save)
		if err != nil {
			t.Logf("%s: %v", save, err)
			continue
		}
		var hits []string
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, c.bridge) || (c.subnet != "" && strings.Contains(line, c.subnet)) {
				hits = append(hits, line)
			}
		}
		if len(hits) > 0 {
			t.Errorf("%s: host rules naming the cluster's network left: %v", save, hits)
		}
	}
}

// crossNode: a replica on the first node reaches a replica on each other
// node at its bridge address, routed between the node containers over the
// Docker network (host-gw), and sees it answer.
func (c *devCluster) crossNode(t *testing.T) {
	t.Helper()
	out, err := c.zlayer("ps", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var reps []apitypes.ReplicaStatus
	if err := json.Unmarshal([]byte(out), &reps); err != nil {
		t.Fatalf("zlayer ps -o json: %v\n%s", err, out)
	}
	nodes := c.nodes()
	from := 0                                           // a replica number on node 1
	to, ids := map[string]string{}, map[string]string{} // node -> a replica's address, and its id
	for _, r := range reps {
		if r.Deployment != "six" {
			continue
		}
		if r.Node == nodes[0] {
			from = r.Replica
		} else if r.Address != "" {
			to[r.Node], ids[r.Node] = r.Address, r.ID
		}
	}
	if from == 0 || len(to) != 2 {
		t.Fatalf("no replica on %s or no addresses of the others' (%v):\n%s", nodes[0], to, out)
	}
	for node, addr := range to {
		// nc, not wget: the static busybox's wget crashes in glibc's
		// resolver even for an IP.
		get := fmt.Sprintf(`printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 %s 8080`, addr)
		var answer string
		deadline := time.Now().Add(20 * time.Second)
		for {
			answer, err = c.zlayer("exec", "six/web", "--replica", fmt.Sprint(from), "--", "sh", "-c", get)
			if err == nil && strings.HasPrefix(answer, "HTTP/1.1 200") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("replica %d on %s cannot reach %s:8080 on %s: %v\n%s", from, nodes[0], addr, node, err, answer)
			}
			time.Sleep(500 * time.Millisecond)
		}
		// The replica answers its host name, which is its id.
		lines := strings.Split(strings.TrimSpace(answer), "\n")
		if got := strings.TrimSpace(lines[len(lines)-1]); got != ids[node] {
			t.Errorf("%s:8080 answered %q, want replica %s on %s", addr, got, ids[node], node)
		}
	}
}
