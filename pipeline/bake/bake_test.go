package bake

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
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
