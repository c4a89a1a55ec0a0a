// Package frontend_test builds ZImagefiles on the real stack: with stock
// `docker buildx build` through the zlayer/zimagefile frontend image, and in
// process through frontend.Build.
package frontend_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	bkclient "github.com/moby/buildkit/client"
	gwclient "github.com/moby/buildkit/frontend/gateway/client"
	"github.com/moby/buildkit/frontend/subrequests/targets"
	"github.com/moby/buildkit/solver/errdefs"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/tonistiigi/fsutil"

	"github.com/zlayer/zlayer/frontend"
	"github.com/zlayer/zlayer/integration/frontendimage"
	"github.com/zlayer/zlayer/integration/scenario"
	"github.com/zlayer/zlayer/integration/stack"
)

func repoPath(t *testing.T, rel string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", rel))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(content, "#!") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
}

// pushStandIns publishes busybox-based stand-ins for the public images the
// runtime templates and wasm toolchains name, so no network is needed.
func pushStandIns(t *testing.T, s *stack.Stack) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	node := t.TempDir()
	writeFiles(t, node, map[string]string{
		"npm":  "#!/bin/sh\necho \"stand-in npm $*\"\ncase \"$1\" in ci|install) mkdir -p node_modules/.stand-in ;; esac\n",
		"node": "#!/bin/sh\necho \"stand-in node $*\"\n",
		"Dockerfile": "FROM busybox:latest\nCOPY npm node /usr/local/bin/\n" +
			"RUN echo 'node:x:1000:1000::/home/node:/bin/sh' >> /etc/passwd && echo 'node:x:1000:' >> /etc/group\n" +
			"ENV NODE_VERSION=22.0.0-stand-in\nCMD [\"node\"]\n",
	})
	if err := s.BuildDockerfile(ctx, node, s.Registry+"/library/node:22-slim"); err != nil {
		t.Fatal(err)
	}
	sdk := t.TempDir()
	writeFiles(t, sdk, map[string]string{
		// A fake clang: writes an empty but valid wasm module where -o says.
		"clang": "#!/bin/sh\nout=a.out\nwhile [ $# -gt 0 ]; do case \"$1\" in -o) out=$2; shift ;; esac; shift; done\n" +
			"printf '\\000asm\\001\\000\\000\\000' > \"$out\"\n",
		"Dockerfile": "FROM busybox:latest\nCOPY clang /usr/bin/clang\nENV CC=/usr/bin/clang\n",
	})
	if err := s.BuildDockerfile(ctx, sdk, s.Registry+"/zltest/wasi-sdk:1"); err != nil {
		t.Fatal(err)
	}
}

type buildxResult struct {
	stdout, stderr string
	err            error
}

