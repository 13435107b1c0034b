#!/usr/bin/env bash
# test_install.sh - `cmake --install` into a temporary prefix, then the README's library example,
# taken from README.md as it stands, built outside the tree against the installed library with
# pkg-config (shared) and with find_package (shared and static), and run on a shared photo. Also:
# the shared library exports exactly the names the installed headers declare.
# Usage: test_install.sh RETINAFACE_BINARY SOURCE_DIR   (the build tree is the binary's folder)
set -u
bin=$1
src=$2
build=$(cd "$(dirname "$bin")" && pwd)
data=${RETINAFACE_TESTDATA:-$src/../shared}
. "$src/tests/lib.sh"

if grep -qE '^RF_(SANITIZE|TSAN|FUZZ):BOOL=ON' "$build/CMakeCache.txt"; then
  echo "SKIP test_install: an instrumented build is not what gets installed"
  exit 77
fi
for tool in pkg-config nm cc; do
  command -v "$tool" >/dev/null || { echo "SKIP test_install: $tool not found"; exit 77; }
done

prefix=$tmp/prefix
check "cmake --install" 0 cmake --install "$build" --prefix "$prefix"
libdir=$(find "$prefix" -name libretinaface.so.0 -printf '%h\n' | head -1)
expect "headers installed" test -f "$prefix/include/retinaface.h" -a -f "$prefix/include/retinaface_tools.h" \
  -a -f "$prefix/include/retinaface_eval.h"
expect "shared library with its SONAME" test -n "$libdir"
expect "SONAME is libretinaface.so.0" sh -c "objdump -p '$libdir/libretinaface.so.0' | grep -q 'SONAME *libretinaface.so.0'"
expect "static library installed" test -f "$libdir/libretinaface.a"
expect "the command installed" test -x "$prefix/bin/retinaface"
expect "pkg-config file installed" test -f "$libdir/pkgconfig/retinaface.pc"
expect "CMake package installed" test -f "$libdir/cmake/retinaface/retinafaceConfig.cmake"

# exported names = names declared in the installed headers
nm -D --defined-only "$libdir/libretinaface.so.0" | awk '$2 ~ /[TDRB]/ {print $3}' | sort -u >"$tmp/exported"
cat "$prefix"/include/retinaface*.h | tr -s ' \t' '\n\n' | grep -oE '^\**rf_[a-z0-9_]+\(' |
  tr -d '*(' | sort -u >"$tmp/declared"
expect "every exported name is declared in a header" sh -c "comm -23 '$tmp/exported' '$tmp/declared' | sed 's/^/  undeclared export: /' | grep . && exit 1 || exit 0"
expect "every declared function is exported" sh -c "comm -13 '$tmp/exported' '$tmp/declared' | sed 's/^/  not exported: /' | grep . && exit 1 || exit 0"
expect "no internal name leaks (rf_fail)" sh -c "! grep -qx rf_fail '$tmp/exported'"

# the README's example, exactly as written there
mkdir -p "$tmp/outside"
awk '/^## Library/ {lib = 1} lib && /^```c$/ {on = 1; next} on && /^```$/ {exit} on {print}' \
  "$src/README.md" >"$tmp/outside/faces.c"
expect "README example extracted" grep -q "int main" "$tmp/outside/faces.c"

m=$data/models/mobilenet0.25_Final.pth
img=$data/data/images/face1mb_sample.jpg
have_data=1
[ -f "$m" ] && [ -f "$img" ] || { have_data=0; echo "SKIP running the example: $m not found"; }
run_example() { # DESCRIPTION PROGRAM
  [ "$have_data" -eq 1 ] || return 0
  check "$1 runs" 0 env LD_LIBRARY_PATH="$libdir" "$2" "$m" "$img"
  expect "$1 finds faces" test "$(awk '$1 > 0.5' "$tmp/out" | wc -l)" -ge 10
}

export PKG_CONFIG_PATH=$libdir/pkgconfig
check "pkg-config knows retinaface" 0 pkg-config --exists retinaface
check "example built with pkg-config" 0 sh -c "cc -std=c11 -Wall -Wextra -Werror '$tmp/outside/faces.c' \
  \$(pkg-config --cflags --libs retinaface) -o '$tmp/outside/faces_pc'"
run_example "pkg-config build" "$tmp/outside/faces_pc"
expect "pkg-config build links the shared library" sh -c "objdump -p '$tmp/outside/faces_pc' | grep -q 'NEEDED *libretinaface.so.0'"

cat >"$tmp/outside/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.16)
project(faces C)
find_package(retinaface 0.1 REQUIRED)
add_executable(faces faces.c)
target_link_libraries(faces PRIVATE retinaface::retinaface)
add_executable(faces_static faces.c)
target_link_libraries(faces_static PRIVATE retinaface::retinaface_static)
CMAKE
check "find_package configures" 0 cmake -S "$tmp/outside" -B "$tmp/outside/build" \
  -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="-Wall -Wextra -Werror"
check "find_package builds" 0 cmake --build "$tmp/outside/build"
run_example "find_package shared build" "$tmp/outside/build/faces"
run_example "find_package static build" "$tmp/outside/build/faces_static"
expect "the static build needs no libretinaface.so" sh -c "! objdump -p '$tmp/outside/build/faces_static' | grep -q 'NEEDED *libretinaface'"

finish
