package spec

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// tree writes files under a temp folder and returns its path.
func tree(t *testing.T, files map[string]string) string {
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

const full = `version: "1"
vars:
  VERSION: "1.0.0"
  REGISTRY: reg.example/acme
  IMG: ${REGISTRY}/img
defaults:
  format: oci
  build_args:
    RUST_VERSION: "1.90"
    SHARED: default
  platforms: [linux/amd64]
images:
  base:
    file: docker/Dockerfile.base
    tags:
      - "${REGISTRY}/base:${VERSION}"
      - "${REGISTRY}/base:latest"
    build_args:
      SHARED: mine
      LIT: "$${NOT_A_VAR}"
  app:
    file: docker/ZImagefile.app
    context: app
    depends_on: [base]
    tags: ["${IMG}:${VERSION}"]
    no_cache: true
    format: docker
push:
  after_all: true
`

func fullTree(t *testing.T) string {
	return tree(t, map[string]string{
		"ZPipeline.yaml":         full,
		"docker/Dockerfile.base": "FROM busybox\n",
		"docker/ZImagefile.app":  "base: busybox\n",
		"app/.keep":              "",
	})
}

func TestParseFull(t *testing.T) {
	dir := fullTree(t)
	pl, err := Load(filepath.Join(dir, "ZPipeline.yaml"), map[string]string{"VERSION": "2.0"})
	if err != nil {
		t.Fatal(err)
	}
	if !pl.PushAfterAll || pl.Version != "1" {
		t.Errorf("push/version: %+v", pl)
	}
	base, app := pl.Image("base"), pl.Image("app")
	if got, want := base.Tags, []string{"reg.example/acme/base:2.0", "reg.example/acme/base:latest"}; !reflect.DeepEqual(got, want) {
		t.Errorf("base tags %v, want %v", got, want)
	}
	if got, want := app.Tags, []string{"reg.example/acme/img:2.0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("app tags %v, want %v (vars referring to vars)", got, want)
	}
	if got, want := base.BuildArgs, map[string]string{"RUST_VERSION": "1.90", "SHARED": "mine", "LIT": "${NOT_A_VAR}"}; !reflect.DeepEqual(got, want) {
		t.Errorf("base args %v, want %v", got, want)
	}
	if got := app.BuildArgs["SHARED"]; got != "default" {
		t.Errorf("app inherits default SHARED, got %q", got)
	}
	if base.Format != "oci" || app.Format != "docker" || base.NoCache || !app.NoCache {
		t.Errorf("format/no_cache merge wrong: base %s %v, app %s %v", base.Format, base.NoCache, app.Format, app.NoCache)
	}
	if base.Context != dir || app.Context != filepath.Join(dir, "app") {
		t.Errorf("contexts %s %s", base.Context, app.Context)
	}
	if base.File != filepath.Join(dir, "docker/Dockerfile.base") {
		t.Errorf("file %s", base.File)
	}
	if !reflect.DeepEqual(app.Platforms, []string{"linux/amd64"}) {
		t.Errorf("platforms %v", app.Platforms)
	}
	if pl.Vars["VERSION"] != "2.0" || pl.Vars["IMG"] != "reg.example/acme/img" {
		t.Errorf("vars %v", pl.Vars)
	}
}

// parseErr parses body in a tree with a Dockerfile and returns the error text.
func parseErr(t *testing.T, body string, sets map[string]string) string {
	t.Helper()
	dir := tree(t, map[string]string{"Dockerfile": "FROM busybox\n", "ZPipeline.yaml": body})
	_, err := Load(filepath.Join(dir, "ZPipeline.yaml"), sets)
	if err == nil {
		t.Fatalf("no error for:\n%s", body)
	}
	return strings.ReplaceAll(err.Error(), filepath.Join(dir, "ZPipeline.yaml"), "ZPipeline.yaml")
}

func TestErrors(t *testing.T) {
	cases := []struct {
		name, body string
		want       []string
	}{
		{"undefined var", "images:\n  a:\n    file: Dockerfile\n    tags: [\"x:${NOPE}\"]\n",
			[]string{"ZPipeline.yaml:4:12: undefined variable ${NOPE}"}},
		{"undefined var in build arg", "images:\n  a:\n    file: Dockerfile\n    build_args:\n      X: ${MISSING}\n",
			[]string{"ZPipeline.yaml:5:10: undefined variable ${MISSING}"}},
		{"unknown key top", "version: \"1\"\nimagez: {}\nimages:\n  a: {file: Dockerfile}\n",
			[]string{"ZPipeline.yaml:2:1: unknown key \"imagez\" in pipeline"}},
		{"unknown key image", "images:\n  a:\n    file: Dockerfile\n    dependson: [b]\n",
			[]string{"ZPipeline.yaml:4:5: unknown key \"dependson\" in image a"}},
		{"unknown depends_on", "images:\n  a:\n    file: Dockerfile\n    depends_on: [b]\n",
			[]string{"ZPipeline.yaml:4:18: image a depends on unknown image \"b\""}},
		{"cycle", "images:\n  a:\n    file: Dockerfile\n    depends_on: [c]\n  b:\n    file: Dockerfile\n    depends_on: [a]\n  c:\n    file: Dockerfile\n    depends_on: [b]\n",
			[]string{"ZPipeline.yaml:4:18: dependency cycle: a -> c -> b -> a"}},
		{"self cycle", "images:\n  a:\n    file: Dockerfile\n    depends_on: [a]\n",
			[]string{"dependency cycle: a -> a"}},
		{"missing file", "images:\n  a:\n    file: nope/Dockerfile\n",
			[]string{"ZPipeline.yaml:3:11: image a: build file", "nope/Dockerfile does not exist"}},
		{"no file key", "images:\n  a:\n    tags: [x]\n",
			[]string{"ZPipeline.yaml:2:3: image a: file is required"}},
		{"duplicate tags", "images:\n  a:\n    file: Dockerfile\n    tags: [x:1]\n  b:\n    file: Dockerfile\n    tags: [x:1]\n",
			[]string{"ZPipeline.yaml:7:12: duplicate tag \"x:1\": image b, also by image a at ZPipeline.yaml:4:12"}},
		{"duplicate image", "images:\n  a: {file: Dockerfile}\n  a: {file: Dockerfile}\n",
			[]string{"ZPipeline.yaml:3:3: duplicate key \"a\" in images"}},
		{"bad version", "version: \"2\"\nimages:\n  a: {file: Dockerfile}\n",
			[]string{"ZPipeline.yaml:1:10: unsupported version \"2\""}},
		{"bad format", "images:\n  a: {file: Dockerfile, format: tar}\n",
			[]string{"ZPipeline.yaml:2:33: format \"tar\""}},
		{"no images", "version: \"1\"\n",
			[]string{"no images: section"}},
		{"syntax", "images:\n  a: [\n",
			[]string{"ZPipeline.yaml:2:1: did not find expected node content"}},
		{"bad bool", "images:\n  a: {file: Dockerfile, no_cache: maybe}\n",
			[]string{"no_cache must be true or false"}},
		{"missing context", "images:\n  a: {file: Dockerfile, context: nowhere}\n",
			[]string{"ZPipeline.yaml:2:34: image a: build context", "is not a folder"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := parseErr(t, c.body, nil)
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Errorf("error\n%s\nlacks %q", got, w)
				}
			}
		})
	}
}

