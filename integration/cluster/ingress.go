package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/netns"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
)

// IngressNodes are the names of StartIngressCluster's nodes: n1 the server
// (label tier=front), n2 and n3 agents (tier=back); each also has the label
// node=NAME.
var IngressNodes = []string{"n1", "n2", "n3"}

// StartIngressCluster runs three bridge-networked nodes (host-gw) in
// namespaces on one new test bridge named prefix: n1 makes the cluster,
// n2 and n3 join it as agents; config[name] is appended to that node's
// config. It returns once all three are ready; every node's API client
// carries the cluster's admin token.
func StartIngressCluster(t testing.TB, s *stack.Stack, prefix string, config map[string]string) map[string]*Node {
	t.Helper()
	b := netns.Bridge(t, prefix, "")
	nodes := map[string]*Node{}
	for i, name := range IngressNodes {
		ns := netns.Namespace(t, b, name)
		tier := "back"
		if i == 0 {
			tier = "front"
		}
		args := []string{"serve", "--cluster-init"}
		if i > 0 {
			tok := strings.TrimSpace(nodes["n1"].MustCLI("token", "create", "--role", "agent"))
			args = []string{"join", "--api", nodes["n1"].URL(), "--token", tok}
		}
		args = append(args, "--node-name", name, "--advertise-address", ns.IP.String(), "--node-label", "tier="+tier, "--node-label", "node="+name)
		n := StartClusterNodeConfig(t, s, ns, BridgeConfig(s, ns)+config[name], args...)
		if i > 0 {
			admin, err := os.ReadFile(filepath.Join(nodes["n1"].Dir, "token"))
			if err != nil {
				t.Fatal(err)
			}
			if n.API, err = apiclient.New(n.Socket, strings.TrimSpace(string(admin))); err != nil {
				t.Fatal(err)
			}
		}
		nodes[name] = n
		n.WaitFor(name+" ready in the cluster", 90*time.Second, func() bool {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			list, err := nodes["n1"].API.Nodes(ctx)
			if err != nil {
				return false
			}
			for _, r := range list.Nodes {
				if r.Name == name && r.State == "ready" {
					return true
				}
			}
			return false
		})
	}
	return nodes
}

// WhoSpec is a bridge service of replicas busybox httpd answering
// "ADDRESS INDEX" on / through a public http endpoint on port (the address is
// the replica's own, in its node's subnet: a replacement of the same index
// on another node answers otherwise), placed on the
// nodes selector (a node_selector mapping such as "{tier: back}", or ""
// for any node).
func WhoSpec(deployment string, port, replicas int, selector string) string {
	return WhoSpecEndpoint(deployment, fmt.Sprintf("{name: http, port: %d, target_port: 8080, expose: public}", port), replicas, selector)
}

// WhoSpecEndpoint is WhoSpec with the endpoint given whole, as a YAML flow
// mapping (its target_port 8080).
func WhoSpecEndpoint(deployment, endpoint string, replicas int, selector string) string {
	sel := ""
	if selector != "" {
		sel = "\n    node_selector: " + selector
	}
	return fmt.Sprintf(`version: v1
deployment: %s
services:
  who:
    image: busybox
    network_mode: bridge%s
    command:
      entrypoint: [/bin/sh, -c]
      args:
        - |
          mkdir -p /tmp/www
          # The bridge attaches the replica's network once it runs.
          addr=
          while [ -z "$addr" ]; do
            addr=$(ip -4 addr | sed -n 's/^ *inet \([0-9.]*\)\/.* scope global.*/\1/p')
            [ -n "$addr" ] || sleep 0.1
          done
          echo "$addr $ZLAYER_REPLICA" > /tmp/www/index.html
          exec httpd -f -p 8080 -h /tmp/www
    endpoints:
      - %s
    health:
      interval: 200ms
      check: {type: tcp, port: 8080}
    scale: {replicas: %d}
`, deployment, sel, endpoint, replicas)
}

// IngressClient asks a node's ingress with fresh connections: every
// request is routed anew, none rides a kept-alive one to the same replica.
func IngressClient(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DisableKeepAlives: true,
		DialContext: (&net.Dialer{Timeout: timeout}).DialContext}}
}

// Who asks url and returns the answering replica's "ADDRESS INDEX".
func Who(c *http.Client, url string) (string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return strings.TrimSpace(string(b)), nil
}

// IngressURL is the URL of node n's ingress on port.
func IngressURL(n *Node, port int) string {
	return fmt.Sprintf("http://%s/", net.JoinHostPort(n.NS.IP.String(), fmt.Sprint(port)))
}
