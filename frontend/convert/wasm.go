package convert

import (
	"fmt"
	"path"
	"strings"

	"github.com/zlayer/zlayer/frontend/zimagefile"
)

// WasmPlatform is the platform of wasm images.
const WasmPlatform = "wasi/wasm"

// Annotation and label keys naming the WASI target of a wasm image.
const (
	AnnotationWasiTarget = "dev.zlayer.wasm.target"
	// AnnotationWasmVariant is read by containerd wasm shims and crun to
	// recognise wasm images.
	AnnotationWasmVariant = "module.wasm.image/variant"
)

// toolchain describes how one language compiles to wasm.
type toolchain struct {
	base string
	// script builds into /out/module.wasm; $WASI_TARGET is wasip1 or
	// wasip2, $FEATURES the comma-separated features, $OUTPUT the user's
	// output path (may be empty).
	script string
	caches []*zimagefile.CacheMount
}

var toolchains = map[string]toolchain{
	"rust": {
		base: "rust:1-slim-bookworm",
		script: `rustup target add "wasm32-$WASI_TARGET"
cargo build --release --target "wasm32-$WASI_TARGET" ${FEATURES:+--features "$FEATURES"}
if [ -z "$OUTPUT" ]; then OUTPUT=$(ls target/wasm32-$WASI_TARGET/release/*.wasm | head -n 1); fi
cp "$OUTPUT" /out/module.wasm`,
		caches: []*zimagefile.CacheMount{
			{Target: "/usr/local/cargo/registry", ID: "cargo-registry", Sharing: "locked"},
			{Target: "/src/target", ID: "cargo-target-wasm", Sharing: "locked"},
		},
	},
	"go": {
		base: "tinygo/tinygo:0.35.0",
		script: `tinygo build -target="$WASI_TARGET" ${FEATURES:+-tags "$(echo "$FEATURES" | tr , ' ')"} -o "${OUTPUT:-/out/module.wasm}" .
if [ -n "$OUTPUT" ]; then cp "$OUTPUT" /out/module.wasm; fi`,
		caches: []*zimagefile.CacheMount{{Target: "/root/.cache/tinygo", ID: "tinygo", Sharing: "locked"}},
	},
	"c": {
		base: "ghcr.io/webassembly/wasi-sdk:wasi-sdk-25",
		script: `${CC:-clang} --target="wasm32-$WASI_TARGET" -O2 ${FEATURES:+$(echo "-D$FEATURES" | sed 's/,/ -D/g')} -o "${OUTPUT:-/out/module.wasm}" $(find . -name '*.c' | sort)
if [ -n "$OUTPUT" ]; then cp "$OUTPUT" /out/module.wasm; fi`,
	},
	"zig": {
		base: "alpine:3",
		script: `command -v zig >/dev/null || apk add --no-cache zig
src=$(ls src/main.zig main.zig 2>/dev/null | head -n 1)
zig build-exe -target wasm32-wasi -O ReleaseSmall -femit-bin=/out/module.wasm "$src"`,
	},
	"assemblyscript": {
		base: "node:22-slim",
		script: `if [ -f package-lock.json ]; then npm ci; else npm install; fi
npx asc assembly/index.ts --outFile "${OUTPUT:-/out/module.wasm}" --optimize
if [ -n "$OUTPUT" ]; then cp "$OUTPUT" /out/module.wasm; fi`,
		caches: []*zimagefile.CacheMount{{Target: "/root/.npm", ID: "npm", Sharing: "locked"}},
	},
	"typescript": {
		base: "node:22-slim",
		script: `if [ -f package-lock.json ]; then npm ci; else npm install; fi
if [ -f tsconfig.json ]; then npx tsc; fi
entry=$(ls dist/index.js src/index.js index.js 2>/dev/null | head -n 1)
npx @bytecodealliance/jco componentize "$entry" --wit wit -o "${OUTPUT:-/out/module.wasm}"
if [ -n "$OUTPUT" ]; then cp "$OUTPUT" /out/module.wasm; fi`,
		caches: []*zimagefile.CacheMount{{Target: "/root/.npm", ID: "npm", Sharing: "locked"}},
	},
	"python": {
		base: "python:3.12-slim",
		script: `pip install componentize-py
componentize-py -d wit componentize app -o "${OUTPUT:-/out/module.wasm}"
if [ -n "$OUTPUT" ]; then cp "$OUTPUT" /out/module.wasm; fi`,
		caches: []*zimagefile.CacheMount{{Target: "/root/.cache/pip", ID: "pip", Sharing: "locked"}},
	},
}

