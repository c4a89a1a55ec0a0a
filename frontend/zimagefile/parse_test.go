package zimagefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const seedExample = `# ZImagefile
version: "1"

stages:
  builder:
    base: "rust:1.90-bookworm"
    workdir: "/build"
    steps:
      - copy: "."
        to: "/build"
      - run: "cargo build --release"
        cache:
          - target: /usr/local/cargo/registry
            id: cargo-registry
            sharing: shared

  runtime:
    base: "debian:bookworm-slim"
    steps:
      - copy: "target/release/myapp"
        from: builder
        to: "/usr/local/bin/myapp"
        chmod: "755"
    cmd: ["/usr/local/bin/myapp"]

expose: 8080
`

func TestParseSeedExample(t *testing.T) {
	f, err := Parse("ZImagefile", []byte(seedExample))
	if err != nil {
		t.Fatal(err)
	}
	if f.Mode() != "stages" || len(f.Stages) != 2 {
		t.Fatalf("mode %s, %d stages", f.Mode(), len(f.Stages))
	}
	b := f.Stages[0]
	if b.Name != "builder" || b.Base != "rust:1.90-bookworm" || b.Workdir != "/build" || len(b.Steps) != 2 {
		t.Fatalf("builder stage: %+v", b)
	}
	if b.Key.Start != (Pos{5, 3}) {
		t.Errorf("builder key at %v, want 5:3", b.Key.Start)
	}
	run := b.Steps[1]
	if run.Action() != ActionRun || run.Run.Shell != "cargo build --release" || run.Range.Start != (Pos{11, 9}) {
		t.Errorf("run step: %+v at %v", run.Run, run.Range.Start)
	}
	if c := run.Cache[0]; len(run.Cache) != 1 || c.Target != "/usr/local/cargo/registry" || c.ID != "cargo-registry" || c.Sharing != "shared" || c.Readonly {
		t.Errorf("cache: %+v", run.Cache[0])
	}
	r := f.Stages[1]
	cp := r.Steps[0]
	if cp.Action() != ActionCopy || cp.From != "builder" || cp.Chmod != "755" || cp.To != "/usr/local/bin/myapp" || len(cp.Copy) != 1 {
		t.Errorf("copy step: %+v", cp)
	}
	if r.Cmd == nil || !r.Cmd.IsExec || r.Cmd.Exec[0] != "/usr/local/bin/myapp" {
		t.Errorf("cmd: %+v", r.Cmd)
	}
	if len(f.Expose) != 1 || f.Expose[0].Number != 8080 || f.Expose[0].Proto != "" {
		t.Errorf("expose: %+v", f.Expose)
	}
}

