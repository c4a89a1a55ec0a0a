#!/usr/bin/env bash
# Installs the Debian packages ZLayer's tools and tests use, when missing.
# Needs root; as another user it only reports what is missing.
set -euo pipefail
want=(runc iptables iproute2 curl ca-certificates)
missing=()
for p in "${want[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing Debian packages (install as root): ${missing[*]}" >&2
  exit 0
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