func buildx(t *testing.T, s *stack.Stack, args ...string) buildxResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := s.Command(ctx, "docker", append([]string{"buildx"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return buildxResult{out.String(), errb.String(), err}
}

// buildxImage builds with buildx into an OCI layout and loads it.
func buildxImage(t *testing.T, s *stack.Stack, file, ctxDir string, extra ...string) *image {
	t.Helper()
	out := filepath.Join(t.TempDir(), "oci")
	args := append([]string{"build", "--progress=plain", "--provenance=false", "-f", file,
		"--output", "type=oci,dest=" + out + ",tar=false"}, extra...)
	r := buildx(t, s, append(args, ctxDir)...)
	if r.err != nil {
		t.Fatalf("buildx build %s: %v\n%s", file, r.err, r.stderr)
	}
	return loadImage(t, out)
}

// inProcess builds with frontend.Build in this process.
func inProcess(t *testing.T, s *stack.Stack, file, ctxDir string, attrs map[string]string, locals map[string]string) (*image, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "oci")
	mounts := map[string]fsutil.FS{}
	for name, dir := range map[string]string{"context": ctxDir, "dockerfile": filepath.Dir(file)} {
		locals[name] = dir
	}
	for name, dir := range locals {
		fs, err := fsutil.NewFS(dir)
		if err != nil {
			t.Fatal(err)
		}
		mounts[name] = fs
	}
	fa := map[string]string{"filename": filepath.Base(file)}
	for k, v := range attrs {
		fa[k] = v
	}
	opt := bkclient.SolveOpt{
		FrontendAttrs: fa,
		LocalMounts:   mounts,
		Exports:       []bkclient.ExportEntry{{Type: bkclient.ExporterOCI, OutputDir: out, Attrs: map[string]string{"tar": "false"}}},
	}
	ch := make(chan *bkclient.SolveStatus)
	go func() {
		for range ch { //nolint:revive // drain progress
		}
	}()
	if _, err := s.BuildkitClient(t).Build(ctx, opt, "zlayer-frontend-test", frontend.Build, ch); err != nil {
		return nil, err
	}
	return loadImage(t, out), nil
}

// subrequest runs a frontend subrequest (e.g. frontend.targets) in process
// and returns its result.json.
func subrequest(t *testing.T, s *stack.Stack, file, ctxDir, request string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	ctxFS, _ := fsutil.NewFS(ctxDir)
	dfFS, _ := fsutil.NewFS(filepath.Dir(file))
	opt := bkclient.SolveOpt{
		FrontendAttrs: map[string]string{"filename": filepath.Base(file), "requestid": request, "frontend.caps": "moby.buildkit.frontend.subrequests"},
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
	}
	var result []byte
	_, err := s.BuildkitClient(t).Build(ctx, opt, "zlayer-frontend-test", func(ctx context.Context, c gwclient.Client) (*gwclient.Result, error) {
		res, err := frontend.Build(ctx, c)
		if err != nil {
			return nil, err
		}
		result = res.Metadata["result.json"]
		return res, nil
	}, nil)
	if err != nil {
		t.Fatalf("%s: %v", request, err)
	}
	return result
}

// frontendFixture is the one stack every frontend test builds on: buildkitd
// with the frontend image and the stand-in images already in its registry,
// and the examples the tests build.
type frontendFixture struct {
	s        *stack.Stack
	examples string // examples/zimagefile
	multi    string // its multistage example
	single   string // its single-stage example
}

// startFrontendFixture starts the stack once for all frontend tests; its
// cleanup (stack.Start's) stops every daemon by PID when the parent test ends.
func startFrontendFixture(t *testing.T) *frontendFixture {
	t.Helper()
	s := stack.Start(t, stack.Options{Buildkit: true})
	frontendimage.Push(t, s)
	pushStandIns(t, s)
	examples := repoPath(t, "examples/zimagefile")
	return &frontendFixture{
		s:        s,
		examples: examples,
		multi:    filepath.Join(examples, "multistage"),
		single:   filepath.Join(examples, "single-stage"),
	}
}

// frontendTests are the behaviours checked on one stack, in the order they
// run; each is a subtest of TestIntegrationFrontend under its name, so
// `-run 'TestIntegrationFrontend/buildx/multistage'` picks one.
var frontendTests = []scenario.Step[*frontendFixture]{
	{Name: "frontend-image", Run: testFrontendImage},
	{Name: "buildx/multistage", Run: testBuildxMultistage},
	{Name: "inprocess/multistage", Run: testInProcessMultistage},
	{Name: "buildx/target", Run: testBuildxTarget},
	{Name: "inprocess/target", Run: testInProcessTarget},
	{Name: "buildx/single-stage", Run: testBuildxSingleStage},
	{Name: "inprocess/single-stage", Run: testInProcessSingleStage},
	{Name: "buildx/build-arg", Run: testBuildxBuildArg},
	{Name: "inprocess/build-arg", Run: testInProcessBuildArg},
	{Name: "buildx/equivalence", Run: testBuildxEquivalence},
	{Name: "buildx/named-context", Run: testBuildxNamedContext},
	{Name: "inprocess/named-context", Run: testInProcessNamedContext},
	{Name: "buildx/syntax-build-arg", Run: testBuildxSyntaxBuildArg},
	{Name: "buildx/call-targets", Run: testBuildxCallTargets},
	{Name: "buildx/call-outline-and-check", Run: testBuildxCallOutlineAndCheck},
	{Name: "inprocess/targets", Run: testInProcessTargets},
	{Name: "inprocess/describe", Run: testInProcessDescribe},
	{Name: "inprocess/dockerfile-passthrough", Run: testInProcessDockerfilePassthrough},
	{Name: "buildx/invalid-file", Run: testBuildxInvalidFile},
	{Name: "buildx/check-invalid-file", Run: testBuildxCheckInvalidFile},
	{Name: "inprocess/invalid-file", Run: testInProcessInvalidFile},
	{Name: "buildx/failing-run", Run: testBuildxFailingRun},
	{Name: "inprocess/failing-run", Run: testInProcessFailingRun},
	{Name: "buildx/runtime-template", Run: testBuildxRuntimeTemplate},
	{Name: "inprocess/runtime-template", Run: testInProcessRuntimeTemplate},
	{Name: "buildx/bake-target-context", Run: testBuildxBakeTargetContext},
	{Name: "buildx/dockerignore", Run: testBuildxDockerignore},
	{Name: "buildx/multi-platform", Run: testBuildxMultiPlatform},
	{Name: "buildx/check-warning-location", Run: testBuildxCheckWarningLocation},
	{Name: "buildx/wasm-module", Run: testBuildxWasmModule},
	{Name: "buildx/wasm-c-toolchain", Run: testBuildxWasmCToolchain},
	{Name: "inprocess/wasm-c-toolchain", Run: testInProcessWasmCToolchain},
	{Name: "inprocess/wasm-module", Run: testInProcessWasmModule},
	{Name: "inprocess/secrets", Run: testInProcessSecrets},
	{Name: "buildx/secrets", Run: testBuildxSecrets},
	{Name: "inprocess/missing-secret", Run: testInProcessMissingSecret},
	{Name: "inprocess/outline-secrets", Run: testInProcessOutlineSecrets},
}

func TestIntegrationFrontend(t *testing.T) {
	scenario.Each(t, startFrontendFixture(t), frontendTests)
}

// mustInProcess is inProcess for a build that has to succeed.
func mustInProcess(t *testing.T, s *stack.Stack, file, ctxDir string, attrs map[string]string, locals map[string]string) *image {
	t.Helper()
	img, err := inProcess(t, s, file, ctxDir, attrs, locals)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func testFrontendImage(t *testing.T, fx *frontendFixture) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res := fx.s.Resolver()
	name, desc, err := res.Resolve(ctx, "docker.io/"+frontendimage.Syntax+":latest")
	if err != nil {
		t.Fatal(err)
	}
	fetcher, err := res.Fetcher(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	fetch := func(d ocispecs.Descriptor, into any) {
		rc, err := fetcher.Fetch(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if err := json.NewDecoder(rc).Decode(into); err != nil {
			t.Fatal(err)
		}
	}
	var m ocispecs.Manifest
	fetch(desc, &m)
	var cfg ocispecs.Image
	fetch(m.Config, &cfg)
	want := map[string]string{
		"moby.buildkit.frontend.network.none": "true",
		"moby.buildkit.frontend.caps":         "moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts",
	}
	for k, v := range want {
		if cfg.Config.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, cfg.Config.Labels[k], v)
		}
	}
	if !reflect.DeepEqual(cfg.Config.Entrypoint, []string{"/bin/zimagefile-frontend"}) || len(m.Layers) != 1 {
		t.Errorf("entrypoint %q, %d layers (want FROM scratch + the binary)", cfg.Config.Entrypoint, len(m.Layers))
	}
}

// checkMulti checks the multistage example's output stage.
func checkMulti(t *testing.T, img *image) {
	if got := img.Config.Config.Cmd; !reflect.DeepEqual(got, []string{"/usr/local/bin/myapp"}) {
		t.Errorf("Cmd = %q", got)
	}
	if _, ok := img.Config.Config.ExposedPorts["8080/tcp"]; !ok || len(img.Config.Config.ExposedPorts) != 1 {
		t.Errorf("ExposedPorts = %v", img.Config.Config.ExposedPorts)
	}
	app := img.file(t, "/usr/local/bin/myapp")
	if app.Mode != 0o755 || !strings.Contains(app.Data, "hello from myapp") {
		t.Errorf("myapp: mode %o data %q", app.Mode, app.Data)
	}
	if _, ok := img.Files["/build/src/main.rs"]; ok {
		t.Error("builder files leaked into the output stage")
	}
}

func testBuildxMultistage(t *testing.T, fx *frontendFixture) {
	checkMulti(t, buildxImage(t, fx.s, filepath.Join(fx.multi, "ZImagefile"), fx.multi))
}

func testInProcessMultistage(t *testing.T, fx *frontendFixture) {
	checkMulti(t, mustInProcess(t, fx.s, filepath.Join(fx.multi, "ZImagefile"), fx.multi, nil, map[string]string{}))
}

// checkTarget checks the multistage example's builder stage, built alone.
func checkTarget(t *testing.T, img *image) {
	if img.Config.Config.WorkingDir != "/build" || len(img.Config.Config.Cmd) != 1 || img.Config.Config.Cmd[0] != "sh" {
		t.Errorf("builder config: workdir %q cmd %q", img.Config.Config.WorkingDir, img.Config.Config.Cmd)
	}
	if e := img.file(t, "/build/target/release/myapp"); !strings.Contains(e.Data, "myapp") {
		t.Errorf("builder output %q", e.Data)
	}
}

func testBuildxTarget(t *testing.T, fx *frontendFixture) {
	checkTarget(t, buildxImage(t, fx.s, filepath.Join(fx.multi, "ZImagefile"), fx.multi, "--target", "builder"))
}

func testInProcessTarget(t *testing.T, fx *frontendFixture) {
	checkTarget(t, mustInProcess(t, fx.s, filepath.Join(fx.multi, "ZImagefile"), fx.multi, map[string]string{"target": "builder"}, map[string]string{}))
}

func testBuildxSingleStage(t *testing.T, fx *frontendFixture) {
	img := buildxImage(t, fx.s, filepath.Join(fx.single, "ZImagefile"), fx.single)
	checkSingle(t, img, "hello")
}

func testInProcessSingleStage(t *testing.T, fx *frontendFixture) {
	checkSingle(t, mustInProcess(t, fx.s, filepath.Join(fx.single, "ZImagefile"), fx.single, nil, map[string]string{}), "hello")
}

func testBuildxBuildArg(t *testing.T, fx *frontendFixture) {
	img := buildxImage(t, fx.s, filepath.Join(fx.single, "ZImagefile"), fx.single, "--build-arg", "GREETING=bonjour", "--label", "com.example.extra=cli", "--no-cache")
	checkSingle(t, img, "bonjour")
	if img.Config.Config.Labels["com.example.extra"] != "cli" {
		t.Errorf("--label not applied: %v", img.Config.Config.Labels)
	}
}

func testInProcessBuildArg(t *testing.T, fx *frontendFixture) {
	checkSingle(t, mustInProcess(t, fx.s, filepath.Join(fx.single, "ZImagefile"), fx.single, map[string]string{"build-arg:GREETING": "hej"}, map[string]string{}), "hej")
}

func testBuildxEquivalence(t *testing.T, fx *frontendFixture) {
	s, single := fx.s, fx.single
	zimg := buildxImage(t, s, filepath.Join(single, "ZImagefile"), single)
	// The hand-written Dockerfile beside the example, through the stock
	// Dockerfile frontend.
	dimg := buildxImage(t, s, filepath.Join(single, "Dockerfile"), single)
	compareImages(t, zimg, dimg)
	// And what `zlayer convert` prints, which users keep if they leave.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// A path, not a bare name: the stack's Command only finds bare names
	// already on the host PATH.
	conv, err := s.Command(ctx, filepath.Join(s.BinDir, "zlayer"), "convert", filepath.Join(single, "ZImagefile")).Output()
	if err != nil {
		t.Fatalf("zlayer convert: %v", err)
	}
	convFile := filepath.Join(t.TempDir(), "Dockerfile.converted")
	if err := os.WriteFile(convFile, conv, 0o644); err != nil {
		t.Fatal(err)
	}
	compareImages(t, zimg, buildxImage(t, s, convFile, single))
}

func testBuildxNamedContext(t *testing.T, fx *frontendFixture) {
	dir, extra := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"ZImagefile": "# syntax=zlayer/zimagefile\nbase: busybox\nsteps:\n  - copy: /hello.txt\n    from: extra\n    to: /hello.txt\n"})
	writeFiles(t, extra, map[string]string{"hello.txt": "from a named context\n"})
	img := buildxImage(t, fx.s, filepath.Join(dir, "ZImagefile"), dir, "--build-context", "extra="+extra)
	if e := img.file(t, "/hello.txt"); e.Data != "from a named context\n" {
		t.Errorf("hello.txt = %q", e.Data)
	}
	// base: may name a context too: swap the base image for a stage of
	// files.
	writeFiles(t, dir, map[string]string{"Z2": "# syntax=zlayer/zimagefile\nbase: mybase\ncmd: [\"x\"]\n"})
	img = buildxImage(t, fx.s, filepath.Join(dir, "Z2"), dir, "--build-context", "mybase="+extra)
	if e := img.file(t, "/hello.txt"); e.Data != "from a named context\n" {
		t.Errorf("base context hello.txt = %q", e.Data)
	}
}

