package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/netns"
)

// addrRow is a row of `zlayer ps -o json` with the replica's address.
type addrRow struct {
	Deployment string `json:"deployment"`
	State      string `json:"state"`
	Node       string `json:"node"`
	Address    string `json:"address"`
}

// echoSpec is a busybox httpd in bridge mode on the zone=a node whose CGI
// answers with the address the request came from.
const echoSpec = `version: v1
deployment: echo
services:
  httpd:
    image: busybox
    network_mode: bridge
    node_selector: {zone: a}
    command:
      entrypoint: [/bin/sh, -c]
      args:
        - |
          mkdir -p /tmp/www/cgi-bin
          printf '#!/bin/sh\necho "Content-Type: text/plain"\necho\necho "from $REMOTE_ADDR"\n' > /tmp/www/cgi-bin/from
          chmod +x /tmp/www/cgi-bin/from
          exec httpd -f -p 8080 -h /tmp/www
    health:
      interval: 500ms
      check: {type: tcp, port: 8080}
`

// fetchSpec is a bridge replica on the zone=b node fetching from url every
// half second and printing what it got (no wget -T: the Debian static
// busybox the tests use crashes with it).
func fetchSpec(url string) string {
	return fmt.Sprintf(`version: v1
deployment: fetch
services:
  client:
    image: busybox
    network_mode: bridge
    node_selector: {zone: b}
    command:
      entrypoint: [/bin/sh, -c]
      args: ['trap "exit 0" TERM; while true; do echo "got: $(wget -q -O- %s)"; sleep 0.5; done']
`, url)
}

// hostgwRoutes are the routes a node's host-gw made in ns (protocol 211),
// by destination, with their next hop.
func hostgwRoutes(t *testing.T, ns *netns.NS) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := ns.Command(ctx, "ip", "-4", "route", "show", "proto", "211").CombinedOutput()
	if err != nil {
		t.Fatalf("ip route in %s: %v: %s", ns.Name, err, out)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[1] == "via" {
			m[f[0]] = f[2]
		}
	}
	return m
}

func clusterRules(t *testing.T, ns *netns.NS) int {
	t.Helper()
	n := 0
	for _, table := range []string{"filter", "nat"} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := ns.Command(ctx, "iptables", "-w", "-t", table, "-S").CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("iptables in %s: %v: %s", ns.Name, err, out)
		}
		n += strings.Count(string(out), "zlayer cluster network")
	}
	return n
}

// subnetOf is the subnet a node saved at init or join.
func subnetOf(t *testing.T, n *Node) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(n.Dir, "cluster", "subnet.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Subnet string `json:"subnet"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Subnet == "" {
		t.Fatalf("subnet.json of %s: %v %s", n.Name, err, b)
	}
	return f.Subnet
}

