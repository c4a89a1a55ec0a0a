package pipeline_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
)

// frontendEnv puts the ZImagefile frontend image, built from this tree, in
// the stack's registry and returns the environment that makes zlayer select
// it for ZImagefiles, as ZLAYER_FRONTEND does for a user with a mirror.
func frontendEnv(t *testing.T, s *stack.Stack) (bool, []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	dir := t.TempDir()
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", filepath.Join(dir, "zimagefile-frontend"), "./cmd/zimagefile-frontend")
	build.Dir = s.RepoRoot
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the frontend: %v\n%s", err, out)
	}
	df := `FROM scratch
COPY zimagefile-frontend /bin/zimagefile-frontend
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
ENTRYPOINT ["/bin/zimagefile-frontend"]
`
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(df), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := s.Registry + "/zlayer/zimagefile:test"
	if err := s.BuildDockerfile(ctx, dir, ref); err != nil {
		t.Fatalf("push the frontend image: %v", err)
	}
	return true, []string{"ZLAYER_FRONTEND=" + ref}
}