func testInProcessNamedContext(t *testing.T, fx *frontendFixture) {
	dir, extra := t.TempDir(), t.TempDir()
	writeFiles(t, dir, map[string]string{"ZImagefile": "base: busybox\nsteps:\n  - copy: /hello.txt\n    from: extra\n    to: /hello.txt\n"})
	writeFiles(t, extra, map[string]string{"hello.txt": "in process\n"})
	img := mustInProcess(t, fx.s, filepath.Join(dir, "ZImagefile"), dir, map[string]string{"context:extra": "local:extra"}, map[string]string{"extra": extra})
	if e := img.file(t, "/hello.txt"); e.Data != "in process\n" {
		t.Errorf("hello.txt = %q", e.Data)
	}
}

func testBuildxSyntaxBuildArg(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ZImagefile": "base: busybox\nsteps:\n  - run: echo no syntax line > /note\n"})
	img := buildxImage(t, fx.s, filepath.Join(dir, "ZImagefile"), dir, "--build-arg", "BUILDKIT_SYNTAX="+frontendimage.Syntax)
	if e := img.file(t, "/note"); e.Data != "no syntax line\n" {
		t.Errorf("note = %q", e.Data)
	}
}

func testBuildxCallTargets(t *testing.T, fx *frontendFixture) {
	r := buildx(t, fx.s, "build", "--call", "targets", "-f", filepath.Join(fx.multi, "ZImagefile"), fx.multi)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	for _, want := range []string{"builder", "compiles the app with a cached registry", "runtime (default)", "is the small output image"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("targets output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func testBuildxCallOutlineAndCheck(t *testing.T, fx *frontendFixture) {
	r := buildx(t, fx.s, "build", "--call", "outline", "-f", filepath.Join(fx.multi, "ZImagefile"), fx.multi)
	if r.err != nil || !strings.Contains(r.stdout, "APP_NAME") || !strings.Contains(r.stdout, "names the binary the builder writes") || strings.Contains(r.stdout, "APP_NAME APP_NAME") {
		t.Errorf("outline: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	r = buildx(t, fx.s, "build", "--call", "check", "-f", filepath.Join(fx.single, "ZImagefile"), fx.single)
	if r.err != nil {
		t.Errorf("check: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	if strings.Contains(r.stdout+r.stderr, "Dockerfile") {
		t.Errorf("check mentions a Dockerfile:\n%s%s", r.stdout, r.stderr)
	}
}

func testInProcessTargets(t *testing.T, fx *frontendFixture) {
	dt := subrequest(t, fx.s, filepath.Join(fx.multi, "ZImagefile"), fx.multi, targets.RequestTargets)
	var l targets.List
	if err := json.Unmarshal(dt, &l); err != nil {
		t.Fatal(err)
	}
	if len(l.Targets) != 2 || l.Targets[0].Name != "builder" || !l.Targets[1].Default {
		t.Fatalf("targets: %+v", l.Targets)
	}
	// Locations point into the ZImagefile: the builder stage starts on
	// the line of its key.
	src, _ := os.ReadFile(filepath.Join(fx.multi, "ZImagefile"))
	if len(l.Sources) != 1 || !bytes.Equal(l.Sources[0], src) {
		t.Error("targets sources are not the ZImagefile")
	}
	line := lineOf(t, src, "  builder:")
	if loc := l.Targets[0].Location; loc == nil || int(loc.Ranges[0].Start.Line) != line {
		t.Errorf("builder location %v, want line %d", loc, line)
	}
}

func testInProcessDescribe(t *testing.T, fx *frontendFixture) {
	dt := subrequest(t, fx.s, filepath.Join(fx.multi, "ZImagefile"), fx.multi, "frontend.subrequests.describe")
	// BuildKit's describe lists outline and targets (not lint).
	for _, want := range []string{"frontend.outline", "frontend.targets", "frontend.subrequests.describe"} {
		if !strings.Contains(string(dt), want) {
			t.Errorf("describe lacks %s: %s", want, dt)
		}
	}
}

func testInProcessDockerfilePassthrough(t *testing.T, fx *frontendFixture) {
	// A Dockerfile handed to the frontend (BUILDKIT_SYNTAX set for a
	// whole bake file) builds as a Dockerfile.
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"Dockerfile": "FROM busybox\nRUN echo plain > /plain\n"})
	img := mustInProcess(t, fx.s, filepath.Join(dir, "Dockerfile"), dir, nil, map[string]string{})
	if img.file(t, "/plain").Data != "plain\n" {
		t.Error("Dockerfile not built")
	}
}

// invalidZImagefile has three errors, on lines 5, 6 and 7.
const invalidZImagefile = "# syntax=zlayer/zimagefile\nbase: busybox\nsteps:\n  - run: make\n    copy: src\n  - copy: a\nexpose: web\n"

// buildxFails builds zimagefile with buildx, which must fail (say names
// the failure a success would be), and returns what buildx printed.
func buildxFails(t *testing.T, s *stack.Stack, zimagefile, say string) buildxResult {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ZImagefile": zimagefile})
	r := buildx(t, s, "build", "--progress=plain", "-f", filepath.Join(dir, "ZImagefile"), dir)
	if r.err == nil {
		t.Fatal(say)
	}
	return r
}

// inProcessFails builds zimagefile in process, which must fail (say names
// the failure a success would be), and returns the error.
func inProcessFails(t *testing.T, s *stack.Stack, zimagefile, say string) error {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ZImagefile": zimagefile})
	_, err := inProcess(t, s, filepath.Join(dir, "ZImagefile"), dir, nil, map[string]string{})
	if err == nil {
		t.Fatal(say)
	}
	return err
}

func testBuildxInvalidFile(t *testing.T, fx *frontendFixture) {
	r := buildxFails(t, fx.s, invalidZImagefile, "invalid file built")
	t.Logf("what the user sees:\n%s", tail(r.stderr, 25))
	for _, want := range []string{
		"ZImagefile:5:5: step has two actions, run and copy",
		"ZImagefile:6:5: copy needs to:",
		`ZImagefile:7:9: expose: "web" is not a port`,
		">>>     copy: src", // buildx's snippet of the YAML line
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "Generated from") || strings.Contains(r.stderr, "dockerfile parse error") {
		t.Errorf("error shows the generated Dockerfile:\n%s", r.stderr)
	}
}

func testBuildxCheckInvalidFile(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ZImagefile": invalidZImagefile})
	r := buildx(t, fx.s, "build", "--call", "check", "-f", filepath.Join(dir, "ZImagefile"), dir)
	if r.err == nil {
		t.Fatal("check passed an invalid file")
	}
	out := r.stdout + r.stderr
	for _, want := range []string{"ZImagefile:5:5: step has two actions", ">>>     copy: src"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q:\n%s", want, tail(out, 30))
		}
	}
}

func testInProcessInvalidFile(t *testing.T, fx *frontendFixture) {
	err := inProcessFails(t, fx.s, invalidZImagefile, "invalid file built")
	srcs := errdefs.Sources(err)
	if len(srcs) != 3 {
		t.Fatalf("%d sources, want 3: %v", len(srcs), err)
	}
	var lines []int
	for _, src := range srcs {
		if src.Info.Filename != "ZImagefile" || string(src.Info.Data) != invalidZImagefile {
			t.Errorf("source %q is not the ZImagefile", src.Info.Filename)
		}
		lines = append(lines, int(src.Ranges[0].Start.Line))
	}
	sort.Ints(lines)
	if !reflect.DeepEqual(lines, []int{5, 6, 7}) {
		t.Errorf("source lines %v, want [5 6 7]", lines)
	}
}

// failingZImagefile's second run step, on lines 7-9, exits 3.
const failingZImagefile = "# syntax=zlayer/zimagefile\nstages:\n  app:\n    base: busybox\n    steps:\n      - run: echo fine\n      - run: |\n          echo about to fail\n          exit 3\n"

func testBuildxFailingRun(t *testing.T, fx *frontendFixture) {
	r := buildxFails(t, fx.s, failingZImagefile, "failing run succeeded")
	t.Logf("what the user sees:\n%s", tail(r.stderr, 25))
	for _, want := range []string{"exit code: 3", "ZImagefile:7", ">>>       - run: |", ">>>           exit 3"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "Dockerfile:") {
		t.Errorf("error points at a Dockerfile:\n%s", r.stderr)
	}
}

func testInProcessFailingRun(t *testing.T, fx *frontendFixture) {
	err := inProcessFails(t, fx.s, failingZImagefile, "failing run succeeded")
	srcs := errdefs.Sources(err)
	if len(srcs) == 0 {
		t.Fatalf("no source in %v", err)
	}
	rg := srcs[0].Ranges[0]
	if srcs[0].Info.Filename != "ZImagefile" || rg.Start.Line != 7 || rg.End.Line < 9 {
		t.Errorf("source %s %v, want ZImagefile lines 7-9", srcs[0].Info.Filename, rg)
	}
}

// checkRuntime checks the runtime-node example, built on the node stand-in.
func checkRuntime(t *testing.T, img *image) {
	c := img.Config.Config
	if !reflect.DeepEqual(c.Cmd, []string{"node", "server.js"}) || c.User != "1000:1000" || c.WorkingDir != "/app" {
		t.Errorf("config: cmd %q user %q workdir %q", c.Cmd, c.User, c.WorkingDir)
	}
	for _, want := range []string{"PORT=8080", "NODE_ENV=production", "NODE_VERSION=22.0.0-stand-in"} {
		if !contains(c.Env, want) {
			t.Errorf("env lacks %s: %q", want, c.Env)
		}
	}
	if _, ok := c.ExposedPorts["8080/tcp"]; !ok {
		t.Errorf("ports %v", c.ExposedPorts)
	}
	if c.Labels["org.opencontainers.image.title"] != "node demo" {
		t.Errorf("labels %v", c.Labels)
	}
	if h := healthcheckOf(t, img); h == nil || !reflect.DeepEqual(h.Test, []string{"CMD", "node", "-e", "process.exit(0)"}) || h.Interval != 30*time.Second {
		t.Errorf("healthcheck %+v", h)
	}
	if e := img.file(t, "/app/server.js"); e.UID != 1000 {
		t.Errorf("server.js owned by %d", e.UID)
	}
	img.file(t, "/app/node_modules/.stand-in")
}

func testBuildxRuntimeTemplate(t *testing.T, fx *frontendFixture) {
	dir := filepath.Join(fx.examples, "runtime-node")
	checkRuntime(t, buildxImage(t, fx.s, filepath.Join(dir, "ZImagefile"), dir))
}

func testInProcessRuntimeTemplate(t *testing.T, fx *frontendFixture) {
	dir := filepath.Join(fx.examples, "runtime-node")
	checkRuntime(t, mustInProcess(t, fx.s, filepath.Join(dir, "ZImagefile"), dir, nil, map[string]string{}))
}

func testBuildxBakeTargetContext(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	// Inside the bake folder: bake asks for --allow to write elsewhere.
	out := filepath.Join(dir, "out")
	writeFiles(t, dir, map[string]string{
		"Base.zimage": "# syntax=zlayer/zimagefile\nbase: busybox\nsteps:\n  - run: echo base > /base.txt\n",
		"App.zimage":  "# syntax=zlayer/zimagefile\nbase: base\nsteps:\n  - run: cat /base.txt > /app.txt\n",
		"docker-bake.json": `{"target": {
  "base": {"context": ".", "dockerfile": "Base.zimage"},
  "app": {"context": ".", "dockerfile": "App.zimage", "contexts": {"base": "target:base"},
          "output": ["type=oci,dest=out,tar=false"]}}}`,
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := fx.s.Command(ctx, "docker", "buildx", "bake", "--progress=plain", "--provenance=false", "-f", "docker-bake.json", "app")
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("bake: %v\n%s", err, b)
	}
	if e := loadImage(t, out).file(t, "/app.txt"); e.Data != "base\n" {
		t.Errorf("app.txt = %q", e.Data)
	}
}

func testBuildxDockerignore(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"ZImagefile":    "# syntax=zlayer/zimagefile\nbase: busybox\nsteps:\n  - copy: .\n    to: /ctx\n",
		".dockerignore": "secret.txt\n",
		"secret.txt":    "do not ship\n",
		"kept.txt":      "kept\n",
	})
	img := buildxImage(t, fx.s, filepath.Join(dir, "ZImagefile"), dir)
	img.file(t, "/ctx/kept.txt")
	if _, ok := img.Files["/ctx/secret.txt"]; ok {
		t.Error(".dockerignore was not applied")
	}
}

func testBuildxMultiPlatform(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	out := filepath.Join(t.TempDir(), "oci")
	writeFiles(t, dir, map[string]string{
		"ZImagefile": "# syntax=zlayer/zimagefile\nbase: scratch\nsteps:\n  - copy: f.txt\n    to: /f.txt\ncmd: [\"/x\"]\n",
		"f.txt":      "same everywhere\n",
	})
	r := buildx(t, fx.s, "build", "--progress=plain", "--provenance=false", "--platform", "linux/amd64,linux/arm64",
		"-f", filepath.Join(dir, "ZImagefile"), "--output", "type=oci,dest="+out+",tar=false", dir)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.stderr)
	}
	var idx struct {
		Manifests []struct {
			Digest   string
			Platform *struct{ Architecture, OS string }
		}
	}
	dt, _ := os.ReadFile(filepath.Join(out, "index.json"))
	_ = json.Unmarshal(dt, &idx)
	if len(idx.Manifests) == 1 && idx.Manifests[0].Platform == nil {
		// buildx wraps the platform index in the layout's index.
		d := idx.Manifests[0].Digest
		dt, _ = os.ReadFile(filepath.Join(out, "blobs", "sha256", strings.TrimPrefix(d, "sha256:")))
		_ = json.Unmarshal(dt, &idx)
	}
	var archs []string
	for _, m := range idx.Manifests {
		if m.Platform != nil {
			archs = append(archs, m.Platform.OS+"/"+m.Platform.Architecture)
		}
	}
	sort.Strings(archs)
	if !reflect.DeepEqual(archs, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("platforms %v\n%s", archs, dt)
	}
}

