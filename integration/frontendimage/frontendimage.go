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

	bkclient "github.com/moby/buildkit/client"
	"github.com/tonistiigi/fsutil"

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
		dir, err := os.MkdirTemp("", "zlfrontend")
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
	ctxFS, err := fsutil.NewFS(ctxDir)
	if err != nil {
		return err
	}
	dfFS, err := fsutil.NewFS(filepath.Join(s.RepoRoot, "docker"))
	if err != nil {
		return err
	}
	c, err := bkclient.New(ctx, s.BuildkitAddr)
	if err != nil {
		return err
	}
	defer c.Close()
	opt := bkclient.SolveOpt{
		Frontend: "dockerfile.v0",
		FrontendAttrs: map[string]string{
			"filename":              "Dockerfile.zimagefile",
			"target":                "frontend",
			"build-arg:BINARY_PATH": "zimagefile-frontend",
		},
		LocalMounts: map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports: []bkclient.ExportEntry{{
			Type:  bkclient.ExporterImage,
			Attrs: map[string]string{"name": ref, "push": "true", "registry.insecure": "true"},
		}},
	}
	ch := make(chan *bkclient.SolveStatus)
	go func() {
		for range ch { //nolint:revive // drain progress
		}
	}()
	if _, err := c.Solve(ctx, nil, opt, ch); err != nil {
		return fmt.Errorf("build %s: %w", ref, err)
	}
	return nil
}
