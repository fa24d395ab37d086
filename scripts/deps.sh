#!/usr/bin/env bash
# Installs the Debian 12 packages waltz needs to build and test (and, with --plots or
# --bench, to plot and to run the peer benchmarks), if any are missing. As root it runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail
packages=(build-essential meson ninja-build pkg-config libjemalloc-dev libck-dev
          libhwloc-dev hwloc libcmocka-dev python3 time
          clang libclang-rt-14-dev) # clang + libFuzzer: scripts/fuzz.sh
# --plots: what tools/plot.py needs; --bench: the peers of bench/peers as well.
for arg in "$@"; do
    case $arg in
    --plots) packages+=(python3-matplotlib) ;;
    --bench) packages+=(python3-matplotlib libgc-dev openjdk-17-jdk-headless nodejs) ;;
    *) echo "waltz: error: deps.sh takes --plots and --bench, not '$arg'" >&2; exit 2 ;;
    esac
done
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
