// Package dockernode builds the zlayer-node image and runs it in the
// harness's dockerd, for the end-to-end test and the benchmark: the image
// built with stock `docker buildx bake` on the harness builder, loaded into
// dockerd, run privileged with a state volume and a specs folder.
package dockernode

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
)

// Image is the tag the bake target gives the node image.
const Image = "zlayer-node:latest"

// RepoRoot is the module's root folder (the bake file and the Dockerfile
// live there).
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the source tree")
	}
	return filepath.Abs(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Run runs a command with the stack's environment in dir and returns its
// combined output, with the output in the error when it fails.
func Run(ctx context.Context, s *stack.Stack, dir, name string, args ...string) (string, error) {
	cmd := s.Command(ctx, name, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String(), nil
}

// Docker runs the docker CLI against the stack's dockerd.
func Docker(ctx context.Context, s *stack.Stack, args ...string) (string, error) {
	return Run(ctx, s, s.Dir, "docker", args...)
}

// Privileged is what `docker run` needs for --privileged here: on machines
// whose capability bounding set lacks one --privileged asks for, the
// harness's runtime that drops exactly those.
func Privileged() []string {
	if len(stack.MissingPrivilegedCaps()) > 0 {
		return []string{"--runtime", stack.PrivilegedRuntime, "--privileged"}
	}
	return []string{"--privileged"}
}

// BuildImage prepares the prebuilt inputs (the working tree's zlayer and
// lean shim, docker/node-deps.sh), bakes the node target into a docker-format tar
// and loads it into dockerd. It returns the tar's path.
func BuildImage(ctx context.Context, s *stack.Stack) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	if out, err := Run(ctx, s, root, "bash", "docker/node-deps.sh"); err != nil {
		return out, err
	}
	// The binaries must be inside the build context; a per-process folder
	// keeps concurrent test processes apart.
	rel := filepath.Join(".cache", "node", fmt.Sprintf("test-%d", os.Getpid()))
	dir := filepath.Join(root, rel)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	// Built as `make build` does (static, stripped), so that the image is
	// the size a user's is.
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags", "-s -w", "-o", dir+"/", "./cmd/zlayer", "./cmd/containerd-shim-zlayer-v1", "./cmd/zlayer-logger")
	build.Dir = root
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-buildvcs=false")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build zlayer and its shim: %w\n%s", err, out)
	}
	tar := filepath.Join(s.Dir, "zlayer-node.tar")
	if _, err := Run(ctx, s, root, "docker", "buildx", "bake", "--allow=fs.write="+s.Dir, "node",
		"--set", "node.args.BINARY_PATH="+filepath.Join(rel, "zlayer"),
		"--set", "node.args.SHIM_BINARY_PATH="+filepath.Join(rel, "containerd-shim-zlayer-v1"),
		"--set", "node.args.LOGGER_BINARY_PATH="+filepath.Join(rel, "zlayer-logger"),
		"--set", "node.args.TOOLS_PATH="+mustRel(root, s.ToolsBin),
		"--set", "node.output=type=docker,dest="+tar); err != nil {
		return "", err
	}
	if _, err := Docker(ctx, s, "load", "-i", tar); err != nil {
		return "", err
	}
	return tar, nil
}

func mustRel(root, p string) string {
	r, err := filepath.Rel(root, p)
	if err != nil || strings.HasPrefix(r, "..") {
		return ".cache/tools/bin"
	}
	return r
}

// Spec is a one-replica busybox httpd on the node's port 80 answering Body,
// from an image imported with `zlayer image import` (pull_policy never), so
// the node needs no route to a registry.
const Body = "hello-from-zlayer-in-docker"

const Spec = `version: v1
deployment: web
services:
  httpd:
    image:
      name: docker.io/library/busybox:latest
      pull_policy: never
    command:
      entrypoint: ["/bin/sh", "-c"]
      args: ["mkdir -p /www && echo ` + Body + ` > /www/index.html && exec httpd -f -p 80 -h /www"]
    network_mode: host
    endpoints:
      - name: http
        protocol: http
        port: 80
    scale:
      mode: fixed
      replicas: 1
    health:
      check:
        type: tcp
        port: 80
`

// PrepareSpecs writes app.yaml and busybox.tar (docker save of busybox,
// which dockerd pulls through its mirror, the harness registry) into dir.
func PrepareSpecs(ctx context.Context, s *stack.Stack, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "app.yaml"), []byte(Spec), 0o644); err != nil {
		return err
	}
	if _, err := Docker(ctx, s, "pull", "-q", "busybox:latest"); err != nil {
		return err
	}
	_, err := Docker(ctx, s, "save", "-o", filepath.Join(dir, "busybox.tar"), "busybox:latest")
	return err
}

// WaitReady polls `zlayer-runtime status` in the container until the node
// answers.
func WaitReady(ctx context.Context, s *stack.Stack, name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		out, err := Docker(ctx, s, "exec", name, "zlayer-runtime", "status")
		if err == nil {
			return nil
		}
		last = out
		time.Sleep(100 * time.Millisecond)
	}
	logs, _ := Docker(ctx, s, "logs", "--tail", "40", name)
	return fmt.Errorf("node in %s not ready after %v; last status: %s\nlogs:\n%s", name, timeout, last, logs)
}

// FreePort is a free TCP port on the loopback.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