// TestHostGW is issue #15's first part: three nodes (a server and two
// agents) in namespaces on one test bridge, with bridge networking. Each
// node gets its own /24 of the cluster CIDR, routes to the others' via
// their addresses; a replica on one node fetches from a replica on
// another by its address and is seen with its own address (no NAT inside
// the cluster); a node that stops leaves nothing behind and the others'
// routes to it go.
func TestHostGW(t *testing.T) {
	fx := bridgeCluster(t, "hg", member{"s1", "zone=a"}, member{"a1", "zone=b"}, member{"a2", "zone=c"})
	s1, nss := fx.nodes["s1"], fx.ns

	subnets := map[string]string{}
	for name, n := range fx.nodes {
		sub := subnetOf(t, n)
		p, err := netip.ParsePrefix(sub)
		if err != nil || p.Bits() != 24 || !netip.MustParsePrefix("10.244.0.0/16").Contains(p.Addr()) {
			t.Fatalf("%s's subnet %q: want a /24 of 10.244.0.0/16", name, sub)
		}
		for other, taken := range subnets {
			if taken == sub {
				t.Fatalf("%s and %s both have %s", name, other, sub)
			}
		}
		subnets[name] = sub
	}
	t.Logf("subnets: %v", subnets)

	// Every node routes to the two others' subnets via their addresses.
	want := func(self string, without ...string) map[string]string {
		m := map[string]string{}
		for name, sub := range subnets {
			if name != self && !strings.Contains(strings.Join(without, ","), name) {
				m[sub] = nss[name].IP.String()
			}
		}
		return m
	}
	for name := range fx.nodes {
		waitFor(t, name+"'s routes to the others", 30*time.Second, func() bool {
			return fmt.Sprint(hostgwRoutes(t, nss[name])) == fmt.Sprint(want(name))
		})
		if n := clusterRules(t, nss[name]); n != 3 {
			t.Errorf("%s has %d cluster firewall rules, want 3", name, n)
		}
	}

	t.Run("a replica reaches another node's replica by its address, which sees the client's own", func(t *testing.T) {
		server, client := fetchAcross(t, s1, subnets["s1"], "a1", false)
		t.Logf("a1's replica %s fetched from s1's replica %s", client.Address, server.Address)
	})

	t.Run("a node that stops leaves nothing and the others drop its route", func(t *testing.T) {
		a2 := fx.nodes["a2"]
		a2.Stop()
		if r := hostgwRoutes(t, nss["a2"]); len(r) != 0 {
			t.Errorf("a2 left routes: %v", r)
		}
		if n := clusterRules(t, nss["a2"]); n != 0 {
			t.Errorf("a2 left %d firewall rules", n)
		}
		for _, name := range []string{"s1", "a1"} {
			waitFor(t, name+" drops its route to a2", lease+20*time.Second, func() bool {
				return fmt.Sprint(hostgwRoutes(t, nss[name])) == fmt.Sprint(want(name, "a2"))
			})
		}
	})
}

// fetchAcross deploys echo (on the zone=a node, in serverSubnet) and fetch
// (on the zone=b node, clientNode) through via, and waits until the
// client's log shows a fetch the server saw from the client's own
// address: replica to replica across nodes, no NAT inside the cluster.
// The client asks the server's address, or with byName its DNS name.
func fetchAcross(t *testing.T, via *Node, serverSubnet, clientNode string, byName bool) (server, client addrRow) {
	t.Helper()
	via.MustCLI("deploy", via.WriteSpec("echo.yaml", echoSpec))
	waitFor(t, "echo ready with an address", 90*time.Second, func() bool {
		rows, _ := listJSON[addrRow](via, "ps")
		for _, r := range rows {
			if r.Deployment == "echo" && r.State == "ready" && r.Address != "" {
				server = r
				return true
			}
		}
		return false
	})
	if !netip.MustParsePrefix(serverSubnet).Contains(netip.MustParseAddr(server.Address)) {
		t.Fatalf("echo runs on %s at %s, want it in %s", server.Node, server.Address, serverSubnet)
	}
	host := server.Address
	if byName {
		host = "httpd.echo.zlayer.internal"
	}
	via.MustCLI("deploy", via.WriteSpec("fetch.yaml", fetchSpec("http://"+host+":8080/cgi-bin/from")))
	waitFor(t, "fetch running with an address", 90*time.Second, func() bool {
		rows, _ := listJSON[addrRow](via, "ps")
		for _, r := range rows {
			if r.Deployment == "fetch" && up(psRow{State: r.State}) && r.Address != "" {
				client = r
				return true
			}
		}
		return false
	})
	if client.Node != clientNode {
		t.Fatalf("fetch runs on %s, want %s", client.Node, clientNode)
	}
	// httpd listens on IPv6 too: an IPv4 peer may show as mapped.
	wantLines := []string{"got: from " + client.Address + "\n", "got: from [::ffff:" + client.Address + "]"}
	var last string
	defer func() {
		if t.Failed() {
			t.Logf("the client's log:\n%s", last)
		}
	}()
	waitFor(t, "the client's fetch, seen from "+client.Address, 30*time.Second, func() bool {
		out, errOut, code := via.CLI("logs", "fetch/client")
		last = out + errOut
		return code == 0 && (strings.Contains(out, wantLines[0]) || strings.Contains(out, wantLines[1]))
	})
	return server, client
}
