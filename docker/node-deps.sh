#!/usr/bin/env bash
# Prepares what docker/Dockerfile.zlayer-node's prebuilt target copies besides
# bin/zlayer and the `make tools` binaries, into .cache/node (or $1):
#   bin/runc   a static runc (the image has no libseccomp to link against)
#   rootfs/    Debian's iptables (both backends), its libraries and glibc,
#              and a static bash, pruned to what runs
# Needs Go, libseccomp-dev and apt (Debian). Idempotent: what exists is kept.
set -euo pipefail
out=$(realpath -m "${1:-$(dirname "$0")/../.cache/node}")
runc_version=${RUNC_VERSION:-v1.5.3}
mkdir -p "$out/bin"

if [[ ! -x $out/bin/runc ]]; then
  echo "node-deps: building static runc $runc_version"
  # seccomp is what lets a nested container get the default profile;
  # netgo/osusergo and -static keep the binary free of glibc's NSS.
  (cd /tmp && CGO_ENABLED=1 GOBIN="$out/bin" GOFLAGS=-buildvcs=false go install \
    -tags "seccomp netgo osusergo" -ldflags "-s -w -extldflags -static" \
    "github.com/opencontainers/runc@$runc_version")
fi

if [[ ! -x $out/rootfs/usr/sbin/xtables-nft-multi ]]; then
  echo "node-deps: extracting iptables and bash-static from Debian packages"
  debs=$(mktemp -d)
  trap 'rm -rf "$debs"' EXIT
  # apt's sandbox user cannot write to a root-owned temp folder.
  chmod 777 "$debs"
  (cd "$debs" && apt-get download -q iptables libxtables12 libip4tc2 libip6tc2 \
    libnetfilter-conntrack3 libnfnetlink0 libnftnl11 libmnl0 libc6 bash-static >/dev/null)
  rm -rf "$out/rootfs.tmp"
  mkdir -p "$out/rootfs.tmp"
  for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$out/rootfs.tmp"; done
  r=$out/rootfs.tmp
  # Documentation, locales and gconv modules are not needed by iptables.
  rm -rf "$r/usr/share" "$r/usr/lib/x86_64-linux-gnu/gconv" "$r/etc/ld.so.conf.d" "$r/usr/libexec" "$r/sbin/ldconfig" \
    "$r/usr/bin" "$r/usr/lib/x86_64-linux-gnu/audit"
  # Everything goes under /usr (the base image may have its own /lib);
  # only the ELF interpreter must sit at its fixed path, /lib64.
  for d in lib bin sbin; do
    if [[ -d $r/$d && ! -L $r/$d ]]; then mkdir -p "$r/usr/$d"; cp -a "$r/$d/." "$r/usr/$d/"; rm -rf "${r:?}/$d"; fi
  done
  rm -rf "$r/lib64"
  mkdir -p "$r/lib64"
  ln -s /usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 "$r/lib64/ld-linux-x86-64.so.2"
  mv "$r/usr/bin/bash-static" "$r/usr/bin/bash"
  # Default iptables backend until the entrypoint picks one (nodeinit).
  for t in iptables iptables-save iptables-restore ip6tables ip6tables-save ip6tables-restore; do
    ln -sf "${t/tables/tables-nft}" "$r/usr/sbin/$t"
  done
  rm -rf "$out/rootfs"
  mv "$r" "$out/rootfs"
fi
echo "node-deps: ready in $out"
