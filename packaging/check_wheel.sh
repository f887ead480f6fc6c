#!/usr/bin/env bash
# Fresh-environment check of the wheel (issue 15, "installable anywhere"):
#   1. `pip wheel . --no-deps` builds the wheel from this checkout;
#   2. a fresh venv gets that wheel (pip --no-index: the project comes only from the wheel);
#   3. from another folder: `avatar-studio --version`, `avatar-studio render --seed 1
#      --light key-left --out x.png`, and the studio under xvfb-run (it must still be running
#      after a few seconds) plus a screenshot of the window (python -m app.screenshot).
#
#   packaging/check_wheel.sh [WORK_DIR]     (default packaging/.out/wheel-check; ignored by git)
#
# Dependencies: this machine reaches PyPI only, and the CPU build of torch 2.13.0 comes from
# PyTorch's own index, so the fresh venv reuses the dependencies already installed in .venv:
# each installed distribution (package folder + its .dist-info) of .venv is linked into the
# fresh venv's site-packages, EXCEPT the project's own editable install (its .pth, finder and
# dist-info) and every .pth file. `pip check` then confirms every requirement of the wheel is
# met, and the script checks that `core`, `app`, `cli`, `assets` and `resources` are imported
# from the fresh venv, never from this checkout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$root/packaging/.out/wheel-check}"
devpy="${AVATAR_STUDIO_VENV:-$root/.venv}/bin/python"
rm -rf "$work"
mkdir -p "$work/wheels" "$work/elsewhere"
work="$(cd "$work" && pwd)"

step() { printf '== %s\n' "$*"; }

step "build the wheel"
t0=$(date +%s)
"$devpy" -m pip wheel -q --no-deps --no-build-isolation -w "$work/wheels" "$root"
wheel="$(ls "$work"/wheels/avatar_studio-*.whl)"
size=$(stat -c %s "$wheel")
printf 'wheel: %s (%.1f MB, %d s)\n' "$(basename "$wheel")" "$(echo "$size / 1000000" | bc -l)" $(( $(date +%s) - t0 ))

step "fresh venv"
"$devpy" -m venv "$work/venv"
py="$work/venv/bin/python"
site="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
devsite="$("$devpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
linked=0
for entry in "$devsite"/*; do
    name="$(basename "$entry")"
    case "$name" in
        __editable__*|avatar_studio*|*.pth|__pycache__|pip|pip-*.dist-info) continue ;;
    esac
    case "$name" in setuptools-*.dist-info) rm -rf "$site"/setuptools-*.dist-info ;; esac
    rm -rf "$site/$name"  # the venv's own setuptools is older than torch's requirement
    ln -s "$entry" "$site/$name"
    linked=$((linked + 1))
done
echo "linked $linked installed entries of .venv (dependencies only)"
"$py" -m pip install -q --no-index --no-deps "$wheel"
"$py" -m pip check

step "from another folder"
cd "$work/elsewhere"
export PATH="$work/venv/bin:$PATH"
hash -r
[ "$(command -v avatar-studio)" = "$work/venv/bin/avatar-studio" ] || { echo "avatar-studio is not the fresh venv's" >&2; exit 1; }
"$py" - "$work/venv" <<'EOF'
import importlib, sys
venv = sys.argv[1]
for name in ("core", "app", "assets", "resources", "main"):
    mod = importlib.import_module(name)
    path = getattr(mod, "__file__", None) or list(mod.__path__)[0]
    assert path.startswith(venv), f"{name} imported from {path}, not from the fresh venv"
    print(f"{name:10s} {path}")
try:
    mod = importlib.import_module("cli")
    path = getattr(mod, "__file__", None) or list(mod.__path__)[0]
    assert path.startswith(venv), f"cli imported from {path}"
    print(f"{'cli':10s} {path}")
except ModuleNotFoundError:
    print("cli        (no top-level cli package in this version)")
EOF
avatar-studio --version
t0=$(date +%s)
avatar-studio render --seed 1 --light key-left --out x.png
echo "render: $(( $(date +%s) - t0 )) s"
"$py" -c "from PIL import Image; im = Image.open('x.png'); print('x.png', im.size, im.mode); assert im.getextrema() != ((0, 0),) * len(im.getbands())"

step "the studio under xvfb-run"
# `avatar-studio` with no command starts the studio; it must be alive after 20 s (start-up
# errors end it sooner). Then a screenshot of the window once the refined frame is in.
set +e
timeout 20 xvfb-run -a avatar-studio > studio.log 2>&1
rc=$?
set -e
if [ "$rc" != "124" ]; then echo "the studio ended early (exit $rc):" >&2; cat studio.log >&2; exit 1; fi
echo "studio still running after 20 s (stopped by timeout); log lines: $(wc -l < studio.log)"
xvfb-run -a "$py" -m app.screenshot "$work/studio-from-wheel.png"
echo "OK: $wheel ($size bytes); screenshot $work/studio-from-wheel.png"
