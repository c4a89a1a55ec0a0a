package stack

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	bkclient "github.com/moby/buildkit/client"
)

func (s *Stack) startBuildkit(ctx context.Context) error {
	dir := filepath.Join(s.Dir, "bk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	sock := filepath.Join(s.Dir, "bk.sock")
	s.BuildkitAddr = "unix://" + sock
	// The loopback registry is both a plain-HTTP registry and docker.io's
	// mirror, so references like busybox or zlayer/zimagefile resolve there.
	cfg := fmt.Sprintf(`root = %q
[log]
  level = "info"
[grpc]
  address = [%q]
[otel]
  socketPath = %q
[cdi]
  disabled = true
[worker.oci]
  enabled = true
  snapshotter = "auto"
  binary = "runc"
  networkMode = "host"
  gc = true
  reservedSpace = "1GB"
  maxUsedSpace = "8GB"
[worker.containerd]
  enabled = false
[registry.%q]
  http = true
  insecure = true
[registry."docker.io"]
  mirrors = [%q]
`, filepath.Join(dir, "root"), s.BuildkitAddr, filepath.Join(dir, "otel.sock"), s.Registry, s.Registry)
	cfgPath := filepath.Join(dir, "buildkitd.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	env := append(os.Environ(), "PATH="+s.ToolsBin+":"+os.Getenv("PATH")+":/usr/sbin:/sbin")
	d, err := s.startDaemon("buildkitd", env, filepath.Join(s.ToolsBin, "buildkitd"), "--config", cfgPath)
	if err != nil {
		return err
	}
	return waitReady(ctx, d, func(ctx context.Context) error {
		c, err := bkclient.New(ctx, s.BuildkitAddr)
		if err != nil {
			return err
		}
		defer c.Close()
		ws, err := c.ListWorkers(ctx)
		if err != nil {
			return err
		}
		if len(ws) == 0 {
			return errors.New("no workers yet")
		}
		return nil
	})
}

// BuildkitClient connects to the stack's buildkitd; closed at test end.
func (s *Stack) BuildkitClient(t testing.TB) *bkclient.Client {
	t.Helper()
	c, err := bkclient.New(context.Background(), s.BuildkitAddr)
	if err != nil {
		t.Fatalf("buildkit client: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// createBuilder registers a buildx remote builder on buildkitd in a private
// DOCKER_CONFIG, so stock `docker buildx` builds without a Docker engine.
func (s *Stack) createBuilder(ctx context.Context) error {
	s.DockerConfig = filepath.Join(s.Dir, "docker")
	plugins := filepath.Join(s.DockerConfig, "cli-plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		return err
	}
	if err := os.Symlink(filepath.Join(s.ToolsBin, "buildx"), filepath.Join(plugins, "docker-buildx")); err != nil {
		return err
	}
	s.BuilderName = "zl" + strings.TrimPrefix(filepath.Base(s.Dir), "zl")
	out, err := s.Command(ctx, "docker", "buildx", "create", "--name", s.BuilderName,
		"--driver", "remote", s.BuildkitAddr).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker buildx create: %w\n%s", err, out)
	}
	out, err = s.Command(ctx, "docker", "buildx", "inspect", "--bootstrap", s.BuilderName).CombinedOutput()
	if err != nil {
		return fmt.Errorf("docker buildx inspect: %w\n%s", err, out)
	}
	return nil
}

// Command prepares a command that runs with the stack's environment.
func (s *Stack) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = s.Env()
	if !strings.Contains(name, "/") {
		for _, d := range []string{s.BinDir, s.ToolsBin} {
			if p := filepath.Join(d, name); d != "" && isExecutable(p) {
				// exec.Command already recorded the failed PATH lookup.
				cmd.Path, cmd.Err = p, nil
				break
			}
		}
	}
	return cmd
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}
