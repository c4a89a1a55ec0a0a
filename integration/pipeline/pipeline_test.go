// Package pipeline_test runs `zlayer pipeline` and `zlayer build` as a user
// would, against the harness's buildkitd, buildx remote builder and registry.
package pipeline_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/zlayer/zlayer/integration/stack"
)

func start(t *testing.T) *stack.Stack {
	t.Helper()
	return stack.Start(t, stack.Options{Buildkit: true})
}

// writeTree writes files (path -> content) under a new folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

type result struct {
	out  string
	code int
}

// zlayer runs the zlayer binary built from this tree in dir, with env
// changes applied (KEY= removes KEY).
func zlayer(t *testing.T, s *stack.Stack, dir string, env []string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// A full path: the binary is not on this process's PATH.
	cmd := s.Command(ctx, filepath.Join(s.BinDir, "zlayer"), args...)
	cmd.Dir = dir
	for _, kv := range env {
		cmd.Env = setEnv(cmd.Env, kv)
	}
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("zlayer %v: %v", args, err)
	}
	t.Logf("zlayer %s (exit %d):\n%s", strings.Join(args, " "), code, buf.String())
	return result{buf.String(), code}
}

func setEnv(env []string, kv string) []string {
	k, v, _ := strings.Cut(kv, "=")
	out := env[:0:0]
	for _, e := range env {
		if !strings.HasPrefix(e, k+"=") {
			out = append(out, e)
		}
	}
	if v != "" {
		out = append(out, kv)
	}
	return out
}

func nonce(t *testing.T) string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// fourImages is base -> (api, web) -> top. web is a ZImagefile when the
// frontend image is in the registry (frontendRef non-empty), else a
// Dockerfile.
func fourImages(t *testing.T, reg string, zimage bool) string {
	files := map[string]string{
		"ZPipeline.yaml": `version: "1"
vars:
  REGISTRY: ` + reg + `/it
  VERSION: dev
  NONCE: none
defaults:
  build_args:
    REGISTRY: ${REGISTRY}
    VERSION: ${VERSION}
images:
  base:
    file: base/Dockerfile
    context: base
    tags: ["${REGISTRY}/base:${VERSION}", "${REGISTRY}/base:latest"]
    build_args: {NONCE: "${NONCE}"}
  api:
    file: api/Dockerfile
    context: api
    depends_on: [base]
    tags: ["${REGISTRY}/api:${VERSION}"]
  web:
    file: web/` + map[bool]string{true: "ZImagefile", false: "Dockerfile"}[zimage] + `
    context: web
    depends_on: [base]
    tags: ["${REGISTRY}/web:${VERSION}"]
  top:
    file: top/Dockerfile
    context: top
    depends_on: [api]
    tags: ["${REGISTRY}/top:${VERSION}"]
`,
		"base/Dockerfile": "FROM busybox\nARG NONCE\nRUN echo \"base $NONCE\" > /base.txt\n",
		"api/Dockerfile":  "ARG REGISTRY\nARG VERSION\nFROM ${REGISTRY}/base:${VERSION}\nRUN cp /base.txt /api-saw.txt && echo api > /api.txt\n",
		"top/Dockerfile":  "ARG REGISTRY\nARG VERSION\nFROM ${REGISTRY}/api:${VERSION}\nRUN cat /base.txt /api.txt > /top.txt\n",
	}
	if zimage {
		files["web/ZImagefile"] = "version: \"1\"\nargs:\n  REGISTRY: \"\"\n  VERSION: \"\"\nbase: \"${REGISTRY}/base:${VERSION}\"\nsteps:\n  - run: cp /base.txt /web-saw.txt\n"
	} else {
		files["web/Dockerfile"] = "ARG REGISTRY\nARG VERSION\nFROM ${REGISTRY}/base:${VERSION}\nRUN cp /base.txt /web-saw.txt\n"
	}
	return writeTree(t, files)
}

