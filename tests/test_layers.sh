#!/usr/bin/env bash
# test_layers.sh - no two source files include or call each other in a loop (scripts/check_layers.sh
# on this build's object files).
#   tests/test_layers.sh path/to/retinaface SOURCE_DIR
set -euo pipefail
BIN=$1
SRC=$2
if [ ! -x /usr/bin/python3 ] || ! command -v nm >/dev/null; then
  echo "SKIP test_layers: needs /usr/bin/python3 and nm"
  exit 77
fi
bash "$SRC/scripts/check_layers.sh" "$(dirname "$BIN")"
