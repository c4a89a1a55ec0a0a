package bake

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/zlayer/zlayer/pipeline/spec"
)

var update = flag.Bool("update", false, "rewrite golden files")

func load(t *testing.T) *spec.Pipeline {
	t.Helper()
	pl, err := spec.Load(filepath.Join("testdata", "four", "ZPipeline.yaml"), map[string]string{"VERSION": "1.2.3"})
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

// golden compares got with testdata/name after replacing the pipeline folder
// by $DIR, so the files hold no machine paths.
func golden(t *testing.T, pl *spec.Pipeline, name string, got []byte) {
	t.Helper()
	got = bytes.ReplaceAll(got, []byte(pl.Dir), []byte("$DIR"))
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestPrintedShape(t *testing.T) {
	pl := load(t)
	f, err := Generate(pl, nil, Options{RelativeTo: pl.Dir, Push: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, pl, "four.print.json", b)
}

func TestRunShape(t *testing.T) {
	pl := load(t)
	f, err := Generate(pl, []string{"top"}, Options{
		Frontend: "127.0.0.1:5000/zlayer/zimagefile:test",
		OutDir:   filepath.Join(pl.Dir, "out"),
		Built: map[string]Layout{
			"base": {Dir: filepath.Join(pl.Dir, "out", "base"), Digest: "sha256:aaaa"},
			"app":  {Dir: filepath.Join(pl.Dir, "out", "app"), Digest: "sha256:bbbb"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, pl, "four.run-top.json", b)

	f, err = Generate(pl, []string{"app"}, Options{Frontend: "fe:1", OutDir: filepath.Join(pl.Dir, "out"),
		Built: map[string]Layout{"base": {Dir: filepath.Join(pl.Dir, "out", "base"), Digest: "sha256:aaaa"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ = f.JSON()
	golden(t, pl, "four.run-app.json", b)
}

func TestFamiliar(t *testing.T) {
	cases := map[string]string{
		"docker.io/library/busybox:latest": "busybox",
		"busybox:latest":                   "busybox",
		"busybox:1.36":                     "busybox:1.36",
		"127.0.0.1:5000/acme/base:latest":  "127.0.0.1:5000/acme/base",
		"127.0.0.1:5000/acme/base":         "127.0.0.1:5000/acme/base",
		"docker.io/me/app:v1":              "me/app:v1",
		"reg:5000/x@sha256:abc":            "reg:5000/x@sha256:abc",
	}
	for in, want := range cases {
		if got := Familiar(in); got != want {
			t.Errorf("Familiar(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnknownImage(t *testing.T) {
	if _, err := Generate(load(t), []string{"nope"}, Options{}); err == nil {
		t.Error("no error for an unknown image")
	}
}

// TestSecretsAndSSH passes an image's secrets and agents to bake's secret and
// ssh fields in their object forms, escaped like every other string.
func TestSecretsAndSSH(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"ZImagefile": "base: a\n", "npm${x}rc": "v"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := "images:\n  app:\n    file: ZImagefile\n    secrets: [{id: npmrc, src: \"npm$${x}rc\"}, \"id=tok,env=NPM_TOKEN\"]\n    ssh: [default, gh=/run/agent.sock]\n"
	pl, err := spec.Parse(filepath.Join(dir, "ZPipeline.yaml"), []byte(src), nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Generate(pl, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.JSON()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Target map[string]struct {
			Secret []map[string]string `json:"secret"`
			SSH    []map[string]any    `json:"ssh"`
		} `json:"target"`
	}
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	app := got.Target["app"]
	wantSecrets := []map[string]string{{"id": "npmrc", "src": filepath.Join(dir, "npm$${x}rc")}, {"id": "tok", "env": "NPM_TOKEN"}}
	if !reflect.DeepEqual(app.Secret, wantSecrets) {
		t.Errorf("secret %v, want %v\n%s", app.Secret, wantSecrets, b)
	}
	wantSSH := []map[string]any{{"id": "default"}, {"id": "gh", "paths": []any{"/run/agent.sock"}}}
	if !reflect.DeepEqual(app.SSH, wantSSH) {
		t.Errorf("ssh %v, want %v", app.SSH, wantSSH)
	}
}
