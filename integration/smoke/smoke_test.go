// Package smoke proves the harness: a real buildx build on the harness
// buildkitd, pushed to the harness registry, run by the harness containerd.
package smoke

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"

	"github.com/zlayer/zlayer/integration/stack"
)

const dockerfile = `FROM busybox AS build
RUN mkdir -p /out && echo "built in stage one by $(uname -s)" > /out/message
FROM busybox
COPY --from=build /out/message /message
RUN echo "and stage two" >> /message
CMD ["cat", "/message"]
`

func TestIntegrationSmokeBuildxToContainerd(t *testing.T) {
	s := stack.Start(t, stack.Options{Buildkit: true, Containerd: true})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := s.Registry + "/smoke/hello:latest"
	out, err := s.Command(ctx, "docker", "buildx", "build", "--progress=plain",
		"--output", "type=image,name="+ref+",push=true", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("docker buildx build: %v\n%s", err, out)
	}
	if !bytes.Contains(out, []byte("pushing manifest")) {
		t.Errorf("buildx output does not show a push:\n%s", out)
	}

	c := s.ContainerdClient(t)
	img, err := c.Pull(ctx, ref, containerd.WithPullUnpack, containerd.WithResolver(s.Resolver()))
	if err != nil {
		t.Fatalf("pull %s: %v", ref, err)
	}
	ctr, err := c.NewContainer(ctx, "smoke",
		containerd.WithNewSnapshot("smoke-snap", img),
		containerd.WithNewSpec(oci.WithImageConfig(img)))
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	defer ctr.Delete(context.Background(), containerd.WithSnapshotCleanup)

	var stdout, stderr bytes.Buffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr), cio.WithFIFODir(s.FIFODir)))
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	defer stack.KillTask(context.Background(), task)
	exitCh, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start task: %v", err)
	}
	select {
	case st := <-exitCh:
		if code, _, err := st.Result(); err != nil || code != 0 {
			t.Fatalf("container exited %d (%v); stderr: %s", code, err, stderr.String())
		}
	case <-ctx.Done():
		_ = task.Kill(context.Background(), syscall.SIGKILL)
		t.Fatal("container did not exit")
	}
	task.CloseIO(ctx)
	// The io copy finishes after the exit event; give it the task's delete.
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	want := "built in stage one by Linux\nand stage two\n"
	if got := stdout.String(); got != want {
		t.Fatalf("container printed %q, want %q", got, want)
	}
	t.Logf("container printed: %s", strings.TrimSpace(stdout.String()))
}

// TestIntegrationHarnessLeavesNothing checks the teardown contract: after
// Close no daemon runs, nothing is mounted under the folder, the folder is gone.
func TestIntegrationHarnessLeavesNothing(t *testing.T) {
	if err := stack.Available(stack.Options{Buildkit: true, Containerd: true}); err != nil {
		if stack.Required() {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := stack.Up(ctx, stack.Options{Containerd: true, NoBusybox: true}, t.Logf)
	if err != nil {
		if s != nil {
			s.Close()
		}
		t.Fatal(err)
	}
	pids := s.PIDs()
	if len(pids) < 2 {
		t.Fatalf("expected registry and containerd running, got %v", pids)
	}
	dir := s.Dir
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	for name, pid := range pids {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("%s (pid %d) still running after Close", name, pid)
		}
	}
	if m, _ := stack.MountsUnder(dir); len(m) > 0 {
		t.Errorf("mounts left under %s: %v", dir, m)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("%s still exists (err=%v)", dir, err)
	}
}
