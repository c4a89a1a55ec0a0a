// Benchmark of the cluster network: throughput and round-trip latency to a
// bridge replica from the network namespace of another node, over host-gw
// routes and over WireGuard, against the same from the replica's own node
// (no cluster network in the path), one run, ratios printed. Nodes run in
// network namespaces on one test bridge, as the cluster tests do; the
// client is this process, its sockets opened inside the other node's
// namespace (network.Do), the server a busybox httpd replica.
//
//	go test ./bench/clusternet -run XXX -bench . -benchtime 1x
package clusternet

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

	"github.com/zlayer/zlayer/bench/loadrun"
	icluster "github.com/zlayer/zlayer/integration/cluster"
	"github.com/zlayer/zlayer/integration/netns"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
	"github.com/zlayer/zlayer/noderuntime/apitypes"
	"github.com/zlayer/zlayer/noderuntime/network"
)

// bigMB is the size of the file each throughput round fetches.
const bigMB = 64

// httpdSpec serves a small file and a bigMB one from a bridge replica on
// the zone=a node.
var httpdSpec = fmt.Sprintf(`version: v1
deployment: www
services:
  httpd:
    image: busybox
    network_mode: bridge
    node_selector: {zone: a}
    command:
      entrypoint: [/bin/sh, -c]
      args:
        - |
          mkdir -p /tmp/www && echo ok > /tmp/www/small
          dd if=/dev/zero of=/tmp/www/big bs=1M count=%d 2>/dev/null
          exec httpd -f -p 8080 -h /tmp/www
    health:
      interval: 500ms
      check: {type: tcp, port: 8080}
`, bigMB)

// result is one path's figures.
type result struct {
	mbps     float64 // best of the throughput rounds
	p50, p99 time.Duration
}

// measure fetches from addr with every socket opened in the namespace at
// path: three rounds of the big file (best MB/s) and 300 fetches of the
// small one, each on a new connection (busybox httpd closes after one
// request), as round-trip latency.
func measure(b *testing.B, path, addr string) result {
	b.Helper()
	dial := func(ctx context.Context, netw, a string) (net.Conn, error) {
		var c net.Conn
		err := network.Do(path, func() error {
			var err error
			c, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, netw, a)
			return err
		})
		return c, err
	}
	client := &http.Client{Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}, Timeout: 60 * time.Second}
	get := func(p string) (int64, error) {
		resp, err := client.Get("http://" + addr + p)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return 0, fmt.Errorf("GET %s: %s", p, resp.Status)
		}
		return io.Copy(io.Discard, resp.Body)
	}
	var r result
	for range 3 {
		start := time.Now()
		n, err := get("/big")
		if err != nil || n != bigMB<<20 {
			b.Fatalf("GET /big from %s: %d bytes, %v", addr, n, err)
		}
		if v := float64(n) / (1 << 20) / time.Since(start).Seconds(); v > r.mbps {
			r.mbps = v
		}
	}
	lat := make([]time.Duration, 0, 300)
	for range cap(lat) {
		start := time.Now()
		if _, err := get("/small"); err != nil {
			b.Fatalf("GET /small from %s: %v", addr, err)
		}
		lat = append(lat, time.Since(start))
	}
	r.p50, r.p99 = loadrun.Percentiles(lat)
	return r
}

// twoNodes starts a server (zone=a) and an agent (zone=b) in mode, both
// with bridge networking, and the httpd replica on the server; it returns
// the two namespaces and the replica's address.
func twoNodes(b *testing.B, s *stack.Stack, br *netns.Net, mode string) (server, agent *netns.NS, addr string) {
	b.Helper()
	p := mode[:1]
	server, agent = netns.Namespace(b, br, p+"s1"), netns.Namespace(b, br, p+"a1")
	config := func(ns *netns.NS) string {
		return icluster.BridgeConfig(s, ns) + "  cluster:\n    mode: " + mode + "\n"
	}
	s1 := icluster.StartClusterNodeConfig(b, s, server, config(server),
		"serve", "--cluster-init", "--node-name", "s1", "--advertise-address", server.IP.String(), "--node-label", "zone=a")
	tok := strings.TrimSpace(s1.MustCLI("token", "create", "--role", "agent"))
	a1 := icluster.StartClusterNodeConfig(b, s, agent, config(agent), "join", "--api", s1.URL(), "--token", tok,
		"--node-name", "a1", "--advertise-address", agent.IP.String(), "--node-label", "zone=b")
	// The agent's cleanup removes deployments through a server, with the
	// cluster's admin token.
	admin, err := os.ReadFile(filepath.Join(s1.Dir, "token"))
	if err != nil {
		b.Fatal(err)
	}
	if a1.API, err = apiclient.New(a1.Socket, strings.TrimSpace(string(admin))); err != nil {
		b.Fatal(err)
	}
	s1.MustCLI("deploy", s1.WriteSpec("www.yaml", httpdSpec))
	var rep apitypes.ReplicaStatus
	s1.WaitFor("www ready with an address", 2*time.Minute, func() bool {
		for _, r := range s1.Replicas("www", "httpd") {
			if r.State == apitypes.ReplicaReady && r.Address != "" {
				rep = r
				return true
			}
		}
		return false
	})
	addr = net.JoinHostPort(rep.Address, "8080")
	// The agent reaches it once its routes or peers are set.
	deadline := time.Now().Add(time.Minute)
	for {
		err := network.Do(agent.Path, func() error {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%s: the agent cannot reach the replica at %s: %v", mode, addr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return server, agent, addr
}

func BenchmarkClusterNet(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root: network namespaces")
	}
	s := stack.Start(b, stack.Options{})
	br := netns.Bridge(b, "cn", "")
	figures := map[string]result{}
	for _, mode := range []string{network.ModeHostGW, network.ModeWireGuard} {
		server, agent, addr := twoNodes(b, s, br, mode)
		if _, ok := figures["one node"]; !ok {
			figures["one node"] = measure(b, server.Path, addr)
		}
		figures[mode] = measure(b, agent.Path, addr)
	}
	one := figures["one node"]
	fmt.Print("\nto a bridge replica (httpd, busybox), from its own node and from another node's namespace:\n")
	fmt.Printf("%-10s %10s %10s %10s %12s %12s\n", "path", "MB/s", "p50", "p99", "MB/s ratio", "p50 ratio")
	for _, k := range []string{"one node", network.ModeHostGW, network.ModeWireGuard} {
		r := figures[k]
		fmt.Printf("%-10s %10.1f %10s %10s %12.2f %12.2f\n", k, r.mbps, r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond),
			r.mbps/one.mbps, float64(r.p50)/float64(one.p50))
		b.ReportMetric(r.mbps, strings.ReplaceAll(k, " ", "-")+"-MB/s")
	}
}
