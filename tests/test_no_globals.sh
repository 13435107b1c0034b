#!/usr/bin/env bash
# test_no_globals.sh - the library holds no writable global or static objects, so threads share nothing hidden.
# Usage: test_no_globals.sh RETINAFACE_BINARY SOURCE_DIR   (the library is found next to the binary)
set -u
lib=$(dirname "$1")/libretinaface.a
if ! command -v objdump >/dev/null || [ ! -f "$lib" ]; then
  echo "SKIP: objdump or $lib not found"
  exit 77
fi
# Objects in .data, .bss or thread-local sections; .data.rel.ro is read-only once relocated.
writable=$(objdump -t "$lib" | grep -E '\sO\s+\.(data|bss|tdata|tbss)(\s|\.)' |
  grep -vE '\.data\.rel\.ro' | grep -vE '__(asan|odr_asan|tsan|sancov)|\.L' || true)
if [ -n "$writable" ]; then
  echo "FAIL: writable global or static objects in $lib:"
  echo "$writable"
  exit 1
fi
echo "1 passed, 0 failed: no writable objects in $(basename "$lib")"
