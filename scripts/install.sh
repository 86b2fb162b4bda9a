#!/usr/bin/env bash
# Installs everything hf-ambiguity needs on a fresh Debian machine, idempotently:
# FFmpeg and espeak-ng (system), a virtual environment in .venv with torch==2.14.1 (CUDA build; torchcodec,
# which the datasets Audio feature needs, only loads with it), torchcodec and the package with all extras.
set -euo pipefail
cd "$(dirname "$0")/.."
need_apt=()
command -v ffmpeg >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v espeak-ng >/dev/null 2>&1 || need_apt+=(espeak-ng)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "[install] apt-get install ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q torch==2.14.1
.venv/bin/python -m pip install -q torchcodec -e ".[all]"
.venv/bin/python -c "import torchcodec, datasets; print('[install] ok: datasets', datasets.__version__)"