func testBuildxCheckWarningLocation(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"ZImagefile": "# syntax=zlayer/zimagefile\nbase: busybox\nsteps:\n  - run: echo hi\n  - workdir: relative/dir\n"})
	r := buildx(t, fx.s, "build", "--call", "check", "-f", filepath.Join(dir, "ZImagefile"), dir)
	out := r.stdout + r.stderr
	t.Logf("what the user sees:\n%s", tail(out, 20))
	for _, want := range []string{"WorkdirRelativePath", "ZImagefile:5", ">>>   - workdir: relative/dir"} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
}

// checkWasm checks a wasm build: one layer holding module, for target.
func checkWasm(t *testing.T, img *image, target, module string) {
	if img.Config.OS != "wasi" || img.Config.Architecture != "wasm" {
		t.Errorf("config platform %s/%s", img.Config.OS, img.Config.Architecture)
	}
	if p := img.Desc.Platform; p != nil && (p.OS != "wasi" || p.Architecture != "wasm") {
		t.Errorf("descriptor platform %+v", p)
	}
	if img.Manifest.Annotations["dev.zlayer.wasm.target"] != target {
		t.Errorf("manifest annotations %v", img.Manifest.Annotations)
	}
	if img.Config.Config.Labels["dev.zlayer.wasm.target"] != target {
		t.Errorf("labels %v", img.Config.Config.Labels)
	}
	if len(img.Manifest.Layers) != 1 {
		t.Errorf("%d layers, want 1", len(img.Manifest.Layers))
	}
	if e := img.file(t, module); !strings.HasPrefix(e.Data, "\x00asm") {
		t.Errorf("%s is not wasm: %q", module, e.Data)
	}
	if !reflect.DeepEqual(img.Config.Config.Entrypoint, []string{module}) {
		t.Errorf("entrypoint %q", img.Config.Config.Entrypoint)
	}
}

