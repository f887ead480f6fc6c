# Sourced by check_wheel.sh and build_bundle.sh: a fresh venv with the project's wheel.
#   fresh_venv VENV_DIR WHEEL
# This machine reaches PyPI only, and the CPU build of torch 2.13.0 comes from PyTorch's own
# index, so the dependencies are the ones already installed in the dev venv (.venv): each
# installed distribution (package folder + .dist-info) is linked into the fresh venv's
# site-packages, EXCEPT the project's own editable install (its .pth, finder and dist-info),
# pip and every .pth file. The project itself comes only from the wheel (pip --no-index), and
# `pip check` confirms every requirement of the wheel is met.
fresh_venv() {
    local venv="$1" wheel="$2" devpy="${AVATAR_STUDIO_VENV:-$root/.venv}/bin/python"
    "$devpy" -m venv "$venv"
    local site devsite linked=0 entry name
    site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    devsite="$("$devpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    for entry in "$devsite"/*; do
        name="$(basename "$entry")"
        case "$name" in
            __editable__*|avatar_studio*|*.pth|__pycache__|pip|pip-*.dist-info) continue ;;
            setuptools-*.dist-info) rm -rf "$site"/setuptools-*.dist-info ;;  # the venv's own is older than torch needs
        esac
        rm -rf "${site:?}/$name"
        ln -s "$entry" "$site/$name"
        linked=$((linked + 1))
    done
    echo "linked $linked installed entries of .venv (dependencies only)"
    "$venv/bin/python" -m pip install -q --no-index --no-deps "$wheel"
    "$venv/bin/python" -m pip check
}

build_wheel() {  # build_wheel OUT_DIR -> prints the wheel's path
    # built from a copy of the files git would carry (tracked and not ignored): a stale
    # setuptools build/ folder in the checkout cannot slip deleted files into the wheel
    local out="$1" devpy="${AVATAR_STUDIO_VENV:-$root/.venv}/bin/python" src
    src="$(mktemp -d)"
    (cd "$root" && git ls-files -co --exclude-standard -z | xargs -0 -I{} sh -c '[ -f "{}" ] && echo "{}"' \
        | tar -cf - -T - | tar -xf - -C "$src")
    mkdir -p "$out"
    "$devpy" -m pip wheel -q --no-deps --no-build-isolation -w "$out" "$src" >&2
    rm -rf "$src"
    ls "$out"/avatar_studio-*.whl
}
