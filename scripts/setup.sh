#!/usr/bin/env bash
# One-time (idempotent) set-up of .venv from the project's own files.
# CPU machines: torch==2.13.0 is installed first so that the `torch>=2.5` range in
# pyproject.toml is already satisfied and pip never pulls the CUDA wheels.
set -euo pipefail
# System packages for the GUI under a virtual screen (the geometry viewport's test runs
# under Xvfb; Qt's xcb platform needs the two xcb libraries; GL needs Mesa's drivers).
if ! command -v Xvfb >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = "0" ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xauth libxcb-icccm4 libxcb-keysyms1 libegl1 \
        libgl1-mesa-dri >/dev/null 2>&1 || echo "setup: could not install xvfb and GL packages" >&2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
venv="${AVATAR_STUDIO_VENV:-$root/.venv}"
stamp="$venv/.avatar-studio-installed"
want="$(cat pyproject.toml scripts/setup.sh tools/gltf/package.json | sha1sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    exit 0
fi
python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade "pip>=23" "setuptools>=68,<81" wheel
if command -v nvidia-smi >/dev/null 2>&1 && [ "${AVATAR_STUDIO_CPU_ONLY:-0}" != "1" ]; then
    "$py" -m pip install -q "torch>=2.5"
else
    "$py" -m pip install -q "torch==2.13.0"
fi
"$py" -m pip install -q -e ".[gui,dev,facemesh]"
# MediaPipe's face mesh (the tracker's expression landmarks; pyproject's facemesh extra
# says why --no-deps). Optional: where no wheel exists for this Python or platform the
# tracker uses dlib's 68 points for expressions as well.
"$py" -m pip install -q --no-deps "mediapipe==0.10.14" \
    || echo "setup: MediaPipe 0.10.14 is not available here; the tracker reads expressions from dlib's landmarks" >&2
# The Khronos glTF validator (npm) checks exported GLB files in the tests.
if command -v npm >/dev/null 2>&1; then
    (cd tools/gltf && npm install --no-audit --no-fund --silent)
fi
echo "$want" > "$stamp"
