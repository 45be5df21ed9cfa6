#!/usr/bin/env bash
# make demo: a bundcc server on 127.0.0.1; the bundled sample project built through it twice — by the
# real distcc 3.4 client (plain mode) and by bundcc in pump mode — and every object checked against a
# local build.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUNDCC="$ROOT/dist/bundcc"
WORK=$(mktemp -d /tmp/bundcc-demo.XXXXXX)
chmod 777 "$WORK"
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$WORK/tmp" "$WORK/distcc" && chmod 777 "$WORK/tmp"
echo "== starting bundcc serve on 127.0.0.1:$PORT"
TMPDIR="$WORK/tmp" "$BUNDCC" serve --no-detach --listen 127.0.0.1 --port "$PORT" --allow 127.0.0.1 \
  --log-file "$WORK/serve.log" --log-level notice &
SERVER_PID=$!
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.05
done

cp -r "$ROOT/examples/demo" "$WORK/local"
cp -r "$ROOT/examples/demo" "$WORK/remote"
cp -r "$ROOT/examples/demo" "$WORK/pump"

echo "== local build"
make -s -C "$WORK/local" CC=gcc

echo "== distributed build: real distcc client -> bundcc serve (DISTCC_HOSTS=127.0.0.1:$PORT,lzo)"
if ! command -v distcc >/dev/null; then
  echo "demo: the real distcc client is missing (make peers installs it)" >&2
  exit 1
fi
DISTCC_DIR="$WORK/distcc" DISTCC_HOSTS="127.0.0.1:$PORT,lzo" DISTCC_FALLBACK=0 \
  make -s -C "$WORK/remote" -j4 CC="distcc gcc"

echo "== pump mode: bundcc pump make CC='distcc gcc' (distcc is bundcc here; DISTCC_HOSTS=127.0.0.1:$PORT,cpp,lzo)"
DISTCC_DIR="$WORK/distcc" DISTCC_HOSTS="127.0.0.1:$PORT,cpp,lzo" DISTCC_FALLBACK=0 \
  "$BUNDCC" pump make -s -C "$WORK/pump" -j4 CC="distcc gcc"

echo "== what went where (server log)"
sed -n 's/.*(job) //p' "$WORK/serve.log"

echo "== objects, local vs distributed"
status=0
for o in "$WORK"/local/*.o; do
  name=$(basename "$o")
  for build in remote pump; do
    if cmp -s "$o" "$WORK/$build/$name"; then echo "  identical  $build/$name"; else echo "  DIFFERENT  $build/$name"; status=1; fi
  done
done
echo "== running the distributed build's program"
"$WORK/pump/calc"
[ $status -eq 0 ] && echo "demo: all objects identical to the local build, in plain and in pump mode" || echo "demo: objects differ" >&2
exit $status
