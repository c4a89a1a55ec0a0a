// Package devcluster makes a ZLayer cluster of zlayer-node containers on one
// Docker network, as `kind create cluster` does with Kubernetes nodes: the
// first container serves with --cluster-init, the others join it by its
// container name. It drives the docker CLI (whatever DOCKER_HOST or the
// current context points at) rather than the Engine API, so that what it
// does is what docker/README.md shows by hand.
package devcluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/zlayer/zlayer/noderuntime/apitypes"
)

// Label marks every container and the network of a dev cluster with its
// name, so that Down finds exactly them.
const Label = "zlayer.dev-cluster"

// APIPort is the node API's port inside a node container.
const APIPort = 3669

// dataDir is the node's data dir in the image (a volume).
const dataDir = "/var/lib/zlayer"

// Options say what cluster Up makes.
type Options struct {
	Name    string // prefix of the containers (NAME-1...) and the network's name
	Nodes   int    // containers in all
	Servers int    // of them servers (the first always is); the rest are agents
	Image   string // the zlayer-node image
	// PortBase, when not 0, fixes the host ports: the k-th published port
	// of node i (1-based; k 0 is the API) is PortBase + 100*k + i - 1.
	// With 0 Docker picks free ones.
	PortBase int
	Publish  []int  // node ports published besides the API (the ingress's)
	Address  string // host address the ports are published on
	Runtime  string // docker run --runtime, "" for dockerd's default
	// Dir receives ca.crt, token and env (the API's trust, the admin
	// token and a line of shell setting the CLI's variables).
	Dir     string
	Timeout time.Duration // for the whole cluster to be ready; 0 for no limit
	Docker  string        // docker CLI, "" for "docker" on PATH
	Log     io.Writer     // progress lines, nil for none
}

// Node is one node container of a cluster.
type Node struct {
	Name  string         // container name, host name and node name
	Role  string         // server or agent
	Ports map[int]string // node port -> host HOST:PORT it is published on
}

// Cluster is what Up made.
type Cluster struct {
	Name      string
	Nodes     []Node
	APIURL    string // the first node's API through its published port
	CAFile    string // the cluster CA, which the API's certificate chains to
	TokenFile string // the cluster's admin token
	EnvFile   string // `export ZLAYER_HOST=... ZLAYER_TOKEN_FILE=... ZLAYER_CA_FILE=...`
}

// Env is the shell line that points the zlayer CLI at the cluster.
func (c *Cluster) Env() string {
	return fmt.Sprintf("export ZLAYER_HOST=%s ZLAYER_TOKEN_FILE=%s ZLAYER_CA_FILE=%s",
		c.APIURL, shellQuote(c.TokenFile), shellQuote(c.CAFile))
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func (o *Options) check() error {
	switch {
	case !validName.MatchString(o.Name):
		return fmt.Errorf("cluster name %q: letters, digits, '_', '.' and '-' only, not first", o.Name)
	case o.Nodes < 1:
		return fmt.Errorf("--nodes %d: at least 1", o.Nodes)
	case o.Servers < 1 || o.Servers > o.Nodes:
		return fmt.Errorf("--servers %d: between 1 and --nodes (%d)", o.Servers, o.Nodes)
	case o.PortBase < 0 || o.PortBase > 65535:
		return fmt.Errorf("--port-base %d: not a port", o.PortBase)
	case o.PortBase > 0 && o.Nodes > 100:
		return fmt.Errorf("--port-base gives each node one port in a block of 100: at most 100 nodes, not %d", o.Nodes)
	case o.PortBase > 0 && o.PortBase+100*len(o.Publish)+o.Nodes-1 > 65535:
		return fmt.Errorf("--port-base %d: the last node's ports would pass 65535", o.PortBase)
	case o.Dir == "":
		return errors.New("no folder for the cluster's CA and token")
	}
	for _, p := range o.Publish {
		if p < 1 || p > 65535 || p == APIPort {
			return fmt.Errorf("--publish %d: a port other than the API's %d", p, APIPort)
		}
	}
	return nil
}

// nodeName is the container (and host, and node) name of node i, 1-based.
func nodeName(cluster string, i int) string { return fmt.Sprintf("%s-%d", cluster, i) }

// hostPort is the fixed host port of the k-th published port of node i, or
// "" to let Docker choose.
func (o *Options) hostPort(k, i int) string {
	if o.PortBase == 0 {
		return ""
	}
	return strconv.Itoa(o.PortBase + 100*k + i - 1)
}

// Up makes the cluster: the network, the first server, the joiners (servers
// one at a time, since etcd admits one member change at a time, then the
// agents together), and waits for every node to be ready. A failure leaves
// what was made for Down, and names the container whose logs say why.
func Up(ctx context.Context, o Options) (*Cluster, error) {
	if err := o.check(); err != nil {
		return nil, err
	}
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.Timeout)
		defer cancel()
	}
	d := docker{bin: o.Docker}
	if ids, err := d.labelled(ctx, "container", o.Name); err != nil {
		return nil, err
	} else if len(ids) > 0 {
		return nil, fmt.Errorf("a dev cluster named %q exists (%d containers): 'zlayer dev cluster down --name %s' first", o.Name, len(ids), o.Name)
	}
	logf := func(format string, args ...any) {
		if o.Log != nil {
			fmt.Fprintf(o.Log, format+"\n", args...)
		}
	}
	if _, err := d.run(ctx, "network", "create", "--label", Label+"="+o.Name, o.Name); err != nil {
		return nil, err
	}
	logf("network %s", o.Name)

	first := nodeName(o.Name, 1)
	if err := o.runNode(ctx, d, 1, "serve", "--cluster-init"); err != nil {
		return nil, err
	}
	tokens, err := readTokens(ctx, d, first)
	if err != nil {
		return nil, err
	}
	if err := waitNodes(ctx, d, first, 1); err != nil {
		return nil, err
	}
	logf("%s: first server", first)
	api := fmt.Sprintf("https://%s:%d", first, APIPort)
	for i := 2; i <= o.Servers; i++ {
		if err := o.runNode(ctx, d, i, "join", "--api", api, "--token", tokens.server, "--server"); err != nil {
			return nil, err
		}
		if err := waitNodes(ctx, d, first, i); err != nil {
			return nil, err
		}
		logf("%s: server", nodeName(o.Name, i))
	}
	for i := o.Servers + 1; i <= o.Nodes; i++ {
		if err := o.runNode(ctx, d, i, "join", "--api", api, "--token", tokens.agent); err != nil {
			return nil, err
		}
	}
	if err := waitNodes(ctx, d, first, o.Nodes); err != nil {
		return nil, err
	}
	for i := o.Servers + 1; i <= o.Nodes; i++ {
		logf("%s: agent", nodeName(o.Name, i))
	}
	return o.describe(ctx, d)
}

