package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/zlayer/zlayer/frontend/convert"
	"github.com/zlayer/zlayer/frontend/zimagefile"
)

func TestConvertCmdWritesTheDockerfile(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "ZImagefile")
	src := "base: busybox\nsteps:\n  - run: echo hi\ncmd: [\"sh\"]\n"
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "Dockerfile")
	if err := (&ConvertCmd{File: in, Output: out}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	f, err := zimagefile.Parse(in, []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := convert.ToDockerfile(f)
	if string(got) != string(want) || !strings.Contains(string(got), "RUN echo hi\nCMD [\"sh\"]\n") {
		t.Errorf("got:\n%s", got)
	}
}

func TestConvertCmdShowsErrorsWithTheLine(t *testing.T) {
	in := filepath.Join(t.TempDir(), "ZImagefile")
	if err := os.WriteFile(in, []byte("base: busybox\nstepz: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := (&ConvertCmd{File: in}).Run(context.Background())
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{in + `:2:1: unknown key "stepz"`, `did you mean "steps"`, "    2 | stepz: []"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if err := (&ConvertCmd{File: filepath.Join(t.TempDir(), "missing")}).Run(context.Background()); err == nil {
		t.Error("missing file: no error")
	}
}

func TestConvertCmdSchema(t *testing.T) {
	out := filepath.Join(t.TempDir(), "schema.json")
	if err := (&ConvertCmd{Schema: true, Output: out}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want, _ := os.ReadFile("../../frontend/zimagefile/" + zimagefile.SchemaFile)
	if string(got) != string(want) {
		t.Error("--schema differs from the checked-in schema")
	}
}

// TestConvertCmdSecretsExample prints the secrets example's Dockerfile
// equivalent, with the secret and ssh mounts on its RUN.
func TestConvertCmdSecretsExample(t *testing.T) {
	out := filepath.Join(t.TempDir(), "Dockerfile")
	if err := (&ConvertCmd{File: filepath.Join("..", "..", "examples", "zimagefile", "secrets", "ZImagefile"), Output: out}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "RUN --mount=type=secret,id=npmrc,target=/root/.npmrc,required=true --mount=type=secret,id=token,env=API_TOKEN --mount=type=ssh <<'EOF'\n"
	if !strings.Contains(string(got), want) {
		t.Errorf("got:\n%s\nwant a line %q", got, want)
	}
}