func TestParseFields(t *testing.T) {
	src := `base: alpine:3
platform: linux/arm64
args:
  # VERSION of the app
  VERSION: "1.2"
  NODEFAULT:
env:
  A: "1"
  B: two words
workdir: /app
user: "1000:1000"
labels:
  org.opencontainers.image.title: demo
expose: [8080, "53/udp", 9000/tcp]
entrypoint: /bin/sh -c
cmd: ["echo", "hi"]
volumes: /data
healthcheck:
  cmd: wget -q -O- http://localhost:8080/
  interval: 30s
  timeout: 5s
  start_period: 1m
  retries: 3
stopsignal: SIGINT
steps:
  - run: [touch, /x]
    env: {K: v}
  - add: https://example.com/a.tgz
    to: /opt/
    owner: "1:1"
  - env:
      PATH: /opt/bin:$PATH
  - workdir: /srv
  - user: nobody
  - copy: [a, b]
    to: /dst
    chmod: u+x
`
	f, err := Parse("Z", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if f.Mode() != "single" || f.Platform != "linux/arm64" {
		t.Fatal(f.Mode(), f.Platform)
	}
	if len(f.Args) != 2 || f.Args[0].Doc != "VERSION of the app" || !f.Args[1].Null {
		t.Errorf("args: %+v", f.Args)
	}
	if v, _ := f.Env.Get("B"); v != "two words" {
		t.Errorf("env B = %q", v)
	}
	if len(f.Expose) != 3 || f.Expose[1].Proto != "udp" || f.Expose[2].Proto != "tcp" {
		t.Errorf("expose: %+v", f.Expose)
	}
	if f.Entrypoint.IsExec || f.Entrypoint.Shell != "/bin/sh -c" {
		t.Errorf("entrypoint %+v", f.Entrypoint)
	}
	if f.Healthcheck.Retries != 3 || f.Healthcheck.StartPeriod != "1m" || f.Healthcheck.Cmd.Shell == "" {
		t.Errorf("healthcheck %+v", f.Healthcheck)
	}
	want := []string{ActionRun, ActionAdd, ActionEnv, ActionWorkdir, ActionUser, ActionCopy}
	for i, s := range f.Steps {
		if s.Action() != want[i] {
			t.Errorf("step %d action %s, want %s", i, s.Action(), want[i])
		}
	}
	if len(f.Steps[0].Env) != 1 || !f.Steps[0].Run.IsExec {
		t.Errorf("run with env: %+v", f.Steps[0])
	}
}

// errCase is a file and the errors it must produce, each "line:col: text".
type errCase struct {
	name string
	src  string
	want []string
}

func TestParseErrors(t *testing.T) {
	cases := []errCase{
		{"empty", ``, []string{"1:1: empty ZImagefile"}},
		{"not a mapping", `- a`, []string{"1:1: the ZImagefile must be a mapping"}},
		{"yaml syntax", "base: a\n  steps: [\n", []string{"2:"}},
		{"version", "version: \"2\"\nbase: a\n", []string{`1:10: unsupported version "2"`}},
		{"unknown top key", "base: a\nbsae: b\n", []string{`2:1: unknown key "bsae" in the ZImagefile (did you mean "base"?)`}},
		{"no mode", "env: {A: b}\n", []string{"1:1: nothing to build"}},
		{"two modes", "runtime: node\nbase: a\n", []string{"2:1: base + steps cannot be combined with runtime"}},
		{"unknown runtime", "runtime: cobol\n", []string{`1:10: unknown runtime "cobol"`}},
		{"steps without base", "steps:\n  - run: x\n", []string{"1:1: steps need a base image"}},
		{"step two actions", "base: a\nsteps:\n  - run: x\n    copy: y\n    to: z\n", []string{"4:5: step has two actions, run and copy"}},
		{"step no action", "base: a\nsteps:\n  - to: /x\n", []string{"3:5: step has no action"}},
		{"unknown step key", "base: a\nsteps:\n  - run: x\n    cahce: []\n", []string{`4:5: unknown key "cahce" in step (did you mean "cache"?)`}},
		{"copy without to", "base: a\nsteps:\n  - copy: x\n", []string{"3:5: copy needs to:"}},
		{"cache on copy", "base: a\nsteps:\n  - copy: x\n    to: y\n    cache: [{target: /c}]\n", []string{"5:5: cache: only applies to run steps"}},
		{"from on run", "base: a\nsteps:\n  - run: x\n    from: b\n", []string{"4:5: from: only applies to copy steps"}},
		{"from on add", "base: a\nsteps:\n  - add: x\n    to: y\n    from: b\n", []string{"5:5: from: is not supported on add"}},
		{"env beside copy", "base: a\nsteps:\n  - copy: x\n    to: y\n    env: {A: b}\n", []string{"5:5: step has two actions, copy and env"}},
		{"bad sharing", "base: a\nsteps:\n  - run: x\n    cache:\n      - target: /c\n        sharing: everyone\n", []string{`6:18: cache sharing: "everyone" is not shared, private or locked`}},
		{"cache no target", "base: a\nsteps:\n  - run: x\n    cache:\n      - id: c\n", []string{"5:9: cache mount needs target"}},
		{"bad chmod", "base: a\nsteps:\n  - copy: x\n    to: y\n    chmod: \"999\"\n", []string{`5:12: chmod: "999" is not a mode`}},
		{"from names no stage", "stages:\n  a:\n    base: busybox\n  b:\n    base: busybox\n    steps:\n      - copy: /x\n        from: c\n        to: /y\n", []string{`8:15: from "c" names no stage (earlier stages: a)`}},
		{"from later stage", "stages:\n  a:\n    base: busybox\n    steps:\n      - copy: /x\n        from: b\n        to: /y\n  b:\n    base: busybox\n", []string{`6:15: from "b" names a later stage`}},
		{"base later stage", "stages:\n  a:\n    base: b\n  b:\n    base: busybox\n", []string{`3:11: base "b" names a later stage`}},
		{"stage without base", "stages:\n  a:\n    workdir: /x\n", []string{"3:5: stage a needs base"}},
		{"bad stage name", "stages:\n  1st:\n    base: x\n", []string{`2:3: invalid stage name "1st"`}},
		{"reserved stage", "stages:\n  scratch:\n    base: x\n", []string{`2:3: "scratch" is reserved`}},
		{"empty stages", "stages: {}\n", []string{"1:9: stages must name at least one stage"}},
		{"bad port", "base: a\nexpose: 70000\n", []string{`2:9: expose: "70000" is not a port`}},
		{"bad proto", "base: a\nexpose: 53/icmp\n", []string{`2:9: expose: unknown protocol "icmp"`}},
		{"bad duration", "base: a\nhealthcheck:\n  cmd: true\n  interval: soon\n", []string{`4:13: healthcheck interval: "soon" is not a duration`}},
		{"healthcheck without cmd", "base: a\nhealthcheck:\n  retries: 2\n", []string{"3:3: healthcheck needs cmd"}},
		{"bad retries", "base: a\nhealthcheck:\n  cmd: true\n  retries: many\n", []string{`4:12: healthcheck retries: "many"`}},
		{"bad signal", "base: a\nstopsignal: stop-please\n", []string{`2:13: stopsignal: "stop-please" is not a signal`}},
		{"base with spaces", "base: my image\n", []string{`1:7: base must not contain spaces`}},
		{"env null", "base: a\nenv:\n  A:\n", []string{"3:5: top-level env A: value is null"}},
		{"env mapping value", "base: a\nenv:\n  A: {b: c}\n", []string{"3:6: top-level env A: value must be a string, not a mapping"}},
		{"bad arg name", "args:\n  bad-name: x\nbase: a\n", []string{`2:3: args: invalid name "bad-name"`}},
		{"cmd mapping", "base: a\ncmd: {a: b}\n", []string{"2:6: cmd must be a string, not a mapping"}},
		{"empty run", "base: a\nsteps:\n  - run: \"\"\n", []string{"3:10: run must not be empty"}},
		{"duplicate key", "base: a\nbase: b\n", []string{`2:1: duplicate key "base" in the ZImagefile (first at line 1)`}},
		{"steps not list", "base: a\nsteps: {run: x}\n", []string{"2:8: steps must be a list, not a mapping"}},
		{"wasm no language", "wasm: {target: preview1}\n", []string{"1:7: wasm needs language"}},
		{"wasm bad target", "wasm:\n  language: rust\n  target: preview3\n", []string{`3:11: wasm target: "preview3" is not one of preview1, preview2`}},
		{"wasm bad language", "wasm:\n  language: cobol\n", []string{`2:13: wasm language: "cobol"`}},
		{"platform outside single", "platform: linux/amd64\nstages:\n  a:\n    base: x\n", []string{"1:1: top-level platform only applies"}},
		{"two documents", "base: a\n---\nbase: b\n", []string{"3:1: a ZImagefile holds one YAML document"}},
		{"readonly not bool", "base: a\nsteps:\n  - run: x\n    cache:\n      - target: /c\n        readonly: maybe\n", []string{"6:19: cache readonly must be true or false"}},
		{"workdir multiline", "base: a\nworkdir: |\n  /a\n  /b\n", []string{"2:10: workdir must be a single line"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			checkErrors(t, tc.src, tc.want)
		})
	}
}

func checkErrors(t *testing.T, src string, want []string) {
	t.Helper()
	f, err := Parse("ZImagefile", []byte(src))
	if err == nil {
		t.Fatalf("no error; parsed %+v", f)
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not an ErrorList: %v", err, err)
	}
	var got []string
	for _, e := range list {
		if e.Range.Start.Line < 1 || e.Range.Start.Column < 1 {
			t.Errorf("error without position: %v", e)
		}
		got = append(got, fmt.Sprintf("%d:%d: %s", e.Range.Start.Line, e.Range.Start.Column, e.Msg))
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, w) {
				found = true
			}
		}
		if !found {
			t.Errorf("missing error %q; got:\n  %s", w, strings.Join(got, "\n  "))
		}
	}
	if !strings.HasPrefix(err.Error(), "ZImagefile:") && !strings.Contains(err.Error(), "problems in ZImagefile") {
		t.Errorf("message does not name the file: %v", err)
	}
}

