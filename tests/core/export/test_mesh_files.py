"""Mesh files: textured OBJs keep their own sidecars, and a failed write keeps the old file."""
import contextlib
import os
import resource
import signal

import numpy as np
import pytest
import trimesh
from PIL import Image

from core.export.mesh import save_mesh


def textured_box(rgb) -> trimesh.Trimesh:
    box = trimesh.creation.box()
    image = Image.fromarray(np.full((8, 8, 3), rgb, np.uint8))
    uv = np.random.default_rng(0).uniform(0, 1, (len(box.vertices), 2))
    material = trimesh.visual.material.SimpleMaterial(image=image)
    return trimesh.Trimesh(box.vertices, box.faces, process=False,
                           visual=trimesh.visual.TextureVisuals(uv=uv, material=material))


def texture_colour(obj_path) -> list:
    mesh = trimesh.load(obj_path, force="mesh", process=False)
    return np.asarray(mesh.visual.material.image.convert("RGB"))[0, 0].tolist()


def test_textured_obj_sidecars_are_named_after_the_obj(tmp_path):
    save_mesh(textured_box((200, 0, 0)), tmp_path / "red.obj")
    save_mesh(textured_box((0, 0, 200)), tmp_path / "blue.obj")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "blue.mtl", "blue.obj", "blue_albedo.png", "red.mtl", "red.obj", "red_albedo.png"]
    assert texture_colour(tmp_path / "red.obj") == [200, 0, 0]  # the second export left it alone
    assert texture_colour(tmp_path / "blue.obj") == [0, 0, 200]
    assert "mtllib red.mtl" in (tmp_path / "red.obj").read_text()


@contextlib.contextmanager
def file_size_limit(limit: int):
    """Inside the block, writes past `limit` bytes fail with EFBIG, as on a full disk
    (SIGXFSZ ignored). The limit covers every file of this process, pytest's own output
    included (a log file longer than the limit): so only around the write under test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, old_handler)


@pytest.mark.skipif(os.name != "posix", reason="simulates a full disk with POSIX file-size limits (RLIMIT_FSIZE)")
@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb"])
def test_a_failed_write_keeps_the_existing_file(tmp_path, suffix):
    out = tmp_path / f"head{suffix}"
    save_mesh(trimesh.creation.box(), out)
    before = out.read_bytes()
    big = trimesh.creation.icosphere(subdivisions=5)  # far larger than the limit in every format
    with pytest.raises(OSError), file_size_limit(len(before) + 4096):
        save_mesh(big, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no temporary left behind
