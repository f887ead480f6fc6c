"""`avatar-studio synth`: a valid, deterministic, resumable EG3D-format dataset."""
import json
import shutil

import cv2
import numpy as np
import pytest

from core.camera import Camera
from cli import main
from core.expression import DEFAULT_EXPRESSION_NAMES


def synth(out, *extra):
    return main(["synth", "--identities", "2", "--views-per-identity", "3", "--res", "64", "--seed", "7",
                 "--out", str(out), *extra])


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "set"
    assert synth(out, "--passes", "--meshes") == 0
    return out


def test_dataset_json_is_eg3d_plus_our_labels(dataset):
    d = json.loads((dataset / "dataset.json").read_text())
    assert len(d["labels"]) == 6
    for name, label in d["labels"]:
        assert (dataset / name).exists()
        cam = Camera.from_label(label)  # the shared type reads EG3D labels
        assert Camera.from_label(cam.to_label()).to_label() == label
        assert np.linalg.norm(cam.origin) == pytest.approx(2.7, abs=1e-6)
        assert len(d["sh"][name]) == 27
        assert set(d["expression"][name]) == set(DEFAULT_EXPRESSION_NAMES)
        lm = np.asarray(d["landmarks"][name])
        assert lm.shape == (68, 2) and (lm > 0).all() and (lm < 64).all()
        assert d["identity"][name] in (0, 1)
    assert set(d["identity_parameters"]) == {"0", "1"}
    assert d["expression_names"] == list(DEFAULT_EXPRESSION_NAMES)
    img = cv2.imread(str(dataset / d["labels"][0][0]))
    assert img.shape == (64, 64, 3)
    depth = cv2.imread(str(dataset / "passes" / "00000_00_depth.png"), cv2.IMREAD_UNCHANGED)
    assert depth.dtype == np.uint16 and depth.max() > 20000


def test_meshes_are_written(dataset):
    import trimesh

    mesh = trimesh.load(dataset / "meshes" / "00000_00.ply", process=False)
    assert len(mesh.faces) > 100000


def test_same_seed_same_bytes_and_resume(dataset, tmp_path):
    again = tmp_path / "again"
    assert synth(again, "--passes", "--meshes") == 0
    for f in sorted((dataset / "images").iterdir()):
        assert (again / "images" / f.name).read_bytes() == f.read_bytes(), f.name
    assert (again / "dataset.json").read_text() == (dataset / "dataset.json").read_text()
    # a killed run: one identity's part and images are gone; rerunning rewrites only those
    (again / "parts" / "00001.json").unlink()
    (again / "dataset.json").unlink()
    for f in (again / "images").glob("00001_*"):
        f.unlink()
    assert synth(again, "--passes", "--meshes") == 0
    for f in sorted((dataset / "images").iterdir()):
        assert (again / "images" / f.name).read_bytes() == f.read_bytes(), f.name
    assert (again / "dataset.json").read_text() == (dataset / "dataset.json").read_text()


def test_shards_add_up_to_the_whole(dataset, tmp_path):
    out = tmp_path / "sharded"
    assert synth(out, "--passes", "--meshes", "--shard", "0/2") == 0
    assert not (out / "dataset.json").exists()  # identity 1 is still missing
    assert synth(out, "--passes", "--meshes", "--shard", "1/2") == 0
    assert (out / "dataset.json").read_text() == (dataset / "dataset.json").read_text()


def test_bad_arguments_are_one_line_errors(tmp_path, capsys):
    assert main(["synth", "--identities", "0", "--views-per-identity", "1", "--out", str(tmp_path / "x")]) == 2
    assert main(["synth", "--identities", "1", "--views-per-identity", "1", "--shard", "3/2",
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("avatar-studio synth: error:") for line in err)
