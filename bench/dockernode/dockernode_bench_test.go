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
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/dockernode"
	"github.com/zlayer/zlayer/integration/stack"
)

// rounds of each measurement; the mean is reported.
const rounds = 3

// TestBenchDockerNode is a benchmark run as a test (ZLAYER_BENCH=1, see
// bench/dockernode.sh) so that the stack and the image are built once
// rather than once per b.N probe.
func TestBenchDockerNode(t *testing.T) {
	if os.Getenv("ZLAYER_BENCH") == "" {
		t.Skip("benchmark; run with ZLAYER_BENCH=1 (bench/dockernode.sh)")
	}
	s := stack.Start(t, stack.Options{Buildkit: true, Dockerd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	docker := func(args ...string) string {
		t.Helper()
		out, err := dockernode.Docker(ctx, s, args...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	tar, err := dockernode.BuildImage(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	size, _ := strconv.ParseFloat(strings.TrimSpace(docker("image", "inspect", "-f", "{{.Size}}", dockernode.Image)), 64)
	specs := s.Dir + "/specs"
	if err := dockernode.PrepareSpecs(ctx, s, specs); err != nil {
		t.Fatal(err)
	}
	docker("network", "create", "zlnet")
	t.Cleanup(func() { _, _ = dockernode.Docker(context.Background(), s, "network", "rm", "zlnet") })
	priv := dockernode.Privileged()

	// Warm the state volume once: the image imported, so every measured
	// run starts from a node that has it (as after the first deploy).
	docker(append(append([]string{"run"}, priv...), "-d", "--name", "warm", "--network", "zlnet",
		"-v", "zlbench:/var/lib/zlayer", "-v", specs+":/specs:ro", dockernode.Image, "serve")...)
	if err := dockernode.WaitReady(ctx, s, "warm", time.Minute); err != nil {
		t.Fatal(err)
	}
	docker("exec", "warm", "zlayer", "image", "import", "/specs/busybox.tar")
	docker("rm", "-f", "warm")
	t.Cleanup(func() { _, _ = dockernode.Docker(context.Background(), s, "volume", "rm", "-f", "zlbench") })

	var base, ready, answer time.Duration
	for i := 0; i < rounds; i++ {
		port, _ := dockernode.FreePort()
		url := fmt.Sprintf("http://127.0.0.1:%d/", port)

		// Baseline: the same httpd as a plain container.
		t0 := time.Now()
		docker("run", "-d", "--name", "plain", "--network", "zlnet", "-p", fmt.Sprintf("127.0.0.1:%d:80", port),
			"busybox:latest", "sh", "-c", "mkdir -p /www && echo "+dockernode.Body+" > /www/index.html && exec httpd -f -p 80 -h /www")
		if err := waitAnswer(url, time.Minute); err != nil {
			t.Fatal(err)
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
			t.Fatal(err)
		}
		ready += time.Since(t0)
		if err := waitAnswer(url, time.Minute); err != nil {
			t.Fatal(err)
		}
		answer += time.Since(t0)
		// The deploy command is done once it prints the ready table; only
		// then may the deployment go (removing it earlier fails the deploy,
		// and the entrypoint then stops the node).
		if err := waitLogs(ctx, s, "zlayer", regexp.MustCompile(`httpd\s+1/1`)); err != nil {
			t.Fatal(err)
		}
		docker("exec", "zlayer", "zlayer-runtime", "down", "web")
		docker("rm", "-f", "zlayer")
	}
	n := float64(rounds)
	ms := func(d time.Duration) float64 { return float64(d.Milliseconds()) / n }
	t.Logf("image %s: %.1f MB uncompressed (target 120 MB, %.2fx); docker tar %s", dockernode.Image, size/1e6, size/120e6, tar)
	t.Logf("mean of %d runs: plain httpd container %.0f ms to answer; node %.0f ms to ready (%.2fx plain answer), %.0f ms to answer (%.2fx plain)",
		rounds, ms(base), ms(ready), float64(ready)/float64(base), ms(answer), float64(answer)/float64(base))
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
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("%s never answered", url)
}
