#!/usr/bin/env bash
# test_python.sh - installs the Python package into a fresh venv and runs its pytest tests.
# Usage: bash scripts/test_python.sh [BUILD_DIR]     (default build; its retinaface CLI is
#        the reference the tests compare with; pytest arguments may follow after --)
# Everything goes under BUILD_DIR: the venv and pip's files in a temporary folder (removed on
# exit, HOME pointed there so nothing is cached or configured in the real one), the CMake
# build of the package's libretinaface.so in BUILD_DIR/python-lib (kept: later runs are
# incremental). No test runs longer than 10 minutes (pytest-timeout). Exit status: pytest's;
# "no tests collected" (5) fails like any other.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
build=${1:-build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
mkdir -p "$build"
build=$(cd "$build" && pwd)
py=/usr/bin/python3 # Debian's, which sees python3-numpy, -pytest, -distributed
tmp=$(mktemp -d "$build/python-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/home" "$tmp/tmp"
export HOME=$tmp/home XDG_CACHE_HOME=$tmp/home/.cache XDG_CONFIG_HOME=$tmp/home/.config \
  TMPDIR=$tmp/tmp PIP_NO_CACHE_DIR=1 PIP_NO_INPUT=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
  PYTHONDONTWRITEBYTECODE=1 DASK_TEMPORARY_DIRECTORY=$tmp/tmp
unset RETINAFACE_LIBRARY PYTHONPATH

echo "== venv (--system-site-packages) and pip install --no-build-isolation ./python"
"$py" -m venv --system-site-packages "$tmp/venv"
RETINAFACE_PY_BUILD_DIR=$tmp/pybuild RETINAFACE_CMAKE_BUILD_DIR=$build/python-lib \
  "$tmp/venv/bin/python" -m pip install --no-build-isolation --no-index -q ./python

echo "== pytest python/tests"
cd "$tmp"
RETINAFACE_SOURCE_DIR=$repo RETINAFACE_CLI=${RETINAFACE_CLI:-$build/retinaface} \
  RETINAFACE_TEST_INSTALLED=1 \
  "$tmp/venv/bin/python" -m pytest -p no:cacheprovider --basetemp="$tmp/pytest" -rs --timeout=600 \
  --rootdir="$repo/python" "$@" "$repo/python/tests"
