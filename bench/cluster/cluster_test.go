// Benchmarks of cluster mode, figures and ratios from one run: join to
// ready (agent, server), node death to its replicas ready elsewhere, etcd
// leader loss to the first successful write, 30 replicas deployed over
// four nodes against the same on one node, API write latency against a
// single node's, and a server's RSS against a single node's. Every node
// runs in its own network namespace (integration/netns) with its own
// containerd, as the cluster tests do.
//
//	go test ./bench/cluster -run XXX -bench . -benchtime 1x
package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	icluster "github.com/zlayer/zlayer/integration/cluster"
	"github.com/zlayer/zlayer/integration/netns"
	inode "github.com/zlayer/zlayer/integration/node"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/apiclient"
)

func sleepers(name string, replicas int) string {
	return fmt.Sprintf(`version: v1
deployment: %s
services:
  sleeper:
    image: busybox
    network_mode: host
    command: {entrypoint: [/bin/sleep, "3600"]}
    scale: {replicas: %d}
`, name, replicas)
}

type bench struct {
	b     *testing.B
	s     *stack.Stack
	ns    map[string]*netns.NS
	nodes map[string]*icluster.Node
}

// ready waits until via lists name as a ready node and says how long.
func (x *bench) ready(via *icluster.Node, name string, since time.Time, limit time.Duration) time.Duration {
	x.b.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		list, err := via.API.Nodes(ctx)
		cancel()
		if err == nil {
			for _, n := range list.Nodes {
				if n.Name == name && n.State == "ready" {
					return time.Since(since)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	x.b.Fatalf("%s never ready", name)
	return 0
}

// deployed applies spec through via and waits until the deployment is
// ready; it says how long that took.
func deployed(b *testing.B, via *inode.Node, name, spec string, limit time.Duration) time.Duration {
	b.Helper()
	ctx := context.Background()
	start := time.Now()
	if _, err := via.API.Apply(ctx, name+".yaml", spec); err != nil {
		b.Fatal(err)
	}
	via.WaitFor(name+" ready", limit, func() bool {
		d, err := via.API.Get(ctx, name)
		return err == nil && d.Ready
	})
	return time.Since(start)
}

// writeLatencies applies a spec of no replicas n times (each a new
// generation in the store: the API's write path) and returns the sorted
// latencies.
func writeLatencies(b *testing.B, via *inode.Node, n int) []time.Duration {
	b.Helper()
	ctx := context.Background()
	out := make([]time.Duration, 0, n)
	spec := sleepers("lat", 0)
	for range n {
		start := time.Now()
		if _, err := via.API.Apply(ctx, "lat.yaml", spec); err != nil {
			b.Fatal(err)
		}
		out = append(out, time.Since(start))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func pct(d []time.Duration, p float64) time.Duration { return d[int(float64(len(d)-1)*p)] }

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func BenchmarkCluster(b *testing.B) {
	s := stack.Start(b, stack.Options{})
	br := netns.Bridge(b, "bc", "")
	x := &bench{b: b, s: s, ns: map[string]*netns.NS{}, nodes: map[string]*icluster.Node{}}
	for _, n := range []string{"solo", "s1", "s2", "s3", "a1"} {
		x.ns[n] = netns.Namespace(b, br, n)
	}

	// The baseline: one node on its own.
	solo := icluster.StartClusterNode(b, s, x.ns["solo"])
	time.Sleep(2 * time.Second)
	soloRSS := inode.RSS(solo.PID())

	start := time.Now()
	s1 := icluster.StartClusterNode(b, s, x.ns["s1"], "serve", "--cluster-init", "--node-name", "s1", "--advertise-address", x.ns["s1"].IP.String())
	initTook := x.ready(s1, "s1", start, time.Minute)
	x.nodes["s1"] = s1
	token := func(role string) string {
		return strings.TrimSpace(s1.MustCLI("token", "create", "--role", role))
	}
	join := func(name, role string, extra ...string) time.Duration {
		args := append([]string{"join", "--api", s1.URL(), "--token", token(role), "--node-name", name,
			"--advertise-address", x.ns[name].IP.String()}, extra...)
		start := time.Now()
		n := icluster.StartClusterNode(b, s, x.ns[name], args...)
		x.nodes[name] = n
		return x.ready(s1, name, start, time.Minute)
	}
	agentJoin := join("a1", "agent")
	serverJoins := []time.Duration{join("s2", "server", "--server"), join("s3", "server", "--server")}
	admin, err := os.ReadFile(filepath.Join(s1.Dir, "token"))
	if err != nil {
		b.Fatal(err)
	}
	if x.nodes["a1"].API, err = apiclient.New(x.nodes["a1"].Socket, strings.TrimSpace(string(admin))); err != nil {
		b.Fatal(err)
	}
	b.Logf("join to ready: first server (init) %s, agent %s (goal <= 5s), servers %s and %s (goal <= 10s)",
		initTook.Round(time.Millisecond), agentJoin.Round(time.Millisecond),
		serverJoins[0].Round(time.Millisecond), serverJoins[1].Round(time.Millisecond))
	b.ReportMetric(agentJoin.Seconds(), "agent-join-s")
	b.ReportMetric(max(serverJoins[0], serverJoins[1]).Seconds(), "server-join-s")

	time.Sleep(2 * time.Second)
	serverRSS := inode.RSS(s1.PID())
	extra := float64(serverRSS-soloRSS) / (1 << 20)
	b.Logf("RSS: server %.1f MiB, single node %.1f MiB: %.1f MiB extra (goal <= 80 MiB), %.2fx",
		float64(serverRSS)/(1<<20), float64(soloRSS)/(1<<20), extra, float64(serverRSS)/float64(soloRSS))
	b.ReportMetric(extra, "server-extra-RSS-MiB")

	// Warm up: every node pulls and unpacks the image once.
	deployed(b, solo.Node, "warm", sleepers("warm", 1), 2*time.Minute)
	deployed(b, s1.Node, "warm", sleepers("warm", 4), 2*time.Minute)
	solo.MustCLI("down", "warm")
	s1.MustCLI("down", "warm")

	one := deployed(b, solo.Node, "thirty", sleepers("thirty", 30), 3*time.Minute)
	four := deployed(b, s1.Node, "thirty", sleepers("thirty", 30), 3*time.Minute)
	b.Logf("30 replicas: over 4 nodes %s, on one node %s: %.2fx", four.Round(time.Millisecond), one.Round(time.Millisecond), float64(four)/float64(one))
	b.ReportMetric(float64(four)/float64(one), "deploy30-4nodes/1node")

	const writes = 200
	soloLat := writeLatencies(b, solo.Node, writes)
	clusterLat := writeLatencies(b, s1.Node, writes)
	b.Logf("API writes (%d applies): cluster p50 %.1f ms p99 %.1f ms (goal p99 <= 50 ms); single node p50 %.1f ms p99 %.1f ms; p99 %.2fx",
		writes, ms(pct(clusterLat, .5)), ms(pct(clusterLat, .99)), ms(pct(soloLat, .5)), ms(pct(soloLat, .99)),
		float64(pct(clusterLat, .99))/float64(pct(soloLat, .99)))
	b.ReportMetric(ms(pct(clusterLat, .99)), "write-p99-ms")

	// Node death: the agent's replicas ready elsewhere.
	lease := 10 * time.Second
	killed := time.Now()
	x.nodes["a1"].Kill9()
	s1.WaitFor("thirty ready without a1", 2*time.Minute, func() bool {
		d, err := s1.API.Get(context.Background(), "thirty")
		if err != nil || !d.Ready {
			return false
		}
		for _, svc := range d.Services {
			for _, r := range svc.Replicas {
				if r.Node == "a1" {
					return false
				}
			}
		}
		return true
	})
	failover := time.Since(killed)
	b.Logf("node death to its replicas ready elsewhere: %s (goal <= lease %s + 10s)", failover.Round(time.Millisecond), lease)
	b.ReportMetric(failover.Seconds(), "failover-s")

	// Leader loss: the first successful write after it.
	var leader string
	if list, err := s1.API.Nodes(context.Background()); err == nil {
		for _, n := range list.Nodes {
			if n.Leader {
				leader = n.Name
			}
		}
	}
	if leader == "" {
		b.Fatal("no etcd leader in nodes")
	}
	var other *icluster.Node
	for _, n := range []string{"s1", "s2", "s3"} {
		if n != leader {
			other = x.nodes[n]
			break
		}
	}
	killed = time.Now()
	x.nodes[leader].Kill9()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := other.API.Apply(ctx, "after.yaml", sleepers("after", 0))
		cancel()
		if err == nil {
			break
		}
		if time.Since(killed) > time.Minute {
			b.Fatalf("no write a minute after the leader's loss: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	recovered := time.Since(killed)
	b.Logf("etcd leader %s killed: first successful write after %s", leader, recovered.Round(time.Millisecond))
	b.ReportMetric(recovered.Seconds(), "leader-loss-write-s")
	// The killed nodes come back for their cleanup.
	for _, n := range []string{leader, "a1"} {
		x.nodes[n].Restart("serve", "--node-name", n, "--advertise-address", x.ns[n].IP.String())
	}
	x.ready(other, "a1", time.Now(), time.Minute)
	x.ready(other, leader, time.Now(), time.Minute)
}
