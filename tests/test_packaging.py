"""The wheel carries what the program reads at run time (issue: a pip-installed studio
had no model): the bundled head model, the face tracker's model and the presets."""
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_carries_the_models_and_presets(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("avatar_studio-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in ("assets/default_head.safetensors", "assets/face_tracker.safetensors", "assets/MODEL_CARD.md",
                   "resources/lighting_presets.json", "resources/expression_presets.json", "core/checkpoint.py",
                   "main.py"):
        assert needed in names, needed
    assert wheel.stat().st_size < 60e6  # well inside PyPI's 100 MB per file
