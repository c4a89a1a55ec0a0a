#!/usr/bin/env bash
# make demo: the main job end to end on a fresh machine, visibly.
# Starts a private stack (registry, buildkitd, buildx builder, containerd) in a
# temp folder, builds an example with stock `docker buildx build`, pushes it to
# the stack's registry, runs it with containerd, shows its output, and stops
# everything by PID on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "starting the stack (registry, buildkitd, buildx remote builder, containerd)"
go build -o bin/zlstack ./integration/cmd/zlstack
eval "$(ZLAYER_BIN="$root/bin" bin/zlstack up --buildkit --containerd)"
trap 'step "stopping the stack"; bin/zlstack down "$ZLSTACK_DIR"' EXIT

ref=$ZLAYER_REGISTRY/demo/hello:latest
step "docker buildx build examples/hello -> $ref"
docker buildx build --progress=plain --output "type=image,name=$ref,push=true" examples/hello

step "running $ref with containerd"
ctr=(ctr --address "$CONTAINERD_ADDRESS" -n "$CONTAINERD_NAMESPACE")
"${ctr[@]}" images pull --plain-http "$ref" >/dev/null
"${ctr[@]}" run --rm --fifo-dir "$ZLSTACK_DIR/ctd/fifo" --runc-root "$ZLSTACK_DIR/ctd/runc" "$ref" demo-hello
