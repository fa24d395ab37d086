#!/usr/bin/env bash
# Installs the Debian 12 packages waltz needs to build, test and benchmark, if any are
# missing. As root it runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail
packages=(build-essential meson ninja-build pkg-config libjemalloc-dev libck-dev
          libhwloc-dev hwloc libcmocka-dev python3 time)
if [ "${1:-}" = "--bench" ]; then
    packages+=(libgc-dev openjdk-17-jdk-headless nodejs python3-matplotlib)
fi
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# nodejs may come from another repository under another package name: accept any node.
if [ ${#missing[@]} -gt 0 ] && printf '%s\n' "${missing[@]}" | grep -qx nodejs && command -v node >/dev/null; then
    missing=("${missing[@]/nodejs}")
    read -r -a missing <<<"${missing[*]}"
fi
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
    echo "waltz: error: missing packages: ${missing[*]}; run: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi
echo "waltz: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq "${missing[@]}" >/dev/null
