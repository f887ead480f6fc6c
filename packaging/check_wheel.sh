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
# Dependencies: see packaging/_venv.sh (the installed ones of .venv are linked; the project
# comes only from the wheel); the script checks that `core`, `app`, `cli`, `assets` and
# `resources` are imported from the fresh venv, never from this checkout.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="${1:-$root/packaging/.out/wheel-check}"
rm -rf "$work"
mkdir -p "$work/wheels" "$work/elsewhere"
work="$(cd "$work" && pwd)"

step() { printf '== %s\n' "$*"; }

source "$root/packaging/_venv.sh"
step "build the wheel"
t0=$(date +%s)
wheel="$(build_wheel "$work/wheels")"
size=$(stat -c %s "$wheel")
printf 'wheel: %s (%.1f MB, %d s)\n' "$(basename "$wheel")" "$(echo "$size / 1000000" | bc -l)" $(( $(date +%s) - t0 ))

step "fresh venv"
fresh_venv "$work/venv" "$wheel"
py="$work/venv/bin/python"

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
