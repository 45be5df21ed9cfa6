#!/usr/bin/env bash
# Installs the Debian packages the interop tests and benchmarks use, when any is missing.
# Runs `apt-get update` once first: a fresh machine has no package lists.
set -euo pipefail
PACKAGES=(distcc distcc-pump python3-lzo lzop clang ccache binutils-source libboost-dev openssh-server iproute2)
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
  echo "install-peers: missing Debian packages: ${missing[*]} (run as root with apt-get to install them)" >&2
  [ -n "${CI:-}" ] && exit 1
  exit 0
fi
echo "install-peers: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
