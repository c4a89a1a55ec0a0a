package pipeline

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/pipeline/buildsecret"
	"github.com/zlayer/zlayer/pipeline/spec"
)

func tree(t *testing.T) string {
	dir := t.TempDir()
	for name, body := range map[string]string{
		"ZPipeline.yaml":        "vars: {V: \"1\"}\nimages:\n  base: {file: Dockerfile, tags: [\"r/base:${V}\"]}\n  app: {file: app/ZImagefile, context: app, depends_on: [base]}\n  other: {file: ../outside/Dockerfile, context: ../outside}\n",
		"Dockerfile":            "FROM busybox\n",
		"app/ZImagefile":        "base: r/base:1\n",
		"../outside/Dockerfile": "FROM busybox\n",
	} {
		p := filepath.Join(dir, "p", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "p")
}

func TestLoadFindsDefaultFileAndNarrows(t *testing.T) {
	dir := tree(t)
	t.Chdir(dir)
	pl, err := Load(Options{Sets: []string{"V=2"}, Only: []string{"app"}})
	if err != nil {
		t.Fatal(err)
	}
	if pl.File != "ZPipeline.yaml" || len(pl.Images) != 2 || pl.Image("base").Tags[0] != "r/base:2" {
		t.Errorf("Load: file %q images %d tags %v", pl.File, len(pl.Images), pl.Image("base").Tags)
	}
	if _, err := Load(Options{Sets: []string{"novalue"}}); err == nil {
		t.Error("bad --set accepted")
	}
}

func TestPrintUsesFrontendAndPush(t *testing.T) {
	dir := tree(t)
	pl, err := spec.Load(filepath.Join(dir, "ZPipeline.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Print(pl, Options{Frontend: "reg/fe:1", Push: true}, &buf); err != nil {
		t.Fatal(err)
	}
	var def struct {
		Target map[string]struct {
			Args     map[string]string `json:"args"`
			Contexts map[string]string `json:"contexts"`
			Output   []string          `json:"output"`
		} `json:"target"`
	}
	if err := json.Unmarshal(buf.Bytes(), &def); err != nil {
		t.Fatal(err)
	}
	app := def.Target["app"]
	if app.Args["BUILDKIT_SYNTAX"] != "reg/fe:1" || app.Contexts["r/base:1"] != "target:base" || app.Output[0] != "type=registry" {
		t.Errorf("app target %+v", app)
	}
}

func TestAllowCoversOutsidePaths(t *testing.T) {
	dir := tree(t)
	pl, err := spec.Load(filepath.Join(dir, "ZPipeline.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &bakeBuilder{pl: pl, work: "/tmp/w"}
	if got := b.allow(pl.Image("app")); len(got) != 2 {
		t.Errorf("app inside the pipeline folder needs only the work folder: %v", got)
	}
	got := strings.Join(b.allow(pl.Image("other")), " ")
	if !strings.Contains(got, "fs.read="+filepath.Join(filepath.Dir(dir), "outside")) {
		t.Errorf("outside context not allowed: %s", got)
	}
}

func TestFrontendHint(t *testing.T) {
	err := frontendHint(errors.New("docker.io/zlayer/zimagefile:latest: not found"), "zlayer/zimagefile")
	if !strings.Contains(err.Error(), "ZLAYER_FRONTEND") {
		t.Errorf("no hint: %v", err)
	}
	plain := errors.New("exit code: 1")
	if frontendHint(plain, "zlayer/zimagefile") != plain { //nolint:errorlint // identity: the very same error must come back
		t.Error("hint added to an unrelated error")
	}
}

// TestAllowCoversSecrets grants bake what an image's secrets and agents need:
// reading a secret file or key outside the pipeline folder, and forwarding
// the default agent.
func TestAllowCoversSecrets(t *testing.T) {
	b := &bakeBuilder{pl: &spec.Pipeline{Dir: "/p"}, work: "/tmp/w"}
	im := &spec.Image{Context: "/p", File: "/p/ZImagefile",
		Secrets: []buildsecret.Secret{{ID: "in", Src: "/p/s/in"}, {ID: "out", Src: "/home/me/.npmrc"}, {ID: "e", Env: "E"}},
		SSH:     []buildsecret.SSH{{ID: "default"}, {ID: "a2"}, {ID: "k", Paths: []string{"/keys/id"}}}}
	got := b.allow(im)
	want := []string{"fs.write=/tmp/w", "fs.read=/tmp/w", "ssh", "fs.read=/home/me/.npmrc", "fs.read=/keys/id"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("allow %v, want %v", got, want)
	}
}
