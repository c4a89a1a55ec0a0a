// Package dockernode benchmarks the zlayer-node image: `docker run` until
// the node answers, and until a service it deploys answers through the
// published port, against `docker run` of the same busybox httpd as a plain
// container in the same dockerd (the baseline, measured in the same run);
// and the image's size against the 120 MB target.
package dockernode

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/dockernode"
	"github.com/zlayer/zlayer/integration/stack"
)

func BenchmarkDockerNode(b *testing.B) {
	s := stack.Start(b, stack.Options{Buildkit: true, Dockerd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	docker := func(args ...string) string {
		b.Helper()
		out, err := dockernode.Docker(ctx, s, args...)
		if err != nil {
			b.Fatal(err)
		}
		return out
	}
	tar, err := dockernode.BuildImage(ctx, s)
	if err != nil {
		b.Fatal(err)
	}
	size, _ := strconv.ParseFloat(strings.TrimSpace(docker("image", "inspect", "-f", "{{.Size}}", dockernode.Image)), 64)
	specs := s.Dir + "/specs"
	if err := dockernode.PrepareSpecs(ctx, s, specs); err != nil {
		b.Fatal(err)
	}
	docker("network", "create", "zlnet")
	b.Cleanup(func() { _, _ = dockernode.Docker(context.Background(), s, "network", "rm", "zlnet") })
	priv := dockernode.Privileged()

	// Warm the state volume once: the image imported, so every measured
	// run starts from a node that has it (as after the first deploy).
	docker(append(append([]string{"run"}, priv...), "-d", "--name", "warm", "--network", "zlnet",
		"-v", "zlbench:/var/lib/zlayer", "-v", specs+":/specs:ro", dockernode.Image, "serve")...)
	if err := dockernode.WaitReady(ctx, s, "warm", time.Minute); err != nil {
		b.Fatal(err)
	}
	docker("exec", "warm", "zlayer", "image", "import", "/specs/busybox.tar")
	docker("rm", "-f", "warm")
	b.Cleanup(func() { _, _ = dockernode.Docker(context.Background(), s, "volume", "rm", "-f", "zlbench") })

	var base, ready, answer time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		port, _ := dockernode.FreePort()
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)

		// Baseline: the same httpd as a plain container.
		t0 := time.Now()
		docker("run", "-d", "--name", "plain", "--network", "zlnet", "-p", fmt.Sprintf("127.0.0.1:%d:80", port),
			"busybox:latest", "sh", "-c", "mkdir -p /www && echo "+dockernode.Body+" > /www/index.html && exec httpd -f -p 80 -h /www")
		if err := waitAnswer(url, time.Minute); err != nil {
			b.Fatal(err)
		}
		base += time.Since(t0)
		docker("rm", "-f", "plain")

		// The node, deploying the spec as its command.
		t0 = time.Now()
		docker(append(append([]string{"run"}, priv...), "-d", "--name", "zlayer", "--network", "zlnet",
			"-p", fmt.Sprintf("127.0.0.1:%d:80", port),
			"-v", "zlbench:/var/lib/zlayer", "-v", specs+":/specs:ro",
			dockernode.Image, "deploy", "--spec", "/specs/app.yaml")...)
		if err := waitNodeAPI(ctx, s, "zlayer"); err != nil {
			b.Fatal(err)
		}
		ready += time.Since(t0)
		if err := waitAnswer(url, time.Minute); err != nil {
			b.Fatal(err)
		}
		answer += time.Since(t0)
		// The deploy command is done once it prints the ready table; only
		// then may the deployment go (removing it earlier fails the deploy,
		// and the entrypoint then stops the node).
		if err := waitLogs(ctx, s, "zlayer", regexp.MustCompile(`httpd\s+1/1`)); err != nil {
			b.Fatal(err)
		}
		docker("exec", "zlayer", "zlayer-runtime", "down", "web")
		docker("rm", "-f", "zlayer")
	}
	b.StopTimer()
	n := float64(b.N)
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / n }
	b.ReportMetric(ms(base), "plain-run-to-answer-ms")
	b.ReportMetric(ms(ready), "node-run-to-ready-ms")
	b.ReportMetric(ms(answer), "node-run-to-answer-ms")
	b.ReportMetric(float64(answer)/float64(base), "answer-vs-plain-x")
	b.ReportMetric(size/1e6, "image-MB")
	b.ReportMetric(size/120e6, "image-vs-120MB-target-x")
	b.Logf("image %s: %.1f MB uncompressed (target 120 MB, %.2fx); docker tar %s", dockernode.Image, size/1e6, size/120e6, tar)
	b.Logf("per run: plain httpd container %.0f ms to answer; node %.0f ms to ready, %.0f ms to answer (%.1fx plain)",
		ms(base), ms(ready), ms(answer), float64(answer)/float64(base))
}

func waitLogs(ctx context.Context, s *stack.Stack, name string, re *regexp.Regexp) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if out, err := dockernode.Docker(ctx, s, "logs", name); err == nil && re.MatchString(out) {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("docker logs %s never matched %v", name, re)
}

// waitNodeAPI polls the node's API liveness (not the deployment's
// readiness) through docker exec.
func waitNodeAPI(ctx context.Context, s *stack.Stack, name string) error {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		if _, err := dockernode.Docker(ctx, s, "exec", name, "zlayer-runtime", "ps"); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("node in %s never answered", name)
}

func waitAnswer(url string, timeout time.Duration) error {
	c := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s never answered", url)
}
