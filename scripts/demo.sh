#!/usr/bin/env bash
# README command 1: installs the dependencies, builds Lares, and sets up a
# demo pool you can play with, all under var/demo/ in this checkout:
#   var/demo/dev0 .. dev3   four device folders (stand-ins for four disks)
#   var/demo/home           LARES_HOME: the registry of known pools
#   var/demo/passphrase     the demo repository's passphrase (a demo: a real
#                           passphrase is typed at the prompt, or kept safe)
# The pool "demo" has redundancy 1: any one device can be lost with no data
# lost. Safe to run again: an existing demo pool is kept and the sample files
# are put again (as new versions). Start over with: rm -rf var/demo
# The web console and the daemon (lares serve) come in a later issue.
# LARES_BUILD_ROOT (default build) is where the build goes: <root>/release.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

scripts/install-deps.sh
build_dir=${LARES_BUILD_ROOT:-build}/release
scripts/build.sh release "$build_dir"

lares=$(realpath "$build_dir/src/lares")
demo=$root/var/demo
devices=("$demo/dev0" "$demo/dev1" "$demo/dev2" "$demo/dev3")
export LARES_HOME=$demo/home
mkdir -p "${devices[@]}" "$LARES_HOME"
passphrase_file=$demo/passphrase
[[ -s $passphrase_file ]] || echo "demo passphrase $(date +%s)" >"$passphrase_file"
chmod 600 "$passphrase_file"

echo
if "$lares" pool status demo >/dev/null 2>&1; then
  echo "demo.sh: pool 'demo' exists; keeping it"
elif [[ -e "${devices[0]}/lares-label" ]]; then
  echo "demo.sh: var/demo holds a pool that lares cannot open; start over with: rm -rf var/demo" >&2
  exit 1
else
  "$lares" pool create demo --redundancy 1 --passphrase-file "$passphrase_file" "${devices[@]}"
fi

# A few sample objects: small text files and one larger binary, which is
# striped over several devices.
"$lares" object put demo README.md README.md
"$lares" object put demo docs/FORMAT.md docs/FORMAT.md
"$lares" object put demo docs/ARCHITECTURE.md docs/ARCHITECTURE.md
"$lares" object put demo bin/lares "$lares"

# A backup of this project's docs folder: a snapshot in the pool's encrypted
# repository (each run adds one; unchanged files are not read again).
echo
"$lares" backup docs demo/docs --passphrase-file "$passphrase_file"

echo
"$lares" pool status demo
echo
"$lares" object list demo --prefix bin/
echo
"$lares" snapshot list demo/docs --passphrase-file "$passphrase_file"

cat <<NEXT

The demo pool is ready. Try, from $root:
  export LARES_HOME=$LARES_HOME
  alias lares=$lares
  lares pool list
  lares object get demo README.md /tmp/README.md && cmp README.md /tmp/README.md
  lares pool scrub demo
Lose a device and read anyway (redundancy 1 survives any one device):
  mv var/demo/dev2 var/demo/dev2.lost
  lares object get demo bin/lares /tmp/lares.copy && cmp $lares /tmp/lares.copy
  lares pool status demo
  mv var/demo/dev2.lost var/demo/dev2
Damage a shard on a device and let scrub find and repair it:
  printf garbage | dd of="\$(find var/demo/dev1/shards -type f | head -1)" bs=1 seek=5000 conv=notrunc
  lares pool scrub demo
Backups (the passphrase is in $passphrase_file):
  export LARES_PASSPHRASE="\$(cat $passphrase_file)"
  lares backup docs demo/docs
  lares snapshot list demo/docs
  lares restore demo/docs /tmp/docs-restored && diff -r docs /tmp/docs-restored
  lares repo check demo --read-data
Machine-readable output: add --json to any read command.
The web console and the daemon (lares serve) are not there yet: they come in a
later issue. Start over with: rm -rf var/demo
NEXT
