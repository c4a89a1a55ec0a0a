package convert

import (
	"fmt"

	"github.com/zlayer/zlayer/frontend/zimagefile"
)

// Runtime templates, written as ZImagefiles. They use numeric users so that
// they work on any base (a user name would need /etc/passwd at build time),
// install dependencies before copying the sources so edits keep the
// dependency layer cached, and keep package manager caches in cache mounts.
var templates = map[string]string{
	"node20":    nodeTemplate("node:20-slim"),
	"node22":    nodeTemplate("node:22-slim"),
	"python312": pythonTemplate("python:3.12-slim"),
	"python313": pythonTemplate("python:3.13-slim"),
	"rust": `
stages:
  build:
    base: rust:1-slim-bookworm
    workdir: /src
    steps:
      - copy: .
        to: .
      - run: |
          set -e
          cargo build --release --locked || cargo build --release
          name=$(sed -n 's/^name *= *"\(.*\)".*/\1/p' Cargo.toml | head -n 1)
          mkdir -p /out
          cp "target/release/$name" /out/app
        cache:
          - target: /usr/local/cargo/registry
            id: cargo-registry
            sharing: locked
          - target: /usr/local/cargo/git
            id: cargo-git
            sharing: locked
          - target: /src/target
            id: cargo-target
            sharing: locked
` + binaryRuntime("debian:bookworm-slim"),
	"go": `
stages:
  build:
    base: golang:1-bookworm
    workdir: /src
    env:
      CGO_ENABLED: "0"
    steps:
      - copy: [go.mod, go.sum*]
        to: ./
      - run: go mod download
        cache:
          - target: /go/pkg/mod
            id: go-mod
            sharing: locked
      - copy: .
        to: .
      - run: mkdir -p /out && go build -trimpath -ldflags="-s -w" -o /out/app .
        cache:
          - target: /go/pkg/mod
            id: go-mod
            sharing: locked
          - target: /root/.cache/go-build
            id: go-build
            sharing: locked
` + binaryRuntime("alpine:3"),
	"deno": `
stages:
  build:
    base: denoland/deno:2
    workdir: /app
    env:
      DENO_DIR: /deno-dir
    steps:
      - copy: .
        to: .
      - run: |
          set -e
          entry=main.ts
          for f in main.ts main.js mod.ts server.ts; do if [ -f "$f" ]; then entry=$f; break; fi; done
          DENO_DIR=/deno-cache deno cache "$entry"
          mkdir -p /deno-dir
          cp -a /deno-cache/. /deno-dir/
          echo "$entry" > /app/.entrypoint
        cache:
          - target: /deno-cache
            id: deno
            sharing: locked
  runtime:
    base: denoland/deno:2
    workdir: /app
    env:
      DENO_DIR: /deno-dir
    steps:
      - copy: /deno-dir
        from: build
        to: /deno-dir
        owner: "1993:1993"
      - copy: /app
        from: build
        to: /app
        owner: "1993:1993"
    user: "1993:1993"
    cmd: ["sh", "-c", "exec deno run --allow-net --allow-env --allow-read \"$(cat /app/.entrypoint)\""]
`,
	"bun": `
stages:
  deps:
    base: oven/bun:1
    workdir: /app
    steps:
      - copy: [package.json, bun.lockb*, bun.lock*]
        to: ./
      - run: bun install --production --frozen-lockfile || bun install --production
        cache:
          - target: /root/.bun/install/cache
            id: bun
            sharing: locked
  runtime:
    base: oven/bun:1-slim
    workdir: /app
    env:
      NODE_ENV: production
    steps:
      - copy: /app/node_modules
        from: deps
        to: ./node_modules
        owner: "1000:1000"
      - copy: .
        to: .
        owner: "1000:1000"
    user: "1000:1000"
    cmd: ["bun", "run", "start"]
`,
}

