// Package frontendimage builds the zlayer/zimagefile frontend image from the
// working tree and pushes it to an integration stack's registry, where
// buildkitd finds `# syntax=zlayer/zimagefile` through its docker.io mirror.
// Any integration package that builds ZImagefiles with stock buildx uses it.
package frontendimage

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
)

// Syntax is what a ZImagefile's first line names.
const Syntax = "zlayer/zimagefile"

var (
	binOnce sync.Once
	binPath string
	binErr  error

	mu     sync.Mutex
	pushed = map[string]bool{} // registry -> pushed
)

// Binary builds cmd/zimagefile-frontend (static) once per test process and
// returns its path.
func Binary(ctx context.Context, repoRoot string) (string, error) {
	binOnce.Do(func() {
		dir, err := stack.ProcessDir()
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "zimagefile-frontend")
		cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", binPath, "./cmd/zimagefile-frontend")
		cmd.Dir = repoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/zimagefile-frontend: %w\n%s", err, out)
		}
	})
	return binPath, binErr
}

// Push builds the frontend image with docker/Dockerfile.zimagefile (from a
// freshly built binary) and pushes it to s.Registry as zlayer/zimagefile:latest,
// once per registry. It returns the pushed reference.
func Push(t testing.TB, s *stack.Stack) string {
	t.Helper()
	ref := s.Registry + "/" + Syntax + ":latest"
	mu.Lock()
	defer mu.Unlock()
	if pushed[s.Registry] {
		return ref
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := Build(ctx, s, ref); err != nil {
		t.Fatalf("frontend image: %v", err)
	}
	pushed[s.Registry] = true
	return ref
}

// Build builds the frontend image and pushes it as ref.
func Build(ctx context.Context, s *stack.Stack, ref string) error {
	bin, err := Binary(ctx, s.RepoRoot)
	if err != nil {
		return err
	}
	ctxDir, err := os.MkdirTemp(s.Dir, "fectx")
	if err != nil {
		return err
	}
	defer os.RemoveAll(ctxDir)
	data, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(ctxDir, "zimagefile-frontend"), data, 0o755); err != nil {
		return err
	}
	return s.BuildAndPush(ctx, stack.DockerfileBuild{
		Context:       ctxDir,
		DockerfileDir: filepath.Join(s.RepoRoot, "docker"),
		Filename:      "Dockerfile.zimagefile",
		Target:        "frontend",
		BuildArgs:     map[string]string{"BINARY_PATH": "zimagefile-frontend"},
	}, ref)
}
