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

// The zlayer binary, the lean containerd-shim-zlayer-v1 and zlayer-logger are built once per
// test process from the working tree, so tests never run a stale bin/ (and
// containerd finds our shim by its name). ZLAYER_BIN names a folder of
// prebuilt ones instead (tools/test.sh passes make build's bin/).
var (
	binOnce sync.Once
	binDir  string
	binErr  error
)

// Links under which the multi-call binary behaves differently. Its
// containerd-shim-zlayer-v1 face is not among them: as make build does, the
// lean shim is installed under that name.
var binaryLinks = []string{"zlayer-build", "zlayer-runtime"}

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
		// One go build links both in parallel; with -o a folder each lands
		// under its package's name.
		cmd := exec.CommandContext(ctx, "go", "build", "-o", binDir+"/", "./cmd/zlayer", "./cmd/containerd-shim-zlayer-v1", "./cmd/zlayer-logger")
		cmd.Dir = s.RepoRoot
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build ./cmd/zlayer ./cmd/containerd-shim-zlayer-v1 ./cmd/zlayer-logger: %w\n%s", err, b)
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
