package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/integration/netns"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
)

// member is a node of bridgeCluster: its name and its --node-label k=v.
type member struct{ name, label string }

// bridgeCluster starts a cluster of nodes with bridge networking, each in
// its own namespace on a new test bridge (bridge names it): the first node
// runs serve --cluster-init, the others join it as agents (their API
// clients use its admin token). It returns once every node is ready.
func bridgeCluster(t *testing.T, bridge string, members ...member) *clusterFx {
	t.Helper()
	s := stack.Start(t, stack.Options{})
	b := netns.Bridge(t, bridge, "")
	fx := &clusterFx{t: t, s: s, b: b, ns: map[string]*netns.NS{}, nodes: map[string]*Node{}}
	for _, m := range members {
		fx.ns[m.name] = netns.Namespace(t, b, m.name)
	}
	first := members[0]
	ns := fx.ns[first.name]
	s1 := StartClusterNodeConfig(t, s, ns, BridgeConfig(s, ns),
		"serve", "--cluster-init", "--node-name", first.name, "--advertise-address", ns.IP.String(), "--node-label", first.label)
	fx.nodes[first.name] = s1
	waitReady(t, fx, first.name)
	admin, err := os.ReadFile(filepath.Join(s1.Dir, "token"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members[1:] {
		ns := fx.ns[m.name]
		n := StartClusterNodeConfig(t, s, ns, BridgeConfig(s, ns), "join", "--api", s1.URL(), "--token", token(t, fx, "agent"),
			"--node-name", m.name, "--advertise-address", ns.IP.String(), "--node-label", m.label)
		if n.API, err = apiclient.New(n.Socket, strings.TrimSpace(string(admin))); err != nil {
			t.Fatal(err)
		}
		fx.nodes[m.name] = n
		waitReady(t, fx, m.name)
	}
	return fx
}
