"""Fixes found by the bad-input campaign (bench/bad_input_campaign.py, docs/bad-inputs.md);
each test failed before its fix."""
import json
import struct
import zlib

import pytest


def _png_claiming(width, height):
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)  # noqa: E731
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")


def test_an_environment_map_claiming_10_gigapixels_is_a_value_error_naming_it(tmp_path):
    from core.lighting import load_environment_map

    path = tmp_path / "huge.png"
    path.write_bytes(_png_claiming(100000, 100000))
    with pytest.raises(ValueError, match="huge.png"):
        load_environment_map(path)


@pytest.mark.parametrize("time", [float("nan"), float("inf")])
def test_a_keyframe_time_that_is_not_finite_is_refused_with_the_file_name(tmp_path, time):
    from core.export.video import load_timeline
    from core.identity import Identity
    from core.state import AvatarState
    import numpy as np

    state = AvatarState(Identity(np.zeros(128), 1, 0.7, "t")).to_json()
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"keyframes": [{"time": 0.0, "state": state}, {"time": time, "state": state}]}))
    with pytest.raises(ValueError, match="t.json: keyframe 1: time must be a finite number"):
        load_timeline(path)


def _tiny_dataset(tmp_path):
    import imageio.v2 as imageio
    import numpy as np

    from core.camera import orbit

    folder = tmp_path / "ds"
    (folder / "images").mkdir(parents=True)
    imageio.imwrite(folder / "images" / "a.png", np.zeros((16, 16, 3), np.uint8))
    return folder, [float(v) for v in orbit(0, 0).to_label()]


@pytest.mark.parametrize("name", ["../outside.png", "/etc/passwd", "images/../../outside.png"])
def test_dataset_labels_pointing_outside_the_folder_are_refused_before_reading(tmp_path, name):
    from training.data import DatasetError, HeadDataset

    folder, label = _tiny_dataset(tmp_path)
    (tmp_path / "outside.png").write_bytes(b"not read")
    labels = [[name, label]]
    (folder / "dataset.json").write_text(json.dumps({"labels": labels}))
    with pytest.raises(DatasetError, match="outside the dataset folder"):
        HeadDataset(folder, 16, ())


def test_a_missing_dataset_image_is_one_error_and_no_opencv_warning(tmp_path, capfd):
    from training.data import DatasetError, HeadDataset

    folder, label = _tiny_dataset(tmp_path)
    labels = [["images/gone.png", label]]
    (folder / "dataset.json").write_text(json.dumps({"labels": labels}))
    with pytest.raises(DatasetError, match="gone.png: missing"):
        HeadDataset(folder, 16, ())
    assert "WARN" not in capfd.readouterr().err


def test_an_mp4_cut_short_by_a_full_disk_does_not_replace_the_existing_video(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "out.mp4").write_bytes(b"PRECIOUS")
    program = ("import resource, sys, numpy as np\n"
               "from core.export.video import write_video\n"
               "resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))\n"
               "frames = (np.random.default_rng(i).integers(0, 255, (64, 64, 3), dtype=np.uint8) for i in range(12))\n"
               "try:\n    write_video(frames, 'out.mp4', 10.0, 12, progress=False)\n"
               "except OSError as e:\n    print('refused:', e); sys.exit(3)\n")
    p = subprocess.run([sys.executable, "-c", program], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                       env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"})
    assert p.returncode == 3, (p.returncode, p.stdout, p.stderr)
    assert (tmp_path / "out.mp4").read_bytes() == b"PRECIOUS"
    assert sorted(x.name for x in tmp_path.iterdir()) == ["out.mp4"]
