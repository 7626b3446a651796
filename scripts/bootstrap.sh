#!/usr/bin/env bash
# Set up everything `make demo` and `make test` need, on a fresh Debian/Ubuntu machine or an old one:
#   1. the few shared libraries open3d and Polyscope load at import (installed with apt when missing),
#   2. a virtual environment in .venv with this package (editable) and its test tools, torch pinned
#      through constraints.txt so pip never pulls a CUDA build onto a CPU machine.
set -euo pipefail
cd "$(dirname "$0")/.."

# open3d needs libusb and OpenMP; Polyscope's offscreen (EGL) rendering needs Mesa's EGL/GLES.
debian_packages=(libusb-1.0-0 libgomp1 libgl1 libegl1 libegl-mesa0 libgles2)
missing=()
if command -v dpkg-query >/dev/null 2>&1; then
  for package in "${debian_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
  done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "[bootstrap] installing Debian packages: ${missing[*]}"
  sudo_cmd=""
  if [ "$(id -u)" != "0" ]; then sudo_cmd="sudo"; fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "[bootstrap] creating .venv with $($python --version)"
  "$python" -m venv .venv
fi
echo "[bootstrap] installing sape-geo and its dependencies into .venv (first time: a few minutes)"
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel -c constraints.txt
.venv/bin/python -m pip install -q -c constraints.txt torch==2.13.0
.venv/bin/python -m pip install -q -c constraints.txt -e ".[all,test]"
echo "[bootstrap] ready"