// runNode starts node i with the image's command args.
func (o *Options) runNode(ctx context.Context, d docker, i int, args ...string) error {
	name := nodeName(o.Name, i)
	run := []string{"run", "-d", "--privileged", "--name", name, "--hostname", name,
		"--network", o.Name, "--label", Label + "=" + o.Name}
	if o.Runtime != "" {
		run = append(run, "--runtime", o.Runtime)
	}
	for k, p := range append([]int{APIPort}, o.Publish...) {
		run = append(run, "-p", o.publishArg(k, i, p))
	}
	run = append(run, o.Image)
	if _, err := d.run(ctx, append(run, args...)...); err != nil {
		return fmt.Errorf("start %s: %w", name, err)
	}
	return nil
}

// publishArg is docker run's -p for the k-th published port p of node i.
func (o *Options) publishArg(k, i, p int) string {
	if o.Address == "" {
		if hp := o.hostPort(k, i); hp != "" {
			return fmt.Sprintf("%s:%d", hp, p)
		}
		return strconv.Itoa(p)
	}
	return fmt.Sprintf("%s:%s:%d", o.Address, o.hostPort(k, i), p)
}

type joinTokens struct{ server, agent string }

// readTokens waits for the first server to write its join tokens.
func readTokens(ctx context.Context, d docker, first string) (joinTokens, error) {
	var t joinTokens
	err := poll(ctx, d, first, "its join tokens", func() error {
		var err error
		if t.server, err = d.run(ctx, "exec", first, "cat", dataDir+"/cluster/token.server"); err != nil {
			return err
		}
		t.agent, err = d.run(ctx, "exec", first, "cat", dataDir+"/cluster/token.agent")
		return err
	})
	t.server, t.agent = strings.TrimSpace(t.server), strings.TrimSpace(t.agent)
	return t, err
}

// waitNodes waits until the first server lists n ready nodes.
func waitNodes(ctx context.Context, d docker, first string, n int) error {
	return poll(ctx, d, first, fmt.Sprintf("%d ready nodes", n), func() error {
		out, err := d.run(ctx, "exec", first, "zlayer", "nodes", "-o", "json")
		if err != nil {
			return err
		}
		var list apitypes.NodeList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			return fmt.Errorf("zlayer nodes -o json: %w", err)
		}
		var ready []string
		for _, node := range list.Nodes {
			if node.State == apitypes.NodeReady {
				ready = append(ready, node.Name)
			}
		}
		if len(ready) < n {
			return fmt.Errorf("%d of %d nodes ready (%s)", len(ready), n, strings.Join(ready, ", "))
		}
		return nil
	})
}