func wasiTarget(t string) string {
	if t == "preview1" {
		return "wasip1"
	}
	return "wasip2"
}

func (c *converter) wasm() error {
	f := c.f
	wm := f.Wasm
	w := &c.w
	rg := keyRange(f.Pos, "wasm")
	target := wasiTarget(wm.Target)
	name := wm.Name
	if name == "" {
		name = "module.wasm"
	}
	c.res.Platform = WasmPlatform
	c.res.Annotations = map[string]string{
		AnnotationWasiTarget:  target,
		AnnotationWasmVariant: "compat-smart",
	}
	src := "/out/module.wasm"
	if wm.Module != "" {
		// A prebuilt module needs no toolchain.
		w.emit(rg, "FROM scratch")
		c.res.Stages = append(c.res.Stages, Stage{Name: "", Range: wm.Range})
		w.emit(keyRange(wm.Pos, "module"), "COPY "+jsonList([]string{wm.Module, "/" + name}))
	} else {
		tc := toolchains[wm.Language]
		base := tc.base
		if wm.Base != "" {
			base = wm.Base
		}
		langRange := keyRange(wm.Pos, "language")
		// The toolchain runs on the build machine; only the module is
		// wasi/wasm.
		w.emit(langRange, "FROM --platform=$BUILDPLATFORM "+base+" AS build")
		c.res.Stages = append(c.res.Stages, Stage{Name: "build", Range: wm.Range})
		for _, g := range c.globals {
			w.emit(langRange, "ARG "+g)
		}
		for _, a := range wm.BuildArgs {
			w.emit(a.Range, "ARG "+argDecl(a))
		}
		w.emit(langRange, "WORKDIR /src")
		w.emit(langRange, "COPY . .")
		env := []zimagefile.KeyValue{{Key: "WASI_TARGET", Value: target}}
		if len(wm.Features) > 0 {
			env = append(env, zimagefile.KeyValue{Key: "FEATURES", Value: strings.Join(wm.Features, ",")})
		}
		if wm.Output != "" {
			env = append(env, zimagefile.KeyValue{Key: "OUTPUT", Value: wm.Output})
		}
		script := "set -e\nmkdir -p /out\n" + tc.script
		if wm.Optimize {
			lvl := wm.OptLevel
			if lvl == "" {
				lvl = "2"
			}
			script += fmt.Sprintf(`
if command -v wasm-opt >/dev/null 2>&1; then wasm-opt -O%s /out/module.wasm -o /out/module.wasm; else echo "wasm-opt is not in the builder image; module left unoptimized" >&2; fi`, lvl)
		}
		step := &zimagefile.Step{
			Run:   &zimagefile.Command{Shell: script},
			Env:   env,
			Cache: tc.caches,
			Range: langRange,
			Pos:   zimagefile.Positions{"run": {}},
		}
		w.emit(langRange, runLine(step))
		w.emit(rg, "FROM scratch")
		c.res.Stages = append(c.res.Stages, Stage{Name: "", Range: wm.Range})
		w.emit(rg, "COPY --from=build "+jsonList([]string{src, "/" + name}))
	}
	w.emit(rg, "LABEL "+quote(AnnotationWasiTarget)+"="+quote(target))
	if f.Entrypoint == nil {
		w.emit(rg, "ENTRYPOINT "+jsonList([]string{path.Join("/", name)}))
	}
	c.overlay(&f.Config, f.Pos)
	return nil
}
