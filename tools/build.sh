#!/usr/bin/env bash
# Builds the real daemons and CLIs that ZLayer is tested against, from the Go
# module proxy at pinned versions, into $ZLAYER_TOOLS (default .cache/tools).
# Each tool is built in its own module graph (go install pkg@version) so none of
# them leaks into the product's go.mod. Idempotent: a tool already built at the
# pinned version is skipped, so `make tools` is a no-op on a warm cache.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
TOOLS=${ZLAYER_TOOLS:-$root/.cache/tools}
BIN=$TOOLS/bin
STAMPS=$TOOLS/stamps
mkdir -p "$BIN" "$STAMPS" "$TOOLS/src" "$TOOLS/debs"
export GOFLAGS=-buildvcs=false CGO_ENABLED=0

log() { printf 'tools: %s\n' "$*" >&2; }

# done NAME VERSION: true when NAME was built at VERSION and its binaries exist.
fresh() { [ "$(cat "$STAMPS/$1" 2>/dev/null)" = "$2" ]; }
stamp() { echo "$2" >"$STAMPS/$1"; }

goinstall() { # stamp-name version ldflags pkg...
  local name=$1 ver=$2 ld=$3; shift 3
  fresh "$name" "$ver" && return 0
  log "building $name $ver"
  local p
  for p in "$@"; do
    GOBIN=$BIN go install -trimpath -ldflags "-s -w $ld" "$p@$ver"
  done
  stamp "$name" "$ver"
}

goinstall containerd "$CONTAINERD_VERSION" "" \
  github.com/containerd/containerd/v2/cmd/containerd \
  github.com/containerd/containerd/v2/cmd/ctr \
  github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2

goinstall registry "$DISTRIBUTION_VERSION" "" \
  github.com/distribution/distribution/v3/cmd/registry

goinstall buildx "$BUILDX_VERSION" \
  "-X github.com/docker/buildx/version.Version=$BUILDX_VERSION -X github.com/docker/buildx/version.Revision=modproxy" \
  github.com/docker/buildx/cmd/buildx

goinstall cni "$CNI_PLUGINS_VERSION" "" \
  github.com/containernetworking/plugins/plugins/main/bridge \
  github.com/containernetworking/plugins/plugins/main/loopback \
  github.com/containernetworking/plugins/plugins/ipam/host-local \
  github.com/containernetworking/plugins/plugins/meta/portmap

# golangci-lint reads its version from build info, which -trimpath and a
# module-proxy build keep; it needs no ldflags.
goinstall golangci-lint "$GOLANGCI_LINT_VERSION" "" \
  github.com/golangci/golangci-lint/v2/cmd/golangci-lint

# BuildKit's go.mod carries `exclude` directives, which make `go install
# pkg@version` refuse it; build it as the main module from a copy of its source.
if ! fresh buildkit "$BUILDKIT_VERSION"; then
  log "building buildkit $BUILDKIT_VERSION"
  go mod download github.com/moby/buildkit@"$BUILDKIT_VERSION"
  src=$TOOLS/src/buildkit-$BUILDKIT_VERSION
  if [ ! -d "$src" ]; then
    cp -r "$(go env GOMODCACHE)/github.com/moby/buildkit@$BUILDKIT_VERSION" "$src.tmp"
    chmod -R u+w "$src.tmp"
    mv "$src.tmp" "$src"
  fi
  P=github.com/moby/buildkit
  LD="-s -w -X $P/version.Version=$BUILDKIT_VERSION -X $P/version.Revision=modproxy -X $P/version.Package=$P"
  ( cd "$src"
    go build -trimpath -ldflags "$LD" -tags "osusergo netgo static_build" -o "$BIN/buildkitd" ./cmd/buildkitd
    go build -trimpath -ldflags "$LD" -o "$BIN/buildctl" ./cmd/buildctl )
  stamp buildkit "$BUILDKIT_VERSION"
fi

# Debian packages: runc on the host (buildkitd and containerd exec it) and
# busybox-static, whose binary becomes the test base image.
apt_ready=""
need_apt() {
  [ -n "$apt_ready" ] && return 0
  if [ "$(id -u)" != 0 ]; then log "not root: cannot apt-get $*"; return 1; fi
  DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  apt_ready=1
}
if ! command -v runc >/dev/null 2>&1; then
  need_apt runc && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq runc >/dev/null
fi
if ! ls "$TOOLS"/debs/busybox-static_*.deb >/dev/null 2>&1; then
  if need_apt busybox-static; then
    ( cd "$TOOLS/debs" && apt-get download busybox-static >/dev/null )
  fi
fi
if [ ! -x "$TOOLS/busybox/bin/busybox" ] && ls "$TOOLS"/debs/busybox-static_*.deb >/dev/null 2>&1; then
  rm -rf "$TOOLS/busybox"
  dpkg -x "$TOOLS"/debs/busybox-static_*.deb "$TOOLS/busybox"
fi

# buildx as a Docker CLI plugin in a private config folder the harness copies.
mkdir -p "$TOOLS/docker-config/cli-plugins"
cp -f "$BIN/buildx" "$TOOLS/docker-config/cli-plugins/docker-buildx"
log "ready in $TOOLS"