func TestParseReportsAllErrorsTogether(t *testing.T) {
	src := `version: "1"
stages:
  build:
    base: busybox
    steps:
      - run: make
        copy: x
      - copy: a
  final:
    base: busybox
    steps:
      - copy: /bin/app
        from: nowhere
        to: /app
    expose: port
unknown: 1
`
	checkErrors(t, src, []string{
		"7:9: step has two actions, run and copy",
		"8:9: copy needs to:",
		`13:15: from "nowhere" names no stage`,
		`15:13: expose: "port" is not a port`,
		`16:1: unknown key "unknown"`,
	})
	_, err := Parse("ZImagefile", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %T, want an ErrorList: %v", err, err)
	}
	if n := len(list); n != 5 {
		t.Errorf("got %d errors, want 5: %v", n, err)
	}
	if !strings.HasPrefix(err.Error(), "5 problems in ZImagefile:\n  ZImagefile:7:9: ") {
		t.Errorf("message: %v", err)
	}
}

func TestParseAnchorsAndMerge(t *testing.T) {
	src := `x-cache: &cache
  - target: /root/.cache
    sharing: locked
stages:
  base: &common
    base: busybox
    workdir: /w
  app:
    <<: *common
    base: base
    steps:
      - run: echo
        cache: *cache
`
	// x-cache is an unknown key: extension keys are not allowed, so the
	// file must say so.
	checkErrors(t, src, []string{`1:1: unknown key "x-cache"`})
	src2 := strings.Replace(src, "x-cache: &cache\n  - target: /root/.cache\n    sharing: locked\n", "", 1)
	src2 = strings.Replace(src2, "cache: *cache", "cache: [{target: /c}]", 1)
	f, err := Parse("Z", []byte(src2))
	if err != nil {
		t.Fatal(err)
	}
	app := f.Stages[1]
	if app.Base != "base" || app.Workdir != "/w" {
		t.Errorf("merged stage: base %q workdir %q", app.Base, app.Workdir)
	}
}

