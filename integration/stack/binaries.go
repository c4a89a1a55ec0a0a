package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
)

// The zlayer binary is built once per test process from the working tree, so
// tests never run a stale bin/ (and containerd finds our shim by its name).
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// Links under which the multi-call binary behaves differently.
var binaryLinks = []string{"zlayer-build", "zlayer-runtime", "containerd-shim-zlayer-v1"}

func (s *Stack) buildBinaries(ctx context.Context) error {
	binOnce.Do(func() {
		if d := os.Getenv("ZLAYER_BIN"); d != "" {
			binDir = d
			return
		}
		binDir, binErr = os.MkdirTemp("", "zlayer-bin")
		if binErr != nil {
			return
		}
		out := filepath.Join(binDir, "zlayer")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/zlayer")
		cmd.Dir = s.RepoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/zlayer: %w\n%s", err, b)
			return
		}
		for _, l := range binaryLinks {
			if err := os.Symlink("zlayer", filepath.Join(binDir, l)); err != nil {
				binErr = err
				return
			}
		}
	})
	s.BinDir = binDir
	return binErr
}