func TestSeveralErrorsAtOnce(t *testing.T) {
	got := parseErr(t, "images:\n  a:\n    file: Dockerfile\n    tagz: []\n  b:\n    file: Dockerfile\n    tags: [\"${X}\"]\n", nil)
	if strings.Count(got, "\n") != 1 {
		t.Errorf("want two errors, got:\n%s", got)
	}
}

func TestSetDefinesVar(t *testing.T) {
	dir := tree(t, map[string]string{"Dockerfile": "FROM busybox\n", "ZPipeline.yaml": "images:\n  a:\n    file: Dockerfile\n    tags: [\"r/a:${V}\"]\n"})
	pl, err := Load(filepath.Join(dir, "ZPipeline.yaml"), map[string]string{"V": "9"})
	if err != nil {
		t.Fatal(err)
	}
	if pl.Images[0].Tags[0] != "r/a:9" {
		t.Errorf("tag %v", pl.Images[0].Tags)
	}
}

func TestParseSets(t *testing.T) {
	m, err := ParseSets([]string{"A=1", "B=x=y", "C="})
	if err != nil || m["A"] != "1" || m["B"] != "x=y" || m["C"] != "" {
		t.Errorf("%v %v", m, err)
	}
	for _, bad := range []string{"A", "=1", "A-B=1"} {
		if _, err := ParseSets([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func diamond(t *testing.T) *Pipeline {
	body := `images:
  top: {file: Dockerfile, depends_on: [left]}
  base: {file: Dockerfile}
  left: {file: Dockerfile, depends_on: [base]}
  right: {file: Dockerfile, depends_on: [base]}
  lone: {file: Dockerfile}
  join: {file: Dockerfile, depends_on: [top, right, lone]}
`
	dir := tree(t, map[string]string{"Dockerfile": "FROM busybox\n", "ZPipeline.yaml": body})
	pl, err := Load(filepath.Join(dir, "ZPipeline.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	return pl
}

func names(ims []*Image) []string {
	var out []string
	for _, im := range ims {
		out = append(out, im.Name)
	}
	return out
}

func TestWaves(t *testing.T) {
	pl := diamond(t)
	var got [][]string
	for _, w := range pl.Waves() {
		got = append(got, names(w))
	}
	want := [][]string{{"base", "lone"}, {"left", "right"}, {"top"}, {"join"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("waves %v, want %v", got, want)
	}
}

func TestOnly(t *testing.T) {
	pl := diamond(t)
	q, err := pl.Only([]string{"top"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(q.Images), []string{"top", "base", "left"}; !reflect.DeepEqual(got, want) {
		t.Errorf("only top: %v, want %v", got, want)
	}
	if len(pl.Images) != 6 {
		t.Error("Only changed the original")
	}
	q, err = pl.Only([]string{"right,lone"})
	if err != nil || !reflect.DeepEqual(names(q.Images), []string{"base", "right", "lone"}) {
		t.Errorf("only right,lone: %v %v", names(q.Images), err)
	}
	if _, err := pl.Only([]string{"nope"}); err == nil || !strings.Contains(err.Error(), "no image named nope") {
		t.Errorf("unknown --only: %v", err)
	}
}

func TestClosure(t *testing.T) {
	pl := diamond(t)
	got := names(pl.Closure(pl.Image("join")))
	want := []string{"base", "left", "top", "right", "lone"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("closure %v, want %v", got, want)
	}
}

func TestFind(t *testing.T) {
	dir := tree(t, map[string]string{"zlayer-pipeline.yaml": "x", "ZPipeline.yml": "y"})
	p, err := Find(dir)
	if err != nil || filepath.Base(p) != "ZPipeline.yml" {
		t.Errorf("Find: %s %v", p, err)
	}
	if _, err := Find(t.TempDir()); err == nil || !strings.Contains(err.Error(), "ZPipeline.yaml") {
		t.Errorf("Find empty: %v", err)
	}
}

func TestErrorListType(t *testing.T) {
	dir := tree(t, map[string]string{"ZPipeline.yaml": "images:\n  a: {file: nope}\n"})
	_, err := Load(filepath.Join(dir, "ZPipeline.yaml"), nil)
	var list ErrorList
	if !errors.As(err, &list) || list[0].Pos.Line != 2 {
		t.Errorf("want ErrorList at line 2, got %#v", err)
	}
}