func testBuildxWasmModule(t *testing.T, fx *frontendFixture) {
	dir := filepath.Join(fx.examples, "wasm-module")
	checkWasm(t, buildxImage(t, fx.s, filepath.Join(dir, "ZImagefile"), dir), "wasip1", "/module.wasm")
}

// wasmCFiles is a C wasm build on the wasi-sdk stand-in.
func wasmCFiles() map[string]string {
	return map[string]string{
		"ZImagefile": "# syntax=zlayer/zimagefile\nwasm:\n  language: c\n  base: zltest/wasi-sdk:1\n  optimize: true\n  name: hello.wasm\n",
		"hello.c":    "int main(void) { return 0; }\n",
	}
}

func testBuildxWasmCToolchain(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	writeFiles(t, dir, wasmCFiles())
	checkWasm(t, buildxImage(t, fx.s, filepath.Join(dir, "ZImagefile"), dir), "wasip2", "/hello.wasm")
}

func testInProcessWasmCToolchain(t *testing.T, fx *frontendFixture) {
	dir := t.TempDir()
	writeFiles(t, dir, wasmCFiles())
	checkWasm(t, mustInProcess(t, fx.s, filepath.Join(dir, "ZImagefile"), dir, nil, map[string]string{}), "wasip2", "/hello.wasm")
}

