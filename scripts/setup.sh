#!/usr/bin/env bash
# Set up smplpix-rt on a Debian/Ubuntu machine: system OpenGL libraries, a virtual environment in
# .venv, and the package with its dependencies. Safe to run again.
#   bash scripts/setup.sh          # to use the tools
#   bash scripts/setup.sh --dev    # also test dependencies (Xvfb, xdotool, pytest, ruff, smplx, anny)
set -euo pipefail
cd "$(dirname "$0")/.."
dev=0
[ "${1:-}" = "--dev" ] && dev=1

packages="libegl1 libgl1"
[ $dev = 1 ] && packages="$packages xvfb xauth xdotool"
missing=$(for p in $packages; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || echo "$p"; done)
if [ -n "$missing" ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  echo "setup: installing system packages:" $missing
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
pip=".venv/bin/python -m pip"
$pip install -q --upgrade pip
# torch first and pinned, so that pip does not pick a multi-GB CUDA build for the CPU path.
$pip install -q "torch==2.13.0"
if [ $dev = 1 ]; then
  $pip install -q ".[dev]"
else
  $pip install -q .
fi
echo "setup: done; tools are in .venv/bin (smplpix, smplpix-viewer)"
