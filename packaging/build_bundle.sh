#!/usr/bin/env bash
# Linux desktop bundle: one folder (and a .tar.gz of it) that starts the studio on a machine
# without Python — PyInstaller (--onedir) over a fresh venv holding the project's wheel.
#
#   packaging/build_bundle.sh            -> packaging/.out/bundle/dist/avatar-studio/ (+ .tar.gz)
#   packaging/build_bundle.sh --check    ... then opens it under Xvfb (screenshot, start-up time)
#
# The folder: `avatar-studio` (the studio with no command; the CLI with one), `_internal/`
# (Python, Qt, torch, the bundled models and presets), `avatar-studio.desktop`,
# `avatar-studio.png` and `install-desktop-entry.sh` (puts the entry and the icon under
# ~/.local/share so the desktop's menu shows it). Build outputs stay in packaging/.out/
# (ignored by git). Why PyInstaller: see docs/packaging.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/packaging/.out/bundle"
check=0
[ "${1:-}" = "--check" ] && check=1
source "$root/packaging/_venv.sh"
mkdir -p "$out"
nice_="nice -n 15"

echo "== wheel and build venv"
rm -rf "$out/wheels"
wheel="$(build_wheel "$out/wheels")"
if [ -x "$out/venv/bin/pyinstaller" ]; then
    "$out/venv/bin/python" -m pip install -q --no-index --no-deps --force-reinstall "$wheel"
else
    rm -rf "$out/venv"
    fresh_venv "$out/venv" "$wheel"
    "$out/venv/bin/python" -m pip install -q "pyinstaller>=6.10"   # from PyPI
fi
py="$out/venv/bin/python"
echo "pyinstaller $("$out/venv/bin/pyinstaller" --version)"

echo "== pyinstaller (nice 15)"
t0=$(date +%s)
rm -rf "$out/build" "$out/dist"
collect=()
for pkg in cli core app render training assets resources; do
    "$py" -c "import $pkg" 2>/dev/null && collect+=(--collect-submodules "$pkg")
done
# shellcheck disable=SC2086
$nice_ "$out/venv/bin/pyinstaller" --noconfirm --log-level WARN --onedir --name avatar-studio \
    --distpath "$out/dist" --workpath "$out/build" --specpath "$out" \
    --icon "$root/resources/avatar-studio.png" \
    "${collect[@]}" \
    --collect-data assets --collect-data resources --collect-data face_recognition_models \
    --collect-submodules glcontext --collect-binaries imageio_ffmpeg \
    --copy-metadata avatar-studio \
    --exclude-module pytest --exclude-module _pytest --exclude-module pytestqt \
    --exclude-module tkinter --exclude-module IPython \
    "$root/packaging/bundle_entry.py"
dist="$out/dist/avatar-studio"
cp "$root/packaging/avatar-studio.desktop" "$root/resources/avatar-studio.png" "$dist/"
cat > "$dist/install-desktop-entry.sh" <<'EOF'
#!/bin/sh
# Adds Avatar Studio to the desktop's application menu (this user only).
here="$(cd "$(dirname "$0")" && pwd)"
apps="${XDG_DATA_HOME:-$HOME/.local/share}/applications"
icons="${XDG_DATA_HOME:-$HOME/.local/share}/icons/hicolor/256x256/apps"
mkdir -p "$apps" "$icons"
cp "$here/avatar-studio.png" "$icons/avatar-studio.png"
sed "s|^Exec=.*|Exec=\"$here/avatar-studio\"|" "$here/avatar-studio.desktop" > "$apps/avatar-studio.desktop"
echo "installed $apps/avatar-studio.desktop"
EOF
chmod +x "$dist/install-desktop-entry.sh"
echo "build: $(( $(date +%s) - t0 )) s"
(cd "$out/dist" && $nice_ tar -czf "$out/avatar-studio-linux-x86_64.tar.gz" avatar-studio)
echo "folder: $(du -sm "$dist" | cut -f1) MB; tarball: $(du -m "$out/avatar-studio-linux-x86_64.tar.gz" | cut -f1) MB"

[ "$check" = 1 ] || exit 0
echo "== check under Xvfb, with no Python on PATH and a clean environment"
runs="$out/check"
rm -rf "$runs"; mkdir -p "$runs"; cd "$runs"
nopy="$runs/bin"; mkdir -p "$nopy"
for tool in sh xvfb-run Xvfb xauth mcookie getopt cat rm mktemp sleep kill awk touch timeout sed grep tr mkdir dirname basename env ps; do
    p="$(command -v "$tool" || true)"; [ -n "$p" ] && ln -sf "$p" "$nopy/$tool"
done
clean_env=(env -i HOME="$runs" PATH="$nopy" LANG=C.UTF-8)
"${clean_env[@]}" sh -c 'command -v python3 python' && { echo "python is on the check's PATH" >&2; exit 1; }
"${clean_env[@]}" "$dist/avatar-studio" --version
"${clean_env[@]}" "$dist/avatar-studio" render --seed 1 --light key-left --out "$runs/bundle-render.png"
for i in 1 2 3; do
    t0=$(date +%s.%N)
    "${clean_env[@]}" AVATAR_STUDIO_SCREENSHOT="$runs/bundle-studio.png" xvfb-run -a "$dist/avatar-studio"
    echo "start-up to refined frame + mesh (run $i): $(echo "$(date +%s.%N) - $t0" | bc) s"
done
set +e
timeout 20 "${clean_env[@]}" xvfb-run -a "$dist/avatar-studio" > "$runs/studio.log" 2>&1
rc=$?
set -e
[ "$rc" = 124 ] || { echo "the bundled studio ended early (exit $rc)" >&2; cat "$runs/studio.log" >&2; exit 1; }
echo "OK: the bundled studio still running after 20 s; screenshot $runs/bundle-studio.png"
