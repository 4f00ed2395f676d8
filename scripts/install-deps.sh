#!/usr/bin/env bash
# Installs every Debian 12 package Lares needs to build, test and fuzz.
# Idempotent: when everything is already installed it does nothing (no apt
# update, no network). Runs as root, or through sudo otherwise.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  clang libclang-rt-14-dev clang-format
  libisal-dev libsodium-dev libzstd-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev liburing-dev libfmt-dev
  libfuse3-dev fuse3
  fio btrfs-progs
  libtomlplusplus-dev
  libssh-dev openssh-server
  libcurl4-openssl-dev libssl-dev libtinyxml2-dev ceph-mon ceph-osd radosgw ceph-common
)

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  if [[ "$status" != "install ok installed" ]]; then
    missing+=("$package")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: need root or sudo to install: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}"
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
# Recommends stay on: they bring llvm-symbolizer, which sanitizer reports use.
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
