"""The wheel carries what the program reads at run time (issue: a pip-installed studio
had no model): the bundled head model, the face tracker's model and the presets."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel `pip wheel .` builds from this checkout's files (built once for the module).
    Built from a copy of the files git would carry (tracked and not ignored), so a stale
    setuptools build/ folder cannot slip a deleted file into it."""
    out = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src")
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        if (ROOT / rel).is_file():
            (src / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, src / rel)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(out), str(src)], check=True, capture_output=True)
    return next(out.glob("avatar_studio-*.whl"))


def test_the_wheel_carries_the_models_and_presets(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("assets/default_head.safetensors", "assets/face_tracker.safetensors",
                   "assets/face_mesh_expression.safetensors", "assets/MODEL_CARD.md",
                   "resources/lighting_presets.json", "resources/expression_presets.json", "core/checkpoint.py",
                   "main.py"):
        assert needed in names, needed
    assert wheel.stat().st_size < 60e6  # well inside PyPI's 100 MB per file


def test_the_wheel_carries_the_console_scripts_package_and_every_subpackage(wheel):
    """The console script's module is in the wheel (after the CLI moved to the top-level
    `cli` package the wheel must carry `cli/`), and so is every package folder of the code."""
    zf = zipfile.ZipFile(wheel)
    names = set(zf.namelist())
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    target = next(line.split("=", 1)[1].strip() for line in zf.read(entry_points).decode().splitlines()
                  if line.startswith("avatar-studio"))
    module = target.split(":")[0].replace(".", "/")
    assert f"{module}/__init__.py" in names or f"{module}.py" in names, target
    for top in ("cli", "core", "app", "render", "training"):
        for init in (ROOT / top).rglob("__init__.py") if (ROOT / top).is_dir() else ():
            rel = init.relative_to(ROOT).as_posix()
            if "__pycache__" not in rel:
                assert rel in names, f"{rel} is not in the wheel"


def test_the_wheel_carries_the_icon_and_the_desktop_entry_uses_it(wheel):
    zf = zipfile.ZipFile(wheel)
    names = set(zf.namelist())
    assert {"resources/avatar-studio.png", "resources/avatar-studio.svg"} <= names
    png = zf.read("resources/avatar-studio.png")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert (width, height) == (256, 256)
    entry = dict(line.split("=", 1) for line in (ROOT / "packaging" / "avatar-studio.desktop").read_text().splitlines()
                 if "=" in line)
    assert entry["Icon"] == "avatar-studio" and entry["Type"] == "Application"
    assert entry["Exec"].split()[0] == "avatar-studio"
    assert 'avatar-studio = "' in (ROOT / "pyproject.toml").read_text()  # the command the entry runs
