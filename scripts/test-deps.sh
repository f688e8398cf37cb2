#!/usr/bin/env bash
# The Debian packages the build and tests need, checked before `npm test`
# (and by .ci/run): the C toolchain for test/guests, libc6-dev (static
# guest-side test programs), cpio (checks the initramfs writer),
# acpica-tools (iasl/acpiexec check the ACPI tables) and e2fsprogs (mke2fs
# and debugfs for the Linux virtio-blk test), iproute2 (ip: network
# namespaces and TAPs for the net tests), busybox-static (udhcpc in a
# namespace: the passt forward test), curl, xz-utils and patch (for
# scripts/build-passt.sh, which npm test runs next: tkvm's own passt),
# Debian's passt (the fallback when that build is missing), tmux
# (drives tkvm top in a test) and chromium (the browser the tkvm web
# test drives with playwright-core). As root it installs the missing ones with
# apt-get; otherwise it fails with the command to run. The Linux guest kit
# installs its own build packages (tkvm setup).
set -euo pipefail

REQUIRED_PACKAGES=(gcc make binutils libc6-dev cpio acpica-tools e2fsprogs iproute2 busybox-static curl xz-utils patch passt tmux chromium)

if ! command -v dpkg-query >/dev/null; then
  echo "test-deps: not a Debian system; make sure these are installed: ${REQUIRED_PACKAGES[*]}" >&2
  exit 0
fi

missing=()
for package in "${REQUIRED_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$package")
  fi
done
((${#missing[@]} == 0)) && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "test-deps: the tests need ${missing[*]}: run sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "test-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends "${missing[@]}"