// binaryRuntime is the output stage of the templates that compile one
// static binary to /out/app in their build stage: base with only that
// binary, run as a numeric user.
func binaryRuntime(base string) string {
	return fmt.Sprintf(`  runtime:
    base: %s
    workdir: /app
    steps:
      - copy: /out/app
        from: build
        to: /usr/local/bin/app
        chmod: "755"
    user: "10001:10001"
    cmd: ["/usr/local/bin/app"]
`, base)
}

func nodeTemplate(base string) string {
	return fmt.Sprintf(`
stages:
  build:
    base: %[1]s
    workdir: /app
    steps:
      - copy: [package.json, package-lock.json*, npm-shrinkwrap.json*]
        to: ./
      - run: if [ -f package-lock.json ] || [ -f npm-shrinkwrap.json ]; then npm ci; else npm install; fi
        cache:
          - target: /root/.npm
            id: npm
            sharing: locked
      - copy: .
        to: .
      - run: npm run build --if-present && npm prune --omit=dev
        cache:
          - target: /root/.npm
            id: npm
            sharing: locked
  runtime:
    base: %[1]s
    workdir: /app
    env:
      NODE_ENV: production
    steps:
      - copy: /app
        from: build
        to: /app
        owner: "1000:1000"
    user: "1000:1000"
    expose: 3000
    cmd: ["npm", "start"]
`, base)
}

func pythonTemplate(base string) string {
	return fmt.Sprintf(`
stages:
  build:
    base: %[1]s
    workdir: /src
    env:
      PIP_DISABLE_PIP_VERSION_CHECK: "1"
    steps:
      - copy: .
        to: .
      - run: |
          set -e
          if [ -f requirements.txt ]; then pip install --prefix=/install -r requirements.txt; fi
          if [ -f pyproject.toml ]; then pip install --prefix=/install .; fi
          mkdir -p /install
        cache:
          - target: /root/.cache/pip
            id: pip
            sharing: locked
  runtime:
    base: %[1]s
    workdir: /app
    env:
      PYTHONUNBUFFERED: "1"
      PYTHONDONTWRITEBYTECODE: "1"
    steps:
      - copy: /install
        from: build
        to: /usr/local
      - copy: .
        to: .
        owner: "10001:10001"
    user: "10001:10001"
    expose: 8000
    cmd: ["python", "main.py"]
`, base)
}

// Template returns the ZImagefile text of a runtime template.
func Template(name string) (string, bool) {
	if a, ok := zimagefile.RuntimeAliases[name]; ok {
		name = a
	}
	t, ok := templates[name]
	return t, ok
}

func (c *converter) runtime() error {
	f := c.f
	text, ok := Template(f.Runtime)
	if !ok {
		return fmt.Errorf("%s: unknown runtime %q", f.Name, f.Runtime)
	}
	tf, err := zimagefile.Parse("runtime "+f.Runtime, []byte(text))
	if err != nil {
		return fmt.Errorf("runtime template %s is broken: %w", f.Runtime, err)
	}
	rg := keyRange(f.Pos, "runtime")
	for i, st := range tf.Stages {
		c.w.override = &rg
		if i < len(tf.Stages)-1 {
			c.stage(st, nil, nil)
			continue
		}
		// The template's own output stage, then the user's top-level keys
		// with their real positions.
		st.Config = overridden(st.Config, &f.Config)
		c.stage(st, nil, nil)
		c.w.override = nil
		c.overlay(&f.Config, f.Pos)
	}
	c.w.override = nil
	return nil
}

// overlay writes top-level configuration on top of the current stage.
func (c *converter) overlay(cfg *zimagefile.Config, pos zimagefile.Positions) {
	if len(cfg.Env) > 0 {
		c.env(cfg.Env)
	}
	if cfg.Workdir != "" {
		c.w.emit(keyRange(pos, "workdir"), "WORKDIR "+cfg.Workdir)
	}
	c.tail(cfg, pos)
}
