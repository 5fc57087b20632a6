#!/usr/bin/env bash
# Installs the Debian packages keel needs for a target, when they are missing.
# As root it installs them with apt-get; as anyone else it names them and stops.
# Usage: scripts/deps.sh build|check|bench|cross (cross: the aarch64 check's host tools)
set -euo pipefail

build_pkgs=(cmake make gcc clang pkg-config python3 libdw-dev libunwind-dev libhiredis-dev redis-server)
check_pkgs=("${build_pkgs[@]}" libclang-rt-14-dev redis-server)
bench_pkgs=("${build_pkgs[@]}" golang-go golang-golang-x-time-dev golang-github-pkg-errors-dev redis-server redis-tools)
cross_pkgs=(cmake make pkg-config gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)

case "${1:-build}" in
  build) want=("${build_pkgs[@]}") ;;
  check) want=("${check_pkgs[@]}") ;;
  bench) want=("${bench_pkgs[@]}") ;;
  cross) want=("${cross_pkgs[@]}") ;;
  *) echo "usage: $0 build|check|bench|cross" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "keel needs these Debian packages: ${missing[*]}" >&2
  echo "install them as root:  apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "keel: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
