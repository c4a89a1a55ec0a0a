#!/usr/bin/env bash
# make demo: the main job end to end, visibly, on a fresh machine.
#  1. a private stack in a temp folder: registry (docker.io mirror), buildkitd,
#     a buildx remote builder
#  2. the zlayer/zimagefile frontend image, pushed to that registry
#  3. examples/web/ZImagefile built by stock `docker buildx build` through it
#  4. `zlayer serve` (supervising its own containerd) and `zlayer deploy`
#  5. the deployed service answering over HTTP
# Everything it started is stopped by PID on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
step() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }

step "starting the stack (registry, buildkitd, buildx remote builder)"
go build -o bin/zlstack ./integration/cmd/zlstack
eval "$(ZLAYER_BIN="$root/bin" bin/zlstack up --buildkit)"
node=$(mktemp -d /tmp/zlnodeXXXX)
serve_pid=""
cleanup() {
  step "stopping"
  if [ -n "$serve_pid" ] && kill -0 "$serve_pid" 2>/dev/null; then
    bin/zlayer down --host "$node/api.sock" demo >/dev/null 2>&1 || true
    kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
  fi
  bin/zlstack down "$ZLSTACK_DIR"
  rm -rf "$node"
}
trap cleanup EXIT

step "building the zlayer/zimagefile frontend image -> $ZLAYER_REGISTRY/zlayer/zimagefile"
docker buildx build --progress=plain -f docker/Dockerfile.zimagefile --target frontend \
  --build-arg BINARY_PATH=bin/zimagefile-frontend \
  --output "type=image,name=$ZLAYER_REGISTRY/zlayer/zimagefile:latest,push=true" . 2>&1 | grep -E '^#[0-9]+ (\[|DONE|pushing)' || true

step "docker buildx build -f examples/web/ZImagefile (first line: # syntax=zlayer/zimagefile)"
head -1 examples/web/ZImagefile
docker buildx build --progress=plain -f examples/web/ZImagefile \
  --output "type=image,name=$ZLAYER_REGISTRY/demo/web:latest,push=true" examples/web

step "zlayer serve (data in $node, its own containerd)"
cat >"$node/config.yaml" <<CFG
registries:
  mirrors:
    docker.io:
      endpoint: ["http://$ZLAYER_REGISTRY"]
CFG
CONTAINERD_SOCKET="$node/none.sock" bin/zlayer serve --data-dir "$node/data" --socket "$node/api.sock" \
  --bind "" --config "$node/config.yaml" >"$node/serve.log" 2>&1 &
serve_pid=$!
for _ in $(seq 1 100); do
  bin/zlayer status --host "$node/api.sock" >/dev/null 2>&1 && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$node/serve.log"; exit 1; }
  sleep 0.3
done
bin/zlayer status --host "$node/api.sock"

step "zlayer deploy examples/web/deploy.yaml"
sed "s|\${REGISTRY}|$ZLAYER_REGISTRY|" examples/web/deploy.yaml >"$node/deploy.yaml"
bin/zlayer deploy --host "$node/api.sock" "$node/deploy.yaml"
for _ in $(seq 1 100); do
  curl -fs http://127.0.0.1:8080/ >/dev/null 2>&1 && break
  sleep 0.3
done
bin/zlayer ps --host "$node/api.sock"

step "curl http://127.0.0.1:8080/"
curl -fsS http://127.0.0.1:8080/
