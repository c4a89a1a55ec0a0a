package stack

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
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

const binDirPrefix = "zlayer-bin-"

// removeStaleBinDirs removes the binary folders of test processes that have
// ended; a test process cannot remove its own on exit.
func removeStaleBinDirs() {
	ents, _ := os.ReadDir(os.TempDir())
	for _, e := range ents {
		pid, err := strconv.Atoi(strings.TrimPrefix(e.Name(), binDirPrefix))
		if err != nil || !strings.HasPrefix(e.Name(), binDirPrefix) || pid <= 0 {
			continue
		}
		if syscall.Kill(pid, 0) == syscall.ESRCH {
			_ = os.RemoveAll(filepath.Join(os.TempDir(), e.Name()))
		}
	}
}

var (
	procDirOnce sync.Once
	procDir     string
	procDirErr  error
)

// ProcessDir is a folder for what this test process builds once (binaries),
// named after its PID so that a later process removes it once it is stale.
func ProcessDir() (string, error) {
	procDirOnce.Do(func() {
		removeStaleBinDirs()
		procDir = filepath.Join(os.TempDir(), fmt.Sprintf("%s%d", binDirPrefix, os.Getpid()))
		_ = os.RemoveAll(procDir)
		procDirErr = os.MkdirAll(procDir, 0o755)
	})
	return procDir, procDirErr
}

func (s *Stack) buildBinaries(ctx context.Context) error {
	binOnce.Do(func() {
		if d := os.Getenv("ZLAYER_BIN"); d != "" {
			binDir = d
			return
		}
		if binDir, binErr = ProcessDir(); binErr != nil {
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
