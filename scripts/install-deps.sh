#!/usr/bin/env bash
# install-deps.sh - installs the Debian packages the build, the tests and the fuzzers need
# (FFmpeg's libraries for `retinaface video`, the ffmpeg CLI for its tests' clips; pip, venv,
# pytest and dask.distributed for the Python package and its tests).
set -euo pipefail
packages=(build-essential cmake pkg-config libpng-dev libjpeg62-turbo-dev zlib1g-dev
          libcurl4-openssl-dev clang libclang-rt-14-dev python3 python3-numpy
          libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libavdevice-dev ffmpeg
          python3-pip python3-setuptools python3-wheel python3-venv python3-pytest
          python3-pytest-timeout python3-distributed)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