// TestIntegrationPipelineFourImages builds base -> (api, web) -> top with
// --set and --push. A stale base:v9 is in the registry beforehand: the
// dependents must build on this run's base, never on that copy.
func TestIntegrationPipelineFourImages(t *testing.T) {
	s := start(t)
	zimage, env := frontendEnv(t, s)
	dir := fourImages(t, s.Registry, zimage)
	reg := registry{s.Registry}
	version := "v9"

	stale := writeTree(t, map[string]string{"Dockerfile": "FROM busybox\nRUN echo STALE > /base.txt && echo stale > /api.txt\n"})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := s.BuildDockerfile(ctx, stale, s.Registry+"/it/base:"+version); err != nil {
		t.Fatal(err)
	}
	staleDigest, _ := reg.digest("it/base", version)

	n := nonce(t) + ",with a comma"
	r := zlayer(t, s, dir, env, "pipeline", "--no-tui", "--set", "VERSION="+version, "--set", "NONCE="+n, "--push")
	if r.code != 0 {
		t.Fatalf("pipeline failed (exit %d)", r.code)
	}
	for _, w := range []string{"wave 0: base", "wave 1: api, web", "wave 2: top", "4 built, 0 failed, 0 skipped"} {
		if !strings.Contains(r.out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	for _, ref := range [][2]string{{"it/base", version}, {"it/base", "latest"}, {"it/api", version}, {"it/web", version}, {"it/top", version}} {
		d, err := reg.digest(ref[0], ref[1])
		if err != nil {
			t.Errorf("tag %s:%s not pushed: %v", ref[0], ref[1], err)
			continue
		}
		if !strings.Contains(r.out, d) {
			t.Errorf("summary does not show the pushed digest %s of %s:%s", d, ref[0], ref[1])
		}
	}
	if d, _ := reg.digest("it/base", version); d == staleDigest {
		t.Errorf("base:%s still holds the stale image", version)
	}
	want := "base " + n + "\n"
	if got := mustFile(t, reg, "it/top", version, "/top.txt"); got != want+"api\n" {
		t.Errorf("top's /top.txt = %q, want %q: top did not build on this run's base and api", got, want+"api\n")
	}
	if got := mustFile(t, reg, "it/web", version, "/web-saw.txt"); got != want {
		t.Errorf("web's /web-saw.txt = %q, want %q", got, want)
	}
	if got := mustFile(t, reg, "it/api", version, "/api-saw.txt"); got != want {
		t.Errorf("api's /api-saw.txt = %q, want %q", got, want)
	}
}

// TestIntegrationPipelineFailureIsolation: a failing image does not stop an
// independent sibling; its dependent is skipped; the exit status is non-zero
// and the summary lists every image.
func TestIntegrationPipelineFailureIsolation(t *testing.T) {
	s := start(t)
	dir := writeTree(t, map[string]string{
		"ZPipeline.yaml": `images:
  broken:
    file: broken.Dockerfile
    tags: [` + s.Registry + `/it/broken:1]
  sibling:
    file: sibling.Dockerfile
    tags: [` + s.Registry + `/it/sibling:1]
  dependent:
    file: dependent.Dockerfile
    depends_on: [broken]
    tags: [` + s.Registry + `/it/dependent:1]
push:
  after_all: true
`,
		"broken.Dockerfile":    "FROM busybox\nRUN echo about to fail >&2; exit 3\n",
		"sibling.Dockerfile":   "FROM busybox\nRUN sleep 2 && echo ok > /ok\n",
		"dependent.Dockerfile": "FROM broken\nRUN true\n",
	})
	r := zlayer(t, s, dir, nil, "pipeline", "--no-tui")
	if r.code == 0 {
		t.Fatal("pipeline with a failing image exited 0")
	}
	for _, w := range []string{
		"[broken   ] FAILED", "exit code: 3", "about to fail",
		"[dependent] skipped: dependency broken failed",
		"1 built, 1 failed, 1 skipped",
		"nothing was pushed",
	} {
		if !strings.Contains(r.out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	sum := summaryLines(r.out)
	if !strings.Contains(sum["sibling"], "built") || !strings.Contains(sum["sibling"], "sha256:") {
		t.Errorf("sibling line %q", sum["sibling"])
	}
	if !strings.Contains(sum["broken"], "failed") || !strings.Contains(sum["dependent"], "skipped") {
		t.Errorf("summary lines %q", sum)
	}
	if _, err := (registry{s.Registry}).digest("it/sibling", "1"); err == nil {
		t.Error("sibling was pushed although the run failed; pushing waits for all")
	}
}

// summaryLines maps image names to their line in the final summary table.
func summaryLines(out string) map[string]string {
	m := map[string]string{}
	i := strings.LastIndex(out, "IMAGE")
	if i < 0 {
		return m
	}
	for _, l := range strings.Split(out[i:], "\n")[1:] {
		f := strings.Fields(l)
		if len(f) > 1 {
			m[f[0]] = l
		}
	}
	return m
}

// TestIntegrationPipelineOnlyAndPrint: --only builds the named image and its
// dependencies; --print emits a bake file buildx itself accepts.
func TestIntegrationPipelineOnlyAndPrint(t *testing.T) {
	s := start(t)
	dir := fourImages(t, s.Registry, false)
	r := zlayer(t, s, dir, nil, "pipeline", "--no-tui", "--only", "api")
	if r.code != 0 {
		t.Fatalf("exit %d", r.code)
	}
	sum := summaryLines(r.out)
	if len(sum) != 2 || !strings.Contains(sum["base"], "built") || !strings.Contains(sum["api"], "built") {
		t.Errorf("--only api built %v", sum)
	}
	if strings.Contains(r.out, "[web") || strings.Contains(r.out, "[top") {
		t.Error("--only api built web or top")
	}

	r = zlayer(t, s, dir, nil, "pipeline", "--print", "--set", "VERSION=p1")
	if r.code != 0 {
		t.Fatalf("--print exit %d", r.code)
	}
	var def struct {
		Target map[string]struct {
			Contexts map[string]string `json:"contexts"`
			Tags     []string          `json:"tags"`
		} `json:"target"`
	}
	if err := json.Unmarshal([]byte(r.out), &def); err != nil {
		t.Fatalf("--print is not JSON: %v", err)
	}
	if got := def.Target["top"].Contexts[s.Registry+"/it/api:p1"]; got != "target:api" {
		t.Errorf("top's context for api = %q", got)
	}
	if len(def.Target) != 4 || def.Target["base"].Tags[0] != s.Registry+"/it/base:p1" {
		t.Errorf("definition %+v", def.Target)
	}
	bakeFile := filepath.Join(dir, "printed.json")
	if err := os.WriteFile(bakeFile, []byte(r.out), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := s.Command(ctx, "docker", "buildx", "bake", "-f", bakeFile, "--print")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("buildx rejects the printed definition: %v\n%s", err, out)
	}
}

// TestIntegrationPipelineErrors: bad pipelines fail before building, with
// file:line:col.
func TestIntegrationPipelineErrors(t *testing.T) {
	s := start(t)
	dir := writeTree(t, map[string]string{
		"ZPipeline.yaml": "images:\n  a:\n    file: Dockerfile\n    depends_on: [b]\n  b:\n    file: Dockerfile\n    depends_on: [a]\n    tags: [\"x:${UNDEFINED}\"]\n",
		"Dockerfile":     "FROM busybox\n",
	})
	r := zlayer(t, s, dir, nil, "pipeline", "--no-tui")
	if r.code == 0 {
		t.Fatal("bad pipeline exited 0")
	}
	for _, w := range []string{"ZPipeline.yaml:8:12: undefined variable ${UNDEFINED}", "ZPipeline.yaml:4:18: dependency cycle: a -> b -> a"} {
		if !strings.Contains(r.out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
}

// TestIntegrationPipelinePushFailure: every image builds, a push fails, the
// run fails and says which image and tag.
func TestIntegrationPipelinePushFailure(t *testing.T) {
	s := start(t)
	dir := writeTree(t, map[string]string{
		"ZPipeline.yaml": `images:
  good:
    file: Dockerfile
    tags: [` + s.Registry + `/it/good:1]
  nowhere:
    file: Dockerfile
    depends_on: [good]
    tags: ["127.0.0.1:1/it/nowhere:1"]
`,
		"Dockerfile": "FROM busybox\nRUN echo hi > /hi\n",
	})
	r := zlayer(t, s, dir, nil, "pipeline", "--no-tui", "--push")
	if r.code == 0 {
		t.Fatal("a failed push exited 0")
	}
	for _, w := range []string{"2 built, 0 failed, 0 skipped, 1 push failed", "[nowhere] PUSH FAILED: push 127.0.0.1:1/it/nowhere:1", "zlayer: push failed"} {
		if !strings.Contains(r.out, w) {
			t.Errorf("output lacks %q", w)
		}
	}
	if _, err := (registry{s.Registry}).digest("it/good", "1"); err != nil {
		t.Errorf("good was not pushed: %v", err)
	}
}

// TestIntegrationPipelineFailFast: after the first failure nothing new
// starts; builds already running finish.
func TestIntegrationPipelineFailFast(t *testing.T) {
	s := start(t)
	dir := writeTree(t, map[string]string{
		"ZPipeline.yaml": `images:
  quickfail: {file: fail.Dockerfile}
  slow: {file: slow.Dockerfile}
  after: {file: after.Dockerfile, depends_on: [slow]}
`,
		"fail.Dockerfile":  "FROM busybox\nRUN exit 1\n",
		"slow.Dockerfile":  "FROM busybox\nRUN sleep 4\n",
		"after.Dockerfile": "FROM slow\nRUN true\n",
	})
	r := zlayer(t, s, dir, nil, "pipeline", "--no-tui", "--fail-fast")
	if r.code == 0 {
		t.Fatal("exit 0")
	}
	sum := summaryLines(r.out)
	if !strings.Contains(sum["quickfail"], "failed") || !strings.Contains(sum["slow"], "built") ||
		!strings.Contains(sum["after"], "not started: --fail-fast after quickfail failed") {
		t.Errorf("summary %q", sum)
	}
	if strings.Contains(r.out, "[after    ] building") {
		t.Error("after started although --fail-fast had tripped")
	}
}
