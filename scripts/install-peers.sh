#!/usr/bin/env bash
# `make peers`: everything the interop tests, distcc's own suite and the benchmarks run against,
# taken from the package registries, once per machine:
#   1. the Debian packages below, when any is missing (`apt-get update` first: a fresh machine has
#      no package lists);
#   2. Debian's `distcc` source package (the same version as the installed distcc), fetched through
#      a private apt configuration, checked against its .dsc, unpacked; its include server's C
#      extension built for this machine's Python. Debian 12's packaged extension fails on every
#      call under Python 3.11 (built without PY_SSIZE_T_CLEAN), so this build is the real pump peer.
# Step 2 lives in the cache directory ($BUNDCC_PEERS_DIR, default ~/.cache/bundcc-peers), which
# `make clean` keeps; delete it to rebuild. Nothing of distcc's tree (GPL) enters the repository.
# Layout (read by tests/lib/peers.ts): distcc/source (the pristine upstream tree: test/testdistcc.py…),
# distcc/include-server (built), distcc/bin/pump (Debian's distcc-pump using that include server,
# beside a `distcc` link to /usr/bin/distcc, since pump runs "$(dirname $0)/distcc").
set -euo pipefail

PACKAGES=(distcc distcc-pump python3-lzo lzop clang clang-tools-14 ccache binutils-source libboost-dev openssh-server iproute2 cmake ninja-build
  gdb gobjc gobjc++
  python3-dev python3-distutils autoconf automake libpopt-dev make
  postfix prometheus systemd tmux chromium)
# Bump when the way step 2 builds changes: caches of an older recipe are rebuilt.
RECIPE=1
PYTHON=/usr/bin/python3 # Debian's, the one distcc-pump runs (it has python3-lzo)

CACHE=${BUNDCC_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/bundcc-peers}
say() { echo "install-peers: $*"; }
die() {
  echo "install-peers: error: $*" >&2
  exit 1
}

mkdir -p "$CACHE"
# Several checkouts may run `make peers` at once: one does the work, the others wait and reuse it.
exec 9>"$CACHE/.lock"
flock 9

# ---------------------------------------------------------------- 1. Debian packages
missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "install-peers: missing Debian packages: ${missing[*]} (run as root with apt-get to install them)" >&2
    [ -n "${CI:-}" ] && exit 1
    exit 0
  fi
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Postfix gives /usr/sbin/sendmail for the discrepancy-mail test, which runs a private instance of
  # its own (MAIL_CONFIG): the system one stays unconfigured and never listens.
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get update -qq || die "apt-get update failed: are the Debian mirrors in /etc/apt/sources.list.d reachable?"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed (see the messages above)"
fi

# ---------------------------------------------------------------- 2. distcc's source, include server
VERSION=$(dpkg-query -W -f='${source:Version}' distcc)
PYVER=$("$PYTHON" -c 'import sys; print(sys.version.split()[0])')
STAMP="recipe=$RECIPE distcc-source=$VERSION python=$PYVER"
OUT=$CACHE/distcc
if [ -f "$OUT/STAMP" ] && [ "$(cat "$OUT/STAMP")" = "$STAMP" ] && [ -x "$OUT/bin/pump" ]; then
  say "peers ready in $CACHE (distcc $VERSION source, include server built for Python $PYVER)"
  exit 0
fi

WORK=$(mktemp -d "$CACHE/.build.XXXXXX")
LOG=$WORK/log
fail() {
  why=$(grep -m1 -E '^(E|W): ' "$LOG" || true)
  [ -z "$why" ] || echo "install-peers: apt said: $why" >&2
  die "$1 (log: $CACHE/last-failure.log)"
}
trap 'rc=$?; [ $rc = 0 ] || cp "$LOG" "$CACHE/last-failure.log" 2>/dev/null; rm -rf "$WORK"; exit $rc' EXIT
touch "$LOG"

# The machine's apt sources as deb-src, in a private configuration: the system's lists, caches and
# sources stay untouched.
APTDIR=$WORK/apt
mkdir -p "$APTDIR/sources" "$APTDIR/lists/partial" "$APTDIR/cache/archives/partial"
n=0
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
  [ -f "$f" ] || continue
  sed -n 's/^[[:space:]]*deb[[:space:]]/deb-src /p' "$f" >"$APTDIR/sources/$n.list"
  n=$((n + 1))
done
for f in /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] || continue
  sed 's/^Types:.*/Types: deb-src/' "$f" >"$APTDIR/sources/$n.sources"
  n=$((n + 1))
