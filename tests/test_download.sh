#!/usr/bin/env bash
# test_download.sh - `retinaface download` against a local HTTP server: normal, resumed, refused, retried, redirected, confirmed; then the cache as `-m NAME`.
#   bash tests/test_download.sh path/to/retinaface SOURCE_DIR
set -u
BIN=$1
SRC=${2:-$(cd "$(dirname "$0")/.." && pwd)}
SHARED=${RETINAFACE_TESTDATA:-$SRC/../shared}
MODELS=$SHARED/models
FILE=mobilenet0.25_Final.pth
SHA=38ec7bb3c9cbfe2f40edabc05fab970a6d648747cbc534092be85d5eb9b37ed0
if [ ! -f "$MODELS/$FILE" ]; then
  echo "SKIP test_download: $MODELS/$FILE not found (set RETINAFACE_TESTDATA or put shared/ next to the source tree)"
  exit 77
fi
WORK=$(mktemp -d /tmp/rf_test_download.XXXXXX)
export XDG_CACHE_HOME=$WORK/cache
SERVER=
cleanup() {
  [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

if "$BIN" download mobilenet0.25 --url http://127.0.0.1:1/x --tries 1 -q 2>&1 | grep -q "without libcurl"; then
  echo "SKIP test_download: built without libcurl"
  exit 77
fi

/usr/bin/python3 "$SRC/tests/download_server.py" "$MODELS" "$WORK/port" "$WORK/log" 300 &
SERVER=$!
for _ in $(seq 100); do [ -f "$WORK/port" ] && break; sleep 0.1; done
[ -f "$WORK/port" ] || { echo "FAIL: the test server did not start"; exit 1; }
URL=http://127.0.0.1:$(cat "$WORK/port")

passed=0 failed=0
check() { # DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $what"; fi
}
requests() { grep -c "^$1 " "$WORK/log" || true; }
# download DIR ARGS...: runs the command, keeping its status, stdout and stderr
download() {
  local dir=$1; shift
  "$BIN" download mobilenet0.25 --dir "$dir" --retry-delay 0.05 "$@" >"$WORK/out" 2>"$WORK/err"
  status=$?
}

echo "== normal download into the cache"
"$BIN" download mobilenet0.25 --url "$URL/files/$FILE" >"$WORK/out" 2>"$WORK/err"
check "exit status 0" [ $? = 0 ]
check "prints the cached path" grep -qx "$XDG_CACHE_HOME/retinaface/$FILE" "$WORK/out"
check "same bytes" cmp -s "$MODELS/$FILE" "$XDG_CACHE_HOME/retinaface/$FILE"
check "no .part left" [ ! -e "$XDG_CACHE_HOME/retinaface/$FILE.part" ]
"$BIN" download mobilenet0.25 --url "$URL/files/$FILE" >"$WORK/out" 2>"$WORK/err"
check "second time: kept without a transfer" [ $? = 0 ] && [ "$(requests "/files/$FILE")" = 1 ]
check "second time: says so" grep -q "already there" "$WORK/err"

echo "== the cache behind -m NAME"
IMG=$SHARED/golden/mnet_640/input.png
"$BIN" detect -q -m mobilenet0.25 --json "$WORK/by_name.json" "$IMG"
check "detect -m mobilenet0.25 runs from the cache" [ $? = 0 ]
"$BIN" detect -q -m "$MODELS/$FILE" --json "$WORK/by_path.json" "$IMG"
check "same faces as with the path" diff <(grep -v '"model"' "$WORK/by_name.json" | sed 's/"model": "[^"]*", //') \
  <(grep -v '"model"' "$WORK/by_path.json" | sed 's/"model": "[^"]*", //')
"$BIN" convert mobilenet0.25 "$WORK/mnet.rfn" >/dev/null
check "convert NAME to native" [ $? = 0 ]
"$BIN" detect -q -m "$WORK/mnet.rfn" --json "$WORK/by_native.json" "$IMG"
check "the native file gives the same faces" diff <(sed 's/"model": "[^"]*", //' "$WORK/by_native.json") \
  <(sed 's/"model": "[^"]*", //' "$WORK/by_path.json")
XDG_CACHE_HOME=$WORK/empty "$BIN" detect -q -m resnet50 "$IMG" 2>"$WORK/err"
check "an absent cached model fails" [ $? = 1 ]
check "and says how to get it" grep -q "retinaface download resnet50" "$WORK/err"

echo "== resume after a connection cut mid-transfer"
download "$WORK/d1" --url "$URL/drop/$FILE"
check "exit status 0" [ $status = 0 ]
check "same bytes" cmp -s "$MODELS/$FILE" "$WORK/d1/$FILE"
half=$(( $(stat -c %s "$MODELS/$FILE") / 2 ))
check "second request resumed at byte $half" grep -qx "/drop/$FILE range=bytes=$half-" "$WORK/log"
check "and said so" grep -q "resuming" "$WORK/err"

echo "== resume of a .part left by an earlier run"
mkdir -p "$WORK/d2"
head -c 1000000 "$MODELS/$FILE" >"$WORK/d2/$FILE.part"
download "$WORK/d2" --url "$URL/files/$FILE"
check "exit status 0" [ $status = 0 ]
check "asked for the rest only" grep -qx "/files/$FILE range=bytes=1000000-" "$WORK/log"
check "same bytes" cmp -s "$MODELS/$FILE" "$WORK/d2/$FILE"

echo "== wrong checksum: refused and deleted"
download "$WORK/d3" --url "$URL/files/$FILE" --sha256 "$(printf '0%.0s' $(seq 64))"
check "exit status 1" [ $status = 1 ]
check "says sha256" grep -q "sha256" "$WORK/err"
check "no file under the final name" [ ! -e "$WORK/d3/$FILE" ]
check "no .part either" [ ! -e "$WORK/d3/$FILE.part" ]
mkdir -p "$WORK/d4"
head -c 1000000 /dev/zero >"$WORK/d4/$FILE.part" # a part that is not a prefix of the file
download "$WORK/d4" --url "$URL/files/$FILE"
check "a corrupt part: exit status 1" [ $status = 1 ]
check "a corrupt part: deleted, no final file" [ ! -e "$WORK/d4/$FILE.part" ] && [ ! -e "$WORK/d4/$FILE" ]
download "$WORK/d4" --url "$URL/files/$FILE"
check "a corrupt part: the next run succeeds" [ $status = 0 ] && cmp -s "$MODELS/$FILE" "$WORK/d4/$FILE"

echo "== server errors: retried, then reported"
download "$WORK/d5" --url "$URL/error/$FILE" --tries 3
check "exit status 1" [ $status = 1 ]
check "3 requests" [ "$(requests "/error/$FILE")" = 3 ]
check "reports HTTP 500 and the tries" grep -q "HTTP 500 (gave up after 3 tries)" "$WORK/err"
check "no file" [ ! -e "$WORK/d5/$FILE" ]
download "$WORK/d6" --url "$URL/flaky/$FILE" --tries 4
check "two errors then success" [ $status = 0 ] && [ "$(requests "/flaky/$FILE")" = 3 ]
check "same bytes" cmp -s "$MODELS/$FILE" "$WORK/d6/$FILE"
download "$WORK/d7" --url "$URL/missing/$FILE" --tries 4
check "404: not retried" [ $status = 1 ] && [ "$(requests "/missing/$FILE")" = 1 ]
check "404: reported" grep -q "HTTP 404" "$WORK/err"

echo "== redirect followed"
download "$WORK/d8" --url "$URL/redirect/$FILE"
check "exit status 0" [ $status = 0 ]
check "same bytes" cmp -s "$MODELS/$FILE" "$WORK/d8/$FILE"

echo "== Google Drive's confirmation page answered"
download "$WORK/d9" --url "$URL/gdrive?id=$FILE"
check "exit status 0" [ $status = 0 ]
check "same bytes" cmp -s "$MODELS/$FILE" "$WORK/d9/$FILE"
check "through the form" [ "$(requests /gdrive-download)" = 1 ]

echo "== any file with --url and --sha256"
"$BIN" download other.pth --dir "$WORK/d10" --url "$URL/files/$FILE" --sha256 "$SHA" -q >/dev/null 2>&1
check "saved as other.pth" cmp -s "$MODELS/$FILE" "$WORK/d10/other.pth"

echo "== a link under the final name: followed; a FIFO there: refused, left alone"
mkdir -p "$WORK/d11" "$WORK/store"
ln -s ../store/kept.pth "$WORK/d11/$FILE"
download "$WORK/d11" --url "$URL/files/$FILE"
check "through a link: exit status 0" [ $status = 0 ]
check "the link stays a link" [ -L "$WORK/d11/$FILE" ]
check "its target holds the file" cmp -s "$MODELS/$FILE" "$WORK/store/kept.pth"
check "no .part left beside the target" [ ! -e "$WORK/store/kept.pth.part" ]
mkdir -p "$WORK/d12"
mkfifo "$WORK/d12/$FILE"
download "$WORK/d12" --url "$URL/files/$FILE"
check "a FIFO as final name: exit status 1" [ $status = 1 ]
check "says it is not a regular file" grep -q "not a regular file" "$WORK/err"
check "the FIFO is still there" [ -p "$WORK/d12/$FILE" ]

echo "== bad command lines"
"$BIN" download nosuchmodel >/dev/null 2>&1
check "unknown model: exit status 2" [ $? = 2 ]
"$BIN" download ../evil --url "$URL/files/$FILE" --sha256 "$SHA" >/dev/null 2>&1
check "a path as file name: exit status 2" [ $? = 2 ]
"$BIN" download --list >"$WORK/out"
check "--list names both models" grep -q "^resnet50 " "$WORK/out" && grep -q "^mobilenet0.25 " "$WORK/out"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
