package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
)

// TestIntegrationPullNewer: pull_policy newer (upstream ZLayer's) pulls
// again when the registry's tag moved to another image: a restarted
// service runs the image pushed after its deploy, where if_not_present
// keeps the node's copy.
func TestIntegrationPullNewer(t *testing.T) {
	s := stack.Start(t, stack.Options{Containerd: true, Buildkit: true})
	n := StartNode(t, s)
	push := func(word string) {
		t.Helper()
		dir := t.TempDir()
		df := "FROM " + s.Registry + "/library/busybox:latest\nRUN echo " + word + " > /word\n"
		if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := s.BuildDockerfile(context.Background(), dir, s.Registry+"/library/moving:1"); err != nil {
			t.Fatal(err)
		}
	}
	push("first-a81c")
	spec := n.WriteSpec("moving.yaml", `version: v1
deployment: moving
services:
  app:
    image: {name: moving:1, pull_policy: newer}
    command: {entrypoint: [/bin/sh, -c, "cat /word; trap 'exit 0' TERM; while true; do sleep 0.2; done"]}
`)
	n.MustCLI("deploy", spec, "--timeout", "60s")
	n.WaitFor("first image's log", 20*time.Second, func() bool {
		out, _, _ := n.CLI("logs", "app")
		return strings.Contains(out, "first-a81c")
	})
	before := n.Replicas("moving", "app")[0].ImageDigest
	push("second-5d02")
	n.MustCLI("restart", "app", "--timeout", "60s")
	n.WaitFor("second image's log", 30*time.Second, func() bool {
		out, _, _ := n.CLI("logs", "app")
		return strings.Contains(out, "second-5d02")
	})
	if after := n.Replicas("moving", "app")[0].ImageDigest; after == before || after == "" {
		t.Errorf("image digest %q after the push, %q before", after, before)
	}
}
