package cluster

import (
	"strings"
	"testing"

	"github.com/zlayer/zlayer/integration/netns"
	"github.com/zlayer/zlayer/integration/stack"
)

// member is a node of bridgeCluster: its name and its node labels, k=v
// separated by spaces.
type member struct{ name, label string }

// labelFlags are the member's labels as --node-label flags.
func (m member) labelFlags() []string {
	var f []string
	for _, l := range strings.Fields(m.label) {
		f = append(f, "--node-label", l)
	}
	return f
}

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
	initServer(t, fx, members[0], BridgeConfig(s, fx.ns[members[0].name]))
	for _, m := range members[1:] {
		joinAgent(t, fx, m, BridgeConfig(s, fx.ns[m.name]))
	}
	return fx
}
