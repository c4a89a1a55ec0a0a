// Package cluster runs ZLayer nodes, each in its own network namespace on a
// test bridge (integration/netns), for the multi-node integration tests and
// benchmarks: every node is the real `zlayer serve` (or `zlayer join`) with
// its own data dir, supervised containerd, containerd namespace and address.
//
// Images: the namespaces cannot reach the stack's registry on the host's
// loopback, so each bridge gets a relay listening on the bridge address
// (netns.Net.Relay) and every node's config names it as its docker.io
// mirror; "busybox" resolves unchanged.
package cluster

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/zlayer/zlayer/integration/netns"
	"github.com/zlayer/zlayer/integration/node"
	"github.com/zlayer/zlayer/integration/stack"
)

// APIPort is the port every node's API binds on its namespace address.
const APIPort = 3669

// Node is one node in its network namespace.
type Node struct {
	*node.Node
	Name string
	NS   *netns.NS
}

// mirrors holds one registry relay per bridge.
var (
	mirrorsMu sync.Mutex
	mirrors   = map[*netns.Net]string{}
)

// Mirror is the address on b's bridge that relays to s's registry, started
// on first use.
func Mirror(t testing.TB, s *stack.Stack, b *netns.Net) string {
	t.Helper()
	mirrorsMu.Lock()
	defer mirrorsMu.Unlock()
	if m, ok := mirrors[b]; ok {
		return m
	}
	m := b.Relay(t, s.Registry)
	mirrors[b] = m
	t.Cleanup(func() {
		mirrorsMu.Lock()
		delete(mirrors, b)
		mirrorsMu.Unlock()
	})
	return m
}

// StartClusterNode runs a node inside ns: `zlayer serve` with args as extra
// flags, or, when args start with a subcommand (join ...), that subcommand
// with its flags, followed by the node's serve flags. The node has its own
// folder under s.Dir (data dir, socket, config, log), its own supervised
// containerd under the data dir, its own containerd namespace, and binds
// its API on ns's address, port APIPort. Its cleanup (t.Cleanup) removes
// its deployments, stops it, and removes its containerd's leftovers; the
// namespace's cleanup, registered earlier, runs after it.
func StartClusterNode(t testing.TB, s *stack.Stack, ns *netns.NS, args ...string) *Node {
	t.Helper()
	return StartClusterNodeConfig(t, s, ns, "", args...)
}

// BridgeConfig is the node config section that turns bridge networking on
// for a node in a namespace: the stack's CNI plugins, and a namespace folder
// of the node's own (the default, /run/zlayer/netns, is the host's).
func BridgeConfig(s *stack.Stack, ns *netns.NS) string {
	return fmt.Sprintf("network:\n  default_mode: bridge\n  plugin_dirs: [%s]\n  netns_dir: %s\n",
		s.ToolsBin, filepath.Join(s.Dir, ns.Name+"-netns"))
}

// StartClusterNodeConfig is StartClusterNode with config appended to the
// node config file.
func StartClusterNodeConfig(t testing.TB, s *stack.Stack, ns *netns.NS, config string, args ...string) *Node {
	t.Helper()
	sub := []string{"serve"}
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args, nil
	}
	// Short: containerd's shim socket folder lives under it and must stay
	// within 42 characters. Namespace names are unique within a test.
	dir := filepath.Join(s.Dir, ns.Name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	suffix := strings.TrimPrefix(filepath.Base(s.Dir), "zl")
	n := node.StartNodeOpts(t, s, node.Options{
		Dir:       dir,
		Bind:      net.JoinHostPort(ns.IP.String(), fmt.Sprint(APIPort)),
		Namespace: fmt.Sprintf("zlc%s%s", suffix, ns.Name),
		Prefix:    ns.Prefix(),
		Sub:       sub,
		Mirror:    Mirror(t, s, ns.Net),
		Args:      args,
		Config:    config,
	})
	return &Node{Node: n, Name: ns.Name, NS: ns}
}

// Restart starts the node's process again after Kill9, as sub (default:
// what it ran before), for instance plain serve where it first ran join.
func (n *Node) Restart(sub ...string) {
	if len(sub) > 0 {
		n.Sub = sub
	}
	n.Start()
}

// URL is the node's API as other nodes and the host reach it.
func (n *Node) URL() string { return "https://" + n.Bind }