done
[ $n -gt 0 ] || die "no apt sources found in /etc/apt to derive deb-src entries from"
URIS=$(grep -hoE '(URIs:[[:space:]]*|deb-src[[:space:]]+(\[[^]]*\][[:space:]]+)?)[a-z]+://[^[:space:]]+' "$APTDIR"/sources/* | grep -oE '[a-z]+://[^[:space:]]+' | sort -u | paste -sd' ')
APT=(apt-get -q -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$APTDIR/sources"
  -o Dir::State::Lists="$APTDIR/lists" -o Dir::Cache="$APTDIR/cache" -o APT::Sandbox::User="$(id -un)")

say "fetching Debian's distcc $VERSION source package from $URIS"
# Neither command's exit status is trusted: one unreachable third-party source fails `update`, and
# the mirror may 404 the .debian.tar.xz that is not needed here. What counts is checked below.
"${APT[@]}" update >>"$LOG" 2>&1 || true
ls "$APTDIR"/lists/*_Sources* >/dev/null 2>&1 ||
  fail "could not download any source index from $URIS: is the registry reachable?"
mkdir "$WORK/fetch"
(cd "$WORK/fetch" && "${APT[@]}" source --download-only "distcc=$VERSION") >>"$LOG" 2>&1 || true
DSC=$WORK/fetch/distcc_${VERSION#*:}.dsc
[ -f "$DSC" ] || fail "could not download distcc_${VERSION#*:}.dsc from $URIS"
read -r SUM SIZE ORIG < <(awk '/^Checksums-Sha256:/ { f = 1; next } /^[^ ]/ { f = 0 } f && $3 ~ /\.orig\.tar\./ { print $1, $2, $3 }' "$DSC") ||
  fail "$(basename "$DSC") lists no .orig tarball"
[ -f "$WORK/fetch/$ORIG" ] || fail "could not download $ORIG from $URIS"
[ "$(stat -c %s "$WORK/fetch/$ORIG")" = "$SIZE" ] && (cd "$WORK/fetch" && echo "$SUM  $ORIG" | sha256sum -c --quiet >>"$LOG" 2>&1) ||
  fail "$ORIG does not match the SHA-256 in $(basename "$DSC")"
say "fetched $ORIG ($SIZE bytes, SHA-256 ${SUM:0:16}… as in $(basename "$DSC"))"

NEW=$WORK/distcc
mkdir -p "$NEW/source" "$WORK/build" "$NEW/bin"
tar -xzf "$WORK/fetch/$ORIG" -C "$NEW/source" --strip-components=1 || fail "could not unpack $ORIG"
tar -xzf "$WORK/fetch/$ORIG" -C "$WORK/build" --strip-components=1
[ -f "$NEW/source/test/testdistcc.py" ] && [ -f "$NEW/source/test/comfychair.py" ] ||
  fail "$ORIG has no test/testdistcc.py and test/comfychair.py"

# PY_SSIZE_T_CLEAN makes Python's "s#" argument parsing store a Py_ssize_t length; the extension
# declares those lengths int (fixed upstream after 3.4), so they are widened here too. Defining the
# macro alone gives an extension that returns wrong answers (a file that exists "does not exist").
MODULE=$WORK/build/include_server/c_extensions/distcc_pump_c_extensions_module.c
widened=$(grep -cE '^  int (in_)?len;$' "$MODULE" || true)
[ "$widened" = 4 ] || fail "the include server's C extension is not the one this recipe knows (RECIPE=$RECIPE)"
sed -i -E 's/^(  )int (in_)?len;$/\1Py_ssize_t \2len;/' "$MODULE"
say "building the include server's C extension (PY_SSIZE_T_CLEAN, Python $PYVER)"
(
  cd "$WORK/build" &&
    ./autogen.sh &&
    ./configure --disable-Werror --without-avahi --without-libiberty PYTHON="$PYTHON" &&
    make include-server CFLAGS="-O2 -DPY_SSIZE_T_CLEAN" PYTHON_CFLAGS=
) >>"$LOG" 2>&1 || fail "building the include server failed"
BUILT=$(find "$WORK/build/_include_server" -name 'distcc_pump_c_extensions*.so' -printf '%h\n' | head -n1)
[ -n "$BUILT" ] || fail "the include server build produced no C extension"
cp -r "$BUILT" "$NEW/include-server"

# Debian's pump script, pointed at that include server (it puts the script's directory on PYTHONPATH).
sed "s|^include_server=.*|include_server='$OUT/include-server/include_server.py'|" /usr/bin/distcc-pump >"$NEW/bin/pump"
grep -q "^include_server='$OUT/include-server/include_server.py'\$" "$NEW/bin/pump" ||
  fail "/usr/bin/distcc-pump has no include_server= line to point at the built include server"
chmod 755 "$NEW/bin/pump"
ln -s pump "$NEW/bin/distcc-pump"
ln -s /usr/bin/distcc "$NEW/bin/distcc"

# The extension's own test, then one real analysis through pump: a broken build fails here, not in
# the tests that use it.
mkdir "$WORK/check"
(cd "$WORK/check" && PYTHONPATH="$NEW/include-server" "$PYTHON" "$NEW/source/include_server/c_extensions_test.py") >>"$LOG" 2>&1 ||
  fail "the built C extension fails its own test (c_extensions_test.py)"
rm -rf "$OUT.old"
[ -e "$OUT" ] && mv "$OUT" "$OUT.old"
mv "$NEW" "$OUT"
rm -rf "$OUT.old"
(
  cd "$WORK/check"
  printf '#include "peer.h"\nint main(void) { return PEER; }\n' >t.c
  echo '#define PEER 0' >peer.h
  export DISTCC_HOSTS=127.0.0.1,cpp,lzo DISTCC_DIR=$WORK/check TMPDIR=$WORK/check
  eval "$("$OUT/bin/pump" --startup)"
  out=$(distcc --scan-includes gcc -c t.c 2>&1 || true)
  "$OUT/bin/pump" --shutdown >/dev/null 2>&1 || true
  echo "$out"
  grep -q "^FILE *$WORK/check/peer.h\$" <<<"$out"
) >>"$LOG" 2>&1 || {
  rm -rf "$OUT"
  fail "the built include server does not find a header (pump --startup; distcc --scan-includes)"
}
echo "$STAMP" >"$OUT/STAMP"
rm -f "$CACHE/last-failure.log"
say "built the include server from source: $OUT/include-server"
say "real pump peer: $OUT/bin/pump; distcc's suite: $OUT/source/test/testdistcc.py"
