package convert

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/zlayer/zlayer/frontend/zimagefile"
)

func mustConvert(t testing.TB, src string) *Result {
	t.Helper()
	f, err := zimagefile.Parse("ZImagefile", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	r, err := Convert(f)
	if err != nil {
		t.Fatal(err)
	}
	checkDockerfile(t, r)
	return r
}

// checkDockerfile parses the generated Dockerfile with BuildKit's own parser
// and checks the line map covers every line.
func checkDockerfile(t testing.TB, r *Result) []instructions.Stage {
	t.Helper()
	ast, err := parser.Parse(bytes.NewReader(r.Dockerfile))
	if err != nil {
		t.Fatalf("generated Dockerfile does not parse: %v\n%s", err, r.Dockerfile)
	}
	stages, _, err := instructions.Parse(ast.AST, nil)
	if err != nil {
		t.Fatalf("generated Dockerfile is invalid: %v\n%s", err, r.Dockerfile)
	}
	if n := bytes.Count(r.Dockerfile, []byte("\n")); n != len(r.Lines) {
		t.Fatalf("%d lines but %d mapped", n, len(r.Lines))
	}
	for i, rg := range r.Lines {
		if rg.Start.Line < 1 {
			t.Fatalf("line %d unmapped", i+1)
		}
	}
	return stages
}

// body drops the generated header comment.
func body(r *Result) string {
	s := string(r.Dockerfile)
	return s[strings.Index(s, "\n")+1:]
}

func TestConvertSeedExample(t *testing.T) {
	src := `version: "1"
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
	r := mustConvert(t, src)
	want := `FROM rust:1.90-bookworm AS builder
WORKDIR /build
COPY [".","/build"]
RUN --mount=type=cache,target=/usr/local/cargo/registry,id=cargo-registry,sharing=shared cargo build --release
FROM debian:bookworm-slim AS runtime
COPY --from=builder --chmod=755 ["/build/target/release/myapp","/usr/local/bin/myapp"]
CMD ["/usr/local/bin/myapp"]
EXPOSE 8080
`
	if got := body(r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// Line map: RUN (line 5) comes from the run step at 9:9..13:29.
	rg, ok := r.MapRange(5, 5)
	if !ok || rg.Start.Line != 9 || rg.End.Line != 13 {
		t.Errorf("RUN maps to %v", rg)
	}
	// FROM builder (line 2) maps to the stage key and base.
	if rg, _ := r.MapRange(2, 2); rg.Start.Line != 3 || rg.End.Line != 4 {
		t.Errorf("FROM maps to %v", rg)
	}
	if rg, _ := r.MapRange(9, 9); rg.Start.Line != 22 {
		t.Errorf("EXPOSE maps to %v", rg)
	}
	if len(r.Stages) != 2 || r.Stages[1].Name != "runtime" {
		t.Errorf("stages %+v", r.Stages)
	}
}

func TestConvertSingleStageOrder(t *testing.T) {
	src := `base: alpine:3
args: {V: "1", W: ~}
env: {A: "x \"y\" $V"}
workdir: /app
user: app
labels: {"a b": c}
expose: ["53/udp", 80]
volumes: [/data, /cache]
healthcheck: {cmd: curl -f localhost, interval: 10s, retries: 0}
stopsignal: "9"
entrypoint: ["/bin/app"]
cmd: serve --port 80
steps:
  - run: echo one
  - workdir: sub
`
	r := mustConvert(t, src)
	want := `ARG V="1"
ARG W
FROM alpine:3
ARG V
ARG W
ENV A="x \"y\" $V"
WORKDIR /app
RUN echo one
WORKDIR sub
USER app
LABEL "a b"="c"
EXPOSE 53/udp
EXPOSE 80
VOLUME ["/data","/cache"]
HEALTHCHECK --interval=10s --retries=0 CMD curl -f localhost
STOPSIGNAL 9
ENTRYPOINT ["/bin/app"]
CMD serve --port 80
`
	if got := body(r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestConvertRunForms(t *testing.T) {
	cases := []struct{ step, want string }{
		{"run: echo hi", "RUN echo hi"},
		{"run: [echo, hi]", `RUN ["echo","hi"]`},
		{"run: [echo, hi]\n    env: {A: b}", `RUN ["env","A=b","echo","hi"]`},
		{"run: echo $A\n    env: {A: \"x y\", B: \"q\\\"\"}", `RUN export A="x y" B="q\""; echo $A`},
		{"run: |\n      echo a\n      echo b\n", "RUN <<'EOF'\necho a\necho b\nEOF"},
		{"run: |\n      echo a\n      EOF\n", "RUN <<'EOF0'\necho a\nEOF\nEOF0"},
		{"run: \"[ -f x ] || touch x\"", "RUN <<'EOF'\n[ -f x ] || touch x\nEOF"},
		{"run: |\n      echo a\n    env: {A: b}", "RUN export A=\"b\"; echo a"},
		{"run: |\n      echo a\n      echo b\n    env: {A: b}", "RUN <<'EOF'\nexport A=\"b\"\necho a\necho b\nEOF"},
		{"run: make\n    cache: [{target: /c, readonly: true}, {target: /d, id: d, sharing: private}]", "RUN --mount=type=cache,target=/c,readonly --mount=type=cache,target=/d,id=d,sharing=private make"},
		{"copy: [a, b]\n    to: /x", `COPY ["a","b","/x/"]`},
		{"copy: a b\n    to: /dir with space/", `COPY ["a b","/dir with space/"]`},
		{"add: https://example.com/x.tgz\n    to: /opt/\n    owner: app\n    chmod: \"640\"", `ADD --chown=app --chmod=640 ["https://example.com/x.tgz","/opt/"]`},
		{"env: {A: \"1\", B: '\\'}", "ENV A=\"1\"\nENV B=\"\\\\\""},
		{"user: \"1000:1000\"", "USER 1000:1000"},
	}
	for _, tc := range cases {
		r := mustConvert(t, "base: busybox\nsteps:\n  - "+tc.step+"\n")
		got := strings.TrimSuffix(strings.SplitN(body(r), "\n", 2)[1], "\n")
		if got != tc.want {
			t.Errorf("step %q:\ngot:  %q\nwant: %q", tc.step, got, tc.want)
		}
	}
}

func TestConvertMultiStageTopLevel(t *testing.T) {
	src := `args: {BASE: busybox}
stages:
  Build:
    base: $BASE
    platform: $BUILDPLATFORM
    steps:
      - run: touch /x
  final:
    base: build
    cmd: ["a"]
    steps:
      - copy: /x
        from: Build
        to: /y
env: {TOP: "1"}
cmd: ["b"]
user: nobody
`
	r := mustConvert(t, src)
	want := `ARG BASE="busybox"
FROM --platform=$BUILDPLATFORM $BASE AS build
ARG BASE
RUN touch /x
FROM build AS final
ARG BASE
COPY --from=build ["/x","/y"]
ENV TOP="1"
USER nobody
CMD ["b"]
`
	if got := body(r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestConvertRuntimeTemplates(t *testing.T) {
	for _, name := range zimagefile.Runtimes {
		t.Run(name, func(t *testing.T) {
			src := "runtime: " + name + "\nenv: {EXTRA: \"1\"}\nexpose: 9999\nlabels: {a: b}\nhealthcheck: {cmd: \"true\"}\ncmd: [\"custom\"]\n"
			r := mustConvert(t, src)
			df := string(r.Dockerfile)
			for _, w := range []string{"ENV EXTRA=\"1\"", "EXPOSE 9999", `LABEL "a"="b"`, "HEALTHCHECK CMD true", "USER ", "--mount=type=cache"} {
				if !strings.Contains(df, w) {
					t.Errorf("missing %q in\n%s", w, df)
				}
			}
			// The user's cmd replaces the template's.
			if strings.Count(df, "\nCMD ") != 1 || !strings.Contains(df, `CMD ["custom"]`) {
				t.Errorf("want only the user's CMD:\n%s", df)
			}
			if len(r.Stages) < 2 {
				t.Errorf("template %s is not multi-stage", name)
			}
			// Template lines map to the runtime: key, the user's to theirs.
			if rg, _ := r.MapRange(2, 2); rg.Start.Line != 1 {
				t.Errorf("template FROM maps to %v", rg)
			}
			n := strings.Count(df, "\n")
			if rg, _ := r.MapRange(n, n); rg.Start.Line != 6 {
				t.Errorf("user cmd maps to %v", rg)
			}
		})
	}
}

func TestConvertWasm(t *testing.T) {
	r := mustConvert(t, "wasm:\n  module: hello.wasm\n  target: preview1\n")
	want := "FROM scratch\nCOPY [\"hello.wasm\",\"/module.wasm\"]\nLABEL \"dev.zlayer.wasm.target\"=\"wasip1\"\nENTRYPOINT [\"/module.wasm\"]\n"
	if got := body(r); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if r.Platform != "wasi/wasm" || r.Annotations[AnnotationWasiTarget] != "wasip1" {
		t.Errorf("platform %q annotations %v", r.Platform, r.Annotations)
	}
	for _, lang := range []string{"rust", "go", "c", "zig", "assemblyscript", "typescript", "python"} {
		target := "preview2"
		if lang == "zig" {
			target = "preview1"
		}
		r := mustConvert(t, "wasm:\n  language: "+lang+"\n  target: "+target+"\n  optimize: true\n  features: [a, b]\n  build_args: {X: \"1\"}\n")
		df := string(r.Dockerfile)
		for _, w := range []string{"FROM --platform=$BUILDPLATFORM ", "AS build", "ARG X=\"1\"", "FROM scratch", "COPY --from=build [\"/out/module.wasm\",\"/module.wasm\"]", "wasm-opt -O2"} {
			if !strings.Contains(df, w) {
				t.Errorf("%s: missing %q in\n%s", lang, w, df)
			}
		}
	}
	r = mustConvert(t, "wasm: {language: c, base: my/sdk:1, name: app.wasm}\nentrypoint: [\"/app.wasm\", \"--flag\"]\n")
	if df := string(r.Dockerfile); !strings.Contains(df, "FROM --platform=$BUILDPLATFORM my/sdk:1 AS build") || strings.Count(df, "ENTRYPOINT") != 1 {
		t.Errorf("base override / entrypoint:\n%s", df)
	}
}

func TestConvertExamples(t *testing.T) {
	paths, err := filepath.Glob("../../examples/zimagefile/*/ZImagefile")
	if err != nil || len(paths) == 0 {
		t.Fatalf("no examples: %v", err)
	}
	for _, p := range paths {
		dt, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(filepath.Base(filepath.Dir(p)), func(t *testing.T) { mustConvert(t, string(dt)) })
	}
}

// FuzzConvert checks that every file the parser accepts converts to a
// Dockerfile BuildKit accepts, with every line mapped back.
func FuzzConvert(f *testing.F) {
	paths, _ := filepath.Glob("../../examples/zimagefile/*/ZImagefile")
	for _, p := range paths {
		if dt, err := os.ReadFile(p); err == nil {
			f.Add(dt)
		}
	}
	f.Add([]byte("base: a\nsteps:\n  - run: \"x\\\\\"\n  - copy: [\"a\\\"\", b]\n    to: c\n"))
	f.Add([]byte("stages:\n  a: {base: b, env: {K: \"$x\"}, steps: [{run: [x], env: {A: b}}]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := zimagefile.Parse("ZImagefile", data)
		if err != nil {
			return
		}
		r, err := Convert(file)
		if err != nil {
			t.Fatalf("accepted file does not convert: %v", err)
		}
		checkDockerfile(t, r)
	})
}

func BenchmarkParseConvert500Steps(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("base: busybox\nsteps:\n")
	for i := 0; i < 500; i++ {
		sb.WriteString("  - run: echo step\n    cache: [{target: /c, sharing: locked}]\n")
	}
	src := []byte(sb.String())
	for b.Loop() {
		f, err := zimagefile.Parse("ZImagefile", src)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Convert(f); err != nil {
			b.Fatal(err)
		}
	}
}

func TestConvertCopyFromStageResolvesAgainstItsWorkdir(t *testing.T) {
	src := `stages:
  a:
    base: busybox
    workdir: /src
    steps:
      - workdir: sub
  b:
    base: a
  c:
    base: busybox
    steps:
      - copy: [out/, bin/app, /abs, $VAR/x]
        from: b
        to: /dst/
      - copy: x
        from: busybox:latest
        to: /y
`
	r := mustConvert(t, src)
	if want := `COPY --from=b ["/src/sub/out/","/src/sub/bin/app","/abs","$VAR/x","/dst/"]`; !strings.Contains(string(r.Dockerfile), want) {
		t.Errorf("missing %s in\n%s", want, r.Dockerfile)
	}
	if want := `COPY --from=busybox:latest ["x","/y"]`; !strings.Contains(string(r.Dockerfile), want) {
		t.Errorf("missing %s in\n%s", want, r.Dockerfile)
	}
}

// TestConvertRunSecretsAndSSH checks the mounts as BuildKit's Dockerfile
// parser reads them back, so the equivalent Dockerfile means what the
// ZImagefile says.
func TestConvertRunSecretsAndSSH(t *testing.T) {
	r := mustConvert(t, `base: busybox
steps:
  - run: make
    secrets:
      - {id: npmrc, target: /root/.npmrc, required: true}
      - {id: token, env: API_TOKEN}
      - {id: plain}
    ssh: [default, {id: gh, target: /run/gh.sock, required: true}]
`)
	want := "RUN --mount=type=secret,id=npmrc,target=/root/.npmrc,required=true --mount=type=secret,id=token,env=API_TOKEN" +
		" --mount=type=secret,id=plain --mount=type=ssh --mount=type=ssh,id=gh,target=/run/gh.sock,required=true make"
	if got := strings.SplitN(body(r), "\n", 3)[1]; got != want {
		t.Errorf("got:  %s\nwant: %s", got, want)
	}
	stages := checkDockerfile(t, r)
	var run *instructions.RunCommand
	for _, c := range stages[0].Commands {
		if rc, ok := c.(*instructions.RunCommand); ok {
			run = rc
		}
	}
	if run == nil {
		t.Fatal("no RUN")
	}
	// Mount options are read when the instruction is expanded.
	if err := run.Expand(func(w string) (string, error) { return w, nil }); err != nil {
		t.Fatal(err)
	}
	type mount struct {
		typ, id, target, env string
		required             bool
	}
	var got []mount
	for _, m := range instructions.GetMounts(run) {
		e := ""
		if m.Env != nil {
			e = *m.Env
		}
		got = append(got, mount{string(m.Type), m.CacheID, m.Target, e, m.Required})
	}
	wantMounts := []mount{
		{"secret", "npmrc", "/root/.npmrc", "", true},
		{"secret", "token", "", "API_TOKEN", false},
		{"secret", "plain", "", "", false},
		{"ssh", "", "", "", false},
		{"ssh", "gh", "/run/gh.sock", "", true},
	}
	if fmt.Sprint(got) != fmt.Sprint(wantMounts) {
		t.Errorf("mounts as BuildKit reads them:\n got  %v\n want %v", got, wantMounts)
	}
}