func TestLooksLike(t *testing.T) {
	cases := map[string]bool{
		seedExample:                                   true,
		"# syntax=zlayer/zimagefile\nbase: a\n":       true,
		"# syntax=docker.io/zlayer/zimagefile:1\n":    true,
		"runtime: node22\n":                           true,
		"---\nstages:\n  a:\n    base: b\n":           true,
		"FROM busybox\nRUN echo hi\n":                 false,
		"# syntax=docker/dockerfile:1\nFROM alpine\n": false,
		"ARG X=1\nFROM alpine:$X\n":                   false,
		"from alpine\n":                               false,
		"name: my-compose\nservices: {}\n":            false,
		"":                                            false,
		"\x00\x01binary":                              false,
	}
	for src, want := range cases {
		if got := LooksLike([]byte(src)); got != want {
			t.Errorf("LooksLike(%q) = %v, want %v", src, got, want)
		}
	}
}

func TestDetectRuntime(t *testing.T) {
	cases := []struct {
		files []string
		want  string
	}{
		{[]string{"package.json", "bun.lockb"}, "bun"},
		{[]string{"deno.json"}, "deno"},
		{[]string{"Cargo.toml", "package.json"}, "rust"},
		{[]string{"pyproject.toml"}, "python"},
		{[]string{"requirements.txt"}, "python"},
		{[]string{"go.mod"}, "go"},
		{[]string{"package.json"}, "node"},
	}
	for _, tc := range cases {
		dir := t.TempDir()
		for _, f := range tc.files {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, err := DetectRuntime(dir)
		if err != nil || got != tc.want {
			t.Errorf("%v: got %q, %v; want %q", tc.files, got, err, tc.want)
		}
	}
	_, err := DetectRuntime(t.TempDir())
	if !errors.Is(err, ErrNoRuntime) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := DetectRuntime(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing dir: no error")
	}
}

func TestParseNamedContextInFrom(t *testing.T) {
	src := "base: busybox\nsteps:\n  - copy: /x\n    from: extra\n    to: /y\n"
	checkErrors(t, src, []string{`4:11: from "extra" names no stage (there are none before it) and no named context`})
	if _, err := ParseWithOptions("Z", []byte(src), Options{Contexts: []string{"extra"}}); err != nil {
		t.Fatal(err)
	}
}

func TestErrorListPretty(t *testing.T) {
	src := "base: a\nsteps:\n  - run: x\n    copy: y\n"
	_, err := Parse("Z", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("got %T, want an ErrorList: %v", err, err)
	}
	got := list.Pretty([]byte(src))
	want := "Z:4:5: step has two actions, run and copy: split it into two steps\n    4 |     copy: y\n      |     ^"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseDocComments(t *testing.T) {
	src := "args:\n  # VERSION to build\n  VERSION: \"1\"\nstages:\n  # build compiles things\n  build:\n    base: a\n  # final is the output\n  final:\n    base: build\n"
	f, err := Parse("Z", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if f.Stages[0].Doc != "build compiles things" || f.Stages[1].Doc != "final is the output" || f.Args[0].Doc != "VERSION to build" {
		t.Errorf("docs: %q %q %q", f.Stages[0].Doc, f.Stages[1].Doc, f.Args[0].Doc)
	}
}
