#!/usr/bin/env bash
# Builds tkvm's own passt (user-mode networking for `--net user`) from
# Debian trixie's passt source package into tkvm's cache:
#
#   ${XDG_CACHE_HOME:-~/.cache}/tkvm/passt/VERSION/passt (and passt.avx2,
#   which passt runs instead of itself on CPUs with AVX2)
#   ${XDG_CACHE_HOME:-~/.cache}/tkvm/passt/current -> VERSION
#
# tkvm looks there before $PATH (src/vmm/net.ts, findPasst). Why not
# Debian 12's own passt (0.0~git20230309): for a connection forwarded from
# the host (`--port`, passt -t) it does not acknowledge the guest's SYN-ACK
# until the host client sends something, so a protocol where the server
# speaks first (SSH, SMTP, a banner) waits forever; bookworm-backports has
# no passt. See docs/networking.md.
#
# The two source files are pinned by SHA-256 (from trixie's Sources.xz)
# and checked before anything is unpacked; Debian's patch series is applied
# (the same program Debian ships). Needs curl, xz-utils, patch, gcc, make
# and libc6-dev (scripts/test-deps.sh and tkvm setup install them); no root.
# A build that is already there is kept: a second run returns at once.
# Run by `npm test` (after scripts/test-deps.sh) and by `tkvm setup`.
set -euo pipefail

PASST_VERSION='0.0~git20250503.587980c-2+deb13u1'
PASST_UPSTREAM='0.0~git20250503.587980c'
ORIG_FILE="passt_${PASST_UPSTREAM}.orig.tar.xz"
ORIG_SHA256='69d5eb843f7d648c2cc60bfbca6ea7b5014c6b6f07cdee362c2a8cf490515a49'
ORIG_SHA1='8fabf5f0a961f417836c628ff4a16f78cba52796'
DEBIAN_FILE="passt_${PASST_VERSION}.debian.tar.xz"
DEBIAN_SHA256='f8d9fdfc1ba89e7dde48705ae68d1dfa8a40477cb85184d41194487f2902b77d'
DEBIAN_SHA1='fa3de869f592bfae395c13c78fde439f5d5a3c62'
# The pool holds the files while trixie carries this version; snapshot.debian.org
# keeps every file ever published, by SHA-1.
POOL_URL='https://deb.debian.org/debian/pool/main/p/passt'
SNAPSHOT_URL='https://snapshot.debian.org/file'

say() { echo "build-passt: $*" >&2; }
fail() {
  say "FAILED: $*"
  exit 1
}

if [[ -n ${XDG_CACHE_HOME:-} && ${XDG_CACHE_HOME} == /* ]]; then
  cache_root="$XDG_CACHE_HOME/tkvm"
else
  cache_root="${HOME:?}/.cache/tkvm"
fi
passt_root="$cache_root/passt"
prefix="$passt_root/$PASST_VERSION"

# Points `current` at this version (atomically: a new link renamed over the old).
publish_current() {
  ln -sfn "$PASST_VERSION" "$passt_root/current.$$"
  mv -T "$passt_root/current.$$" "$passt_root/current"
}

if [[ -x $prefix/passt && -x $prefix/passt.avx2 ]]; then
  publish_current
  [[ ${1:-} == --quiet ]] || say "passt $PASST_VERSION is built: $prefix/passt"
  exit 0
fi

for tool in curl tar xz patch make "${CC:-cc}" sha256sum; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/test-deps.sh or tkvm setup installs what this needs)"
done

mkdir -p "$passt_root"
work=$(mktemp -d "$passt_root/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

# Downloads $1 (sha256 $2, sha1 $3) into $work, from the pool or else the snapshot archive.
fetch() {
  local file=$1 sha256=$2 sha1=$3 url
  for url in "$POOL_URL/$file" "$SNAPSHOT_URL/$sha1"; do
    if curl -fsSL --retry 2 --connect-timeout 20 --max-time 300 -o "$work/$file" "$url"; then
      if echo "$sha256  $work/$file" | sha256sum --check --status; then
        return 0
      fi
      say "$url: SHA-256 mismatch (expected $sha256)"
    else
      say "$url: download failed"
    fi
    rm -f "$work/$file"
  done
  fail "could not download $file"
}

say "building passt $PASST_VERSION (Debian trixie's source package) into $prefix"
fetch "$ORIG_FILE" "$ORIG_SHA256" "$ORIG_SHA1"
fetch "$DEBIAN_FILE" "$DEBIAN_SHA256" "$DEBIAN_SHA1"
mkdir "$work/src"
tar -C "$work/src" --strip-components=1 -xJf "$work/$ORIG_FILE"
tar -C "$work/src" -xJf "$work/$DEBIAN_FILE"
if [[ -f $work/src/debian/patches/series ]]; then
  while read -r patch_name _; do
    [[ -z $patch_name || $patch_name == \#* ]] && continue
    patch -s -p1 -d "$work/src" <"$work/src/debian/patches/$patch_name" || fail "Debian patch $patch_name does not apply"
  done <"$work/src/debian/patches/series"
fi
# One goal at a time: passt.avx2 depends on passt, and make would build
# passt with passt.avx2's AVX2 flags if it first met it as that prerequisite.
for goal in passt passt.avx2; do
  make -s -C "$work/src" VERSION="$PASST_VERSION" "$goal" >>"$work/make.log" 2>&1 ||
    { tail -20 "$work/make.log" >&2; fail "make $goal failed"; }
done

staged="$passt_root/.$PASST_VERSION.$$"
rm -rf "$staged"
mkdir "$staged"
install -m 0755 "$work/src/passt" "$work/src/passt.avx2" "$staged/"
echo "$PASST_VERSION" >"$staged/VERSION"
rm -rf "$prefix"
mv -T "$staged" "$prefix"
publish_current
say "passt $PASST_VERSION is built: $prefix/passt"
