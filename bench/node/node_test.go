// Benchmarks of the node runtime against baselines measured in the same
// run: deploying replicas through `zlayer serve` against starting the same
// containers directly with the containerd client, serve's idle memory, and
// convergence after a kill -9 of serve with 50 replicas.
//
//	go test ./bench/node -run XXX -bench . -benchtime 1x
package node

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"

	inode "github.com/zlayer/zlayer/integration/node"
	"github.com/zlayer/zlayer/integration/stack"
	"github.com/zlayer/zlayer/noderuntime/reconcile"
)

func spec(replicas int) string {
	return fmt.Sprintf(`version: v1
deployment: bench
services:
  sleeper:
    image: busybox
    command: {entrypoint: [/bin/sleep, "3600"]}
    scale: {replicas: %d}
`, replicas)
}

func BenchmarkNode(b *testing.B) {
	s := stack.Start(b, stack.Options{})
	n := inode.StartNode(b, s)
	ctx := context.Background()

	// Idle memory of serve itself (its containerd child is another process).
	time.Sleep(2 * time.Second)
	rss := inode.RSS(n.PID())
	b.ReportMetric(float64(rss)/(1<<20), "serve-idle-RSS-MiB")
	b.Logf("serve idle RSS %.1f MiB (target <= 40 MiB: %.2fx of target); containerd child %.1f MiB",
		float64(rss)/(1<<20), float64(rss)/(40<<20), float64(inode.RSS(n.ContainerdPID()))/(1<<20))

	// Warm up: the image is pulled and unpacked once, for both sides.
	n.MustCLI("deploy", n.WriteSpec("bench.yaml", spec(1)), "--timeout", "60s")
	n.MustCLI("down", "bench")

	const count = 20
	direct := directStart(b, n, count)
	start := time.Now()
	if _, err := n.API.Apply(ctx, "bench.yaml", spec(count)); err != nil {
		b.Fatal(err)
	}
	n.WaitFor("20 replicas ready", 2*time.Minute, func() bool { return n.Ready("bench") })
	viaNode := time.Since(start)
	ratio := float64(viaNode) / float64(direct)
	b.ReportMetric(ratio, "node/direct")
	b.Logf("20 replicas: node %s, direct containerd client %s: %.2fx (target <= 1.3x)", viaNode.Round(time.Millisecond), direct.Round(time.Millisecond), ratio)

	// Convergence after kill -9 of serve with 50 replicas.
	if _, err := n.API.Scale(ctx, "bench", "sleeper", 50); err != nil {
		b.Fatal(err)
	}
	n.WaitFor("50 replicas ready", 3*time.Minute, func() bool { return n.Ready("bench") })
	before := inode.PIDsOf(n.Replicas("bench", ""))
	n.Kill9()
	start = time.Now()
	n.Start()
	n.WaitFor("50 adopted", time.Minute, func() bool { return n.Ready("bench") })
	converge := time.Since(start)
	after := inode.PIDsOf(n.Replicas("bench", ""))
	b.ReportMetric(converge.Seconds(), "converge-50-s")
	b.Logf("restart after kill -9 with 50 replicas converged in %s (target <= 2s: %.2fx of target); pids unchanged: %v",
		converge.Round(time.Millisecond), converge.Seconds()/2, fmt.Sprint(before) == fmt.Sprint(after))
	if fmt.Sprint(before) != fmt.Sprint(after) {
		b.Error("replicas were restarted across kill -9 of serve")
	}
}

// directStart starts count containers with the containerd client against
// the node's containerd, with the same image, runtime, network mode and
// parallelism the node uses, and returns the time until all are running. It
// removes them afterwards.
func directStart(b *testing.B, n *inode.Node, count int) time.Duration {
	c, err := containerd.New(n.ContainerdSocket())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ctx := namespaces.WithNamespace(context.Background(), n.NS)
	img, err := c.GetImage(ctx, "docker.io/library/busybox:latest")
	if err != nil {
		b.Fatal(err)
	}
	var rtOpts any
	if n.Runtime == reconcile.RuntimeRunc {
		rtOpts = &runcoptions.Options{Root: n.Dir + "/runc"}
	}
	var ctrs []containerd.Container
	var mu sync.Mutex
	start := time.Now()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			id := fmt.Sprintf("direct-%d", i)
			ctr, err := c.NewContainer(ctx, id,
				containerd.WithImage(img), containerd.WithSnapshotter("overlayfs"), containerd.WithNewSnapshot(id, img),
				containerd.WithRuntime(n.Runtime, rtOpts),
				containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("/bin/sleep", "3600"),
					oci.WithHostNamespace(specs.NetworkNamespace), oci.WithHostHostsFile, oci.WithHostResolvconf))
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			ctrs = append(ctrs, ctr)
			mu.Unlock()
			task, err := ctr.NewTask(ctx, cio.NullIO)
			if err != nil {
				b.Error(err)
				return
			}
			if err := task.Start(ctx); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	for _, ctr := range ctrs {
		if t, err := ctr.Task(ctx, nil); err == nil {
			// SIGKILL to init only; its PID namespace goes with it.
			if ch, err := t.Wait(ctx); err == nil {
				_ = t.Kill(ctx, syscall.SIGKILL)
				select {
				case <-ch:
				case <-time.After(10 * time.Second):
				}
			}
			_, _ = t.Delete(ctx)
		}
		_ = ctr.Delete(ctx, containerd.WithSnapshotCleanup)
	}
	return took
}