func testInProcessWasmModule(t *testing.T, fx *frontendFixture) {
	dir := filepath.Join(fx.examples, "wasm-module")
	checkWasm(t, mustInProcess(t, fx.s, filepath.Join(dir, "ZImagefile"), dir, nil, map[string]string{}), "wasip1", "/module.wasm")
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func lineOf(t *testing.T, src []byte, text string) int {
	t.Helper()
	for i, l := range strings.Split(string(src), "\n") {
		if l == text {
			return i + 1
		}
	}
	t.Fatalf("no line %q", text)
	return 0
}

// checkSingle checks the single-stage example's image.
func checkSingle(t *testing.T, img *image, greeting string) {
	t.Helper()
	c := img.Config.Config
	if img.file(t, "/greeting").Data != greeting+"\n" {
		t.Errorf("greeting %q", img.Files["/greeting"].Data)
	}
	if c.Labels["com.example.greeting"] != greeting || c.Labels["org.opencontainers.image.title"] != "single-stage demo" {
		t.Errorf("labels %v", c.Labels)
	}
	if img.file(t, "/scoped").Data != "only this run\n" {
		t.Errorf("scoped %q", img.Files["/scoped"].Data)
	}
	for _, e := range c.Env {
		if strings.HasPrefix(e, "SCOPED=") {
			t.Errorf("run-scoped env leaked into the image: %s", e)
		}
	}
	if img.file(t, "/exec").Data != "exec form\n" {
		t.Errorf("exec %q", img.Files["/exec"].Data)
	}
	if e := img.file(t, "/srv/app/app.sh"); e.UID != 65534 || e.GID != 65534 || e.Mode != 0o755 {
		t.Errorf("app.sh uid %d gid %d mode %o", e.UID, e.GID, e.Mode)
	}
	if img.file(t, "/srv/app/data/a.txt").Data != "a\n" || img.file(t, "/srv/app/data/b.txt").Data != "b\n" {
		t.Error("copy of a list")
	}
	if img.file(t, "/opt/inside.txt").Data != "inside\n" {
		t.Error("add did not extract the archive")
	}
	if !strings.Contains(img.file(t, "/srv/app/passwd.copy").Data, "root:") {
		t.Error("copy from an image")
	}
	if img.file(t, "/tmp/uid").Data != "65534\n" {
		t.Errorf("user step: uid %q", img.Files["/tmp/uid"].Data)
	}
	for _, p := range []string{"/var/cache/shared/stamp", "/var/cache/readonly"} {
		if e, ok := img.Files[p]; ok && e.Type != '5' {
			t.Errorf("cache mount content %s leaked into the image", p)
		}
	}
	if !contains(c.Env, "APP_HOME=/srv/app") || !contains(c.Env, "STAGE=built") {
		t.Errorf("env %q", c.Env)
	}
	if c.WorkingDir != "/srv/app/data" || c.User != "65534" || c.StopSignal != "SIGINT" {
		t.Errorf("workdir %q user %q stopsignal %q", c.WorkingDir, c.User, c.StopSignal)
	}
	if !reflect.DeepEqual(c.Entrypoint, []string{"/srv/app/app.sh"}) || !reflect.DeepEqual(c.Cmd, []string{"serve"}) {
		t.Errorf("entrypoint %q cmd %q", c.Entrypoint, c.Cmd)
	}
	for _, p := range []string{"8080/tcp", "53/udp"} {
		if _, ok := c.ExposedPorts[p]; !ok {
			t.Errorf("ports %v lack %s", c.ExposedPorts, p)
		}
	}
	if _, ok := c.Volumes["/data"]; !ok {
		t.Errorf("volumes %v", c.Volumes)
	}
	h := healthcheckOf(t, img)
	if h == nil || !reflect.DeepEqual(h.Test, []string{"CMD", "/bin/true"}) || h.Interval != 30*time.Second || h.Timeout != 3*time.Second || h.StartPeriod != 5*time.Second || h.Retries != 2 {
		t.Errorf("healthcheck %+v", h)
	}
}

type healthcheck struct {
	Test        []string
	Interval    time.Duration
	Timeout     time.Duration
	StartPeriod time.Duration
	Retries     int
}

func healthcheckOf(t *testing.T, img *image) *healthcheck {
	t.Helper()
	var raw struct {
		Config struct {
			Healthcheck *healthcheck
		} `json:"config"`
	}
	if err := json.Unmarshal(readBlob(t, img.dir, img.Manifest.Config.Digest), &raw); err != nil {
		t.Fatal(err)
	}
	return raw.Config.Healthcheck
}

// compareImages checks that two builds produced the same image config and
// file system.
func compareImages(t *testing.T, a, b *image) {
	t.Helper()
	var ca, cb map[string]any
	configOf := func(img *image, into *map[string]any) {
		var raw struct {
			Config       map[string]any `json:"config"`
			OS           string         `json:"os"`
			Architecture string         `json:"architecture"`
		}
		if err := json.Unmarshal(readBlob(t, img.dir, img.Manifest.Config.Digest), &raw); err != nil {
			t.Fatal(err)
		}
		raw.Config["os"] = raw.OS
		raw.Config["architecture"] = raw.Architecture
		*into = raw.Config
	}
	configOf(a, &ca)
	configOf(b, &cb)
	for _, k := range []string{"Env", "Cmd", "Entrypoint", "WorkingDir", "User", "ExposedPorts", "Labels", "Volumes", "Healthcheck", "StopSignal", "OnBuild", "Shell", "os", "architecture"} {
		if !reflect.DeepEqual(ca[k], cb[k]) {
			t.Errorf("config %s differs: %v vs %v", k, ca[k], cb[k])
		}
	}
	for p, ea := range a.Files {
		eb, ok := b.Files[p]
		if !ok {
			t.Errorf("%s only in the ZImagefile build", p)
			continue
		}
		if ea != eb {
			t.Errorf("%s differs: %+v vs %+v", p, ea, eb)
		}
	}
	for p := range b.Files {
		if _, ok := a.Files[p]; !ok {
			t.Errorf("%s only in the Dockerfile build", p)
		}
	}
}