// poll retries f until it succeeds or ctx ends; then the error names what
// was awaited, f's last error and the tail of the container's logs.
func poll(ctx context.Context, d docker, container, what string, f func() error) error {
	for {
		err := f()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			logs, _ := d.run(context.Background(), "logs", "--tail", "20", container)
			return fmt.Errorf("%s: no %s: %v\nlast logs of %s:\n%s", container, what, err, container, logs)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// describe reads the published ports back from Docker and writes the CA,
// the admin token and the env line into o.Dir.
func (o *Options) describe(ctx context.Context, d docker) (*Cluster, error) {
	c := &Cluster{Name: o.Name}
	for i := 1; i <= o.Nodes; i++ {
		n := Node{Name: nodeName(o.Name, i), Role: "agent", Ports: map[int]string{}}
		if i <= o.Servers {
			n.Role = "server"
		}
		for _, p := range append([]int{APIPort}, o.Publish...) {
			out, err := d.run(ctx, "port", n.Name, fmt.Sprintf("%d/tcp", p))
			if err != nil {
				return nil, err
			}
			// One line per address family; the first is the one asked for.
			n.Ports[p] = strings.TrimSpace(strings.SplitN(strings.TrimSpace(out), "\n", 2)[0])
		}
		c.Nodes = append(c.Nodes, n)
	}
	c.APIURL = "https://" + reachable(c.Nodes[0].Ports[APIPort])
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("dev cluster folder: %w", err)
	}
	first := c.Nodes[0].Name
	c.CAFile, c.TokenFile, c.EnvFile = filepath.Join(o.Dir, "ca.crt"), filepath.Join(o.Dir, "token"), filepath.Join(o.Dir, "env")
	for _, f := range []struct{ from, to string }{
		{dataDir + "/tls/ca.crt", c.CAFile},
		{dataDir + "/token", c.TokenFile},
	} {
		out, err := d.run(ctx, "exec", first, "cat", f.from)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(f.to, []byte(out), 0o600); err != nil {
			return nil, fmt.Errorf("dev cluster folder: %w", err)
		}
	}
	if err := os.WriteFile(c.EnvFile, []byte(c.Env()+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("dev cluster folder: %w", err)
	}
	return c, nil
}

// reachable turns a published HOST:PORT on every address into one on the
// loopback, which the node's API certificate names.
func reachable(hostPort string) string {
	for _, all := range []string{"0.0.0.0:", "[::]:", ":::"} {
		if port, ok := strings.CutPrefix(hostPort, all); ok {
			return "127.0.0.1:" + port
		}
	}
	return hostPort
}

// Down removes the cluster's containers with their volumes, its network and
// the files Up wrote into dir. Removing what is already gone is no error.
func Down(ctx context.Context, name, dir, dockerBin string) error {
	d := docker{bin: dockerBin}
	ids, err := d.labelled(ctx, "container", name)
	if err != nil {
		return err
	}
	if len(ids) > 0 {
		if _, err := d.run(ctx, append([]string{"rm", "-f", "-v"}, ids...)...); err != nil {
			return err
		}
	}
	nets, err := d.labelled(ctx, "network", name)
	if err != nil {
		return err
	}
	if len(nets) > 0 {
		if _, err := d.run(ctx, append([]string{"network", "rm"}, nets...)...); err != nil {
			return err
		}
	}
	for _, f := range []string{"ca.crt", "token", "env"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("dev cluster folder: %w", err)
		}
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("dev cluster folder: %w", err)
	}
	return nil
}

// docker runs the docker CLI.
type docker struct{ bin string }

// run returns the command's stdout; its error carries the command and
// stderr.
func (d docker) run(ctx context.Context, args ...string) (string, error) {
	bin := d.bin
	if bin == "" {
		bin = "docker"
	}
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(redact(args), " "), err, strings.TrimSpace(errb.String()))
	}
	return out.String(), nil
}

// labelled lists the ids of the containers or networks of cluster name.
func (d docker) labelled(ctx context.Context, kind, name string) ([]string, error) {
	args := []string{"ps", "-a", "-q"}
	if kind == "network" {
		args = []string{"network", "ls", "-q"}
	}
	out, err := d.run(ctx, append(args, "--filter", "label="+Label+"="+name)...)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// redact hides a join token's value in an error message: errors end up in
// logs, and the token admits nodes.
func redact(args []string) []string {
	out := append([]string(nil), args...)
	for i := range out {
		if i > 0 && out[i-1] == "--token" {
			out[i] = "***"
		}
	}
	return out
}

// shellQuote quotes p for a POSIX shell when it needs it.
func shellQuote(p string) string {
	if regexp.MustCompile(`^[a-zA-Z0-9_./:@%+=,-]+$`).MatchString(p) {
		return p
	}
	return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'"
}
