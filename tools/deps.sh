#!/usr/bin/env bash
# Installs the Debian packages ZLayer's tools and tests use, when missing:
# runc (buildkitd and containerd exec it), iptables and iproute2 (node
# networking), docker.io (dockerd for the ZLayer-in-Docker test; the Docker CLI
# itself may come from elsewhere), libseccomp-dev (a static runc for images),
# chromium (the console's end-to-end test), node and npm (the console's
# front-end build and unit tests; any node already on PATH will do).
# Needs root; as another user it only reports what is missing.
set -euo pipefail
want=(runc iptables iproute2 curl ca-certificates docker.io libseccomp-dev chromium)
missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
# By command, not package: a node from elsewhere (nodesource) carries its
# own npm, which Debian's npm package would conflict with.
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing Debian packages (install as root): ${missing[*]}" >&2
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Package scripts must not start daemons (dockerd, containerd) on this host:
# the tests start their own, privately, and stop them by PID.
policy=/usr/sbin/policy-rc.d
added_policy=""
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod +x "$policy"; added_policy=1
fi
trap '[ -n "$added_policy" ] && rm -f "$policy"' EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
