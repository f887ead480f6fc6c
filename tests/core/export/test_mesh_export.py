import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import trimesh

from core.checkpoint import DEFAULT_MODEL
from cli import main
from core.engine import InferenceEngine
from core.export.mesh import SCENE_UNIT_METRES, MeshExportConfig, density_volume, extract_mesh

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def engine():
    return InferenceEngine.from_checkpoint(DEFAULT_MODEL, "cpu")


def test_coarse_to_fine_sampling_matches_dense_sampling(engine):
    state = engine.default_state()
    ex = state.expression
    r = 64
    fast = density_volume(engine, state.identity, ex, r, 10.0)
    axis = np.linspace(-0.5, 0.5, r, dtype=np.float32)
    gx, gy, gz = np.meshgrid(axis, axis, axis, indexing="ij")
    dense = engine.sample_density(np.stack([gx, gy, gz], -1).reshape(-1, 3), state.identity, ex).numpy().reshape(r, r, r)
    assert ((fast > 10.0) == (dense > 10.0)).mean() > 0.9999


def test_bundled_head_is_watertight_in_metres(engine):
    mesh = extract_mesh(engine, engine.default_state(), MeshExportConfig(resolution=128))
    assert mesh.is_watertight and mesh.is_winding_consistent
    assert mesh.volume > 0  # outward normals
    height = mesh.extents[1]
    assert 0.25 < height < 0.5  # a head and neck, in metres
    assert mesh.centroid[2] > -0.05 * SCENE_UNIT_METRES
    assert mesh.visual.vertex_colors.shape == (len(mesh.vertices), 4)


@pytest.mark.parametrize("suffix", [".obj", ".ply", ".glb"])
def test_exported_files_reload_with_the_same_counts(tmp_path, capsys, suffix):
    out = tmp_path / f"head{suffix}"
    assert main(["export-mesh", "--grid", "96", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    n_v, n_f = (int(x) for x in said.split(": ")[1].replace(" vertices", "").replace(" faces", "").split(", ")[:2])
    back = trimesh.load(out, force="mesh", process=False)
    assert len(back.faces) == n_f
    if suffix != ".glb":  # glTF readers may weld vertices differently; faces must match
        assert len(back.vertices) == n_v


def test_decimation_and_smoothing(tmp_path):
    out = tmp_path / "small.ply"
    assert main(["export-mesh", "--grid", "96", "--faces", "3000", "--smooth", "3", "--out", str(out)]) == 0
    m = trimesh.load(out, process=False)
    assert 2000 <= len(m.faces) <= 3000


def test_glb_passes_the_khronos_validator(tmp_path):
    validator = ROOT / "tools" / "gltf" / "validate.js"
    assert (ROOT / "tools" / "gltf" / "node_modules" / "gltf-validator").exists(), \
        "run scripts/setup.sh (it installs the validator with npm)"
    out = tmp_path / "head.glb"
    assert main(["export-mesh", "--grid", "96", "--out", str(out)]) == 0
    p = subprocess.run([shutil.which("node") or "node", str(validator), str(out)], capture_output=True, text=True)
    report = json.loads(p.stdout)
    assert p.returncode == 0 and report["numErrors"] == 0, report


def test_bad_output_is_a_one_line_error(tmp_path, capsys):
    assert main(["export-mesh", "--out", str(tmp_path / "head.stl")]) == 2
    assert main(["export-mesh", "--grid", "8", "--out", str(tmp_path / "head.ply")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "head.stl" in err[0] and "resolution" in err[1]


def test_baked_texture_matches_the_vertex_colours(tmp_path):
    """OBJ gets .mtl + .png, GLB embeds the texture and validates; sampling the texture at
    the UVs gives the same colours as the model's albedo at the vertices."""
    obj = tmp_path / "tex" / "head.obj"
    assert main(["export-mesh", "--grid", "96", "--texture", "256", "--out", str(obj)]) == 0
    assert sorted(p.suffix for p in obj.parent.iterdir()) == [".mtl", ".obj", ".png"]
    glb = tmp_path / "head.glb"
    assert main(["export-mesh", "--grid", "96", "--texture", "256", "--out", str(glb)]) == 0
    validator = ROOT / "tools" / "gltf" / "validate.js"
    p = subprocess.run([shutil.which("node") or "node", str(validator), str(glb)], capture_output=True, text=True)
    assert p.returncode == 0 and json.loads(p.stdout)["numErrors"] == 0
    textured = trimesh.load(glb, force="mesh")
    sampled = textured.visual.to_color().vertex_colors[:, :3].astype(float)
    coloured = trimesh.load(tmp_path / "tex" / "head.obj", force="mesh")  # same geometry, texture again
    assert len(coloured.faces) == len(textured.faces)
    plain = tmp_path / "plain.ply"
    assert main(["export-mesh", "--grid", "96", "--faces", str(len(textured.faces)), "--out", str(plain)]) == 0
    ref = trimesh.load(plain, process=False)
    # compare colours at nearby points of the two meshes (same surface, different vertices)
    _, idx = trimesh.proximity.ProximityQuery(ref).vertex(textured.vertices)
    diff = np.abs(sampled - ref.visual.vertex_colors[idx, :3].astype(float)).mean()
    assert diff < 12.0
