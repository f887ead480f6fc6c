"""Mesh export: marching cubes on the model's density, cleaned, coloured, written with
trimesh as OBJ (+MTL), PLY or GLB.

Exported meshes are in metres, y up, the face looking along +z (glTF's and Blender's
importers agree on this with their default settings): one scene unit is
SCENE_UNIT_METRES, the size the synthetic heads are built at (a 23 cm crown-to-chin head).

The density is sampled coarse-to-fine: a 1/4-resolution pass finds the blocks the
surface can be in, and only those are sampled at full resolution.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from core.camera import SCENE_BOX

SCENE_UNIT_METRES = 0.478
TEXTURED_FACE_BUDGET = 50_000  # UV unwrapping time grows fast with faces
FORMATS = (".glb", ".obj", ".ply")


@dataclass(frozen=True)
class MeshExportConfig:
    resolution: int = 256
    level: float = 10.0           # density iso-level
    faces: int | None = None      # decimate to about this many faces
    smooth_iterations: int = 0    # Taubin smoothing (keeps the volume)
    colors: str = "albedo"        # albedo | lit | none (vertex colours)
    texture: int = 0              # bake a UV-unwrapped albedo texture of this size (0 = none)
    largest_component: bool = True
    metres: bool = True

    def __post_init__(self):
        if not 32 <= self.resolution <= 1024:
            raise ValueError(f"mesh resolution {self.resolution} outside [32, 1024]")
        if self.colors not in ("albedo", "lit", "none"):
            raise ValueError(f"mesh colours {self.colors!r}: use albedo, lit or none")
        if self.faces is not None and self.faces < 100:
            raise ValueError(f"face budget {self.faces} is too small (at least 100)")
        if self.texture and not 64 <= self.texture <= 8192:
            raise ValueError(f"texture size {self.texture} outside [64, 8192]")


def density_volume(engine, identity, expression, resolution: int, level: float, block: int = 4) -> np.ndarray:
    """(R, R, R) density indexed [x, y, z] over the scene box, sampled coarse-to-fine."""
    box = SCENE_BOX
    axis = np.linspace(-box, box, resolution, dtype=np.float32)
    coarse_n = max(8, resolution // block)
    caxis = np.linspace(-box, box, coarse_n, dtype=np.float32)
    cx, cy, cz = np.meshgrid(caxis, caxis, caxis, indexing="ij")
    coarse = engine.sample_density(np.stack([cx, cy, cz], -1).reshape(-1, 3), identity, expression)
    coarse = coarse.reshape(1, 1, coarse_n, coarse_n, coarse_n)
    # a coarse cell matters if the surface can pass through it or its neighbours
    near = F.max_pool3d(coarse, 3, stride=1, padding=1) > level * 0.25
    far_inside = -F.max_pool3d(-coarse, 3, stride=1, padding=1) > level * 4
    active = (near & ~far_inside)[0, 0].numpy()
    vol = np.where(
        F.interpolate(coarse, size=(resolution,) * 3, mode="trilinear", align_corners=True)[0, 0].numpy() > level,
        level * 2.0, 0.0).astype(np.float32)
    # map each fine index to its coarse cell and sample only the active ones
    cell = np.minimum((np.arange(resolution) * (coarse_n - 1) / (resolution - 1) + 0.5).astype(int), coarse_n - 1)
    mask = active[cell][:, cell][:, :, cell]
    idx = np.nonzero(mask)
    pts = np.stack([axis[idx[0]], axis[idx[1]], axis[idx[2]]], -1)
    if len(pts):
        vol[idx] = engine.sample_density(pts, identity, expression).numpy()
    return vol


def extract_mesh(engine, state, cfg: MeshExportConfig = MeshExportConfig()):
    """The state's head as a trimesh.Trimesh (cleaned and coloured as configured)."""
    import trimesh
    from skimage.measure import marching_cubes

    expression = state.expression.with_names(engine.cfg.expression_names)
    vol = density_volume(engine, state.identity, expression, cfg.resolution, cfg.level)
    if vol.max() <= cfg.level:
        raise ValueError("the density never reaches the iso-level: nothing to extract (try a lower --level)")
    # pad so the surface is closed where it meets the box (the neck is cut there)
    padded = np.pad(vol, 1, constant_values=0.0)
    step = 2 * SCENE_BOX / (cfg.resolution - 1)
    verts, faces, _, _ = marching_cubes(padded, cfg.level, spacing=(step,) * 3)
    verts = verts - SCENE_BOX - step
    # marching cubes winds faces for increasing values; density grows inwards
    mesh = trimesh.Trimesh(verts, faces[:, ::-1], process=True)
    if cfg.largest_component:
        parts = mesh.split(only_watertight=False)
        if len(parts) > 1:
            mesh = max(parts, key=lambda m: len(m.faces))
    trimesh.repair.fill_holes(mesh)
    trimesh.repair.fix_normals(mesh)
    if cfg.smooth_iterations:
        trimesh.smoothing.filter_taubin(mesh, iterations=cfg.smooth_iterations)
    closed = mesh.is_watertight  # before UV seams split vertices (the surface stays closed)
    budget = cfg.faces or (TEXTURED_FACE_BUDGET if cfg.texture else None)
    if budget and len(mesh.faces) > budget:
        mesh = mesh.simplify_quadric_decimation(face_count=budget)
    if cfg.texture:
        from PIL import Image

        from core.export.texture import bake_albedo, unwrap

        verts, faces, uv = unwrap(mesh.vertices, mesh.faces)
        image = bake_albedo(engine, state, verts, faces, uv, cfg.texture)
        material = trimesh.visual.material.SimpleMaterial(image=Image.fromarray(image))
        mesh = trimesh.Trimesh(verts, faces, visual=trimesh.visual.TextureVisuals(uv=uv, material=material),
                               process=False)
    elif cfg.colors != "none":
        mesh.visual.vertex_colors = vertex_colors(engine, state, mesh.vertices, cfg.colors)
    if cfg.metres:
        mesh.apply_scale(SCENE_UNIT_METRES)
    mesh.metadata["closed_surface"] = bool(closed if cfg.texture else mesh.is_watertight)
    return mesh


def vertex_colors(engine, state, vertices, mode: str) -> np.ndarray:
    """RGBA uint8 per vertex: the model's albedo there, or albedo lit by the state's SH."""
    from core.lighting import sh_irradiance

    model = engine.model
    planes = engine.planes_for(state.identity, state.expression)[0]
    out = []
    with torch.no_grad():
        pts = torch.as_tensor(np.asarray(vertices), dtype=torch.float32)
        for i in range(0, len(pts), 65536):
            p = pts[i:i + 65536].to(engine.device)
            _, albedo, normal, _ = model.query(planes, p)
            if mode == "lit":
                albedo = albedo * sh_irradiance(normal, state.lighting.as_tensor(engine.device)).clamp_min(0)
            out.append(albedo.float().cpu())
    rgb = (torch.cat(out).clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    return np.concatenate([rgb, np.full((len(rgb), 1), 255, np.uint8)], 1)


def save_mesh(mesh, path) -> None:
    """Write by suffix (.glb, .obj, .ply), every file atomically: a failed write keeps the
    old file. A textured OBJ's sidecars are named after it (head.obj -> head.mtl +
    head_albedo.png), so exports into one folder never share a texture."""
    from pathlib import Path

    from core.fileio import atomic_write_bytes

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise ValueError(f"{path}: mesh format must be one of {', '.join(FORMATS)}")
    if suffix == ".obj":
        text, sidecars = obj_with_sidecars(mesh, path.stem)
        for name, data in sidecars.items():  # first, so the OBJ never names a missing file
            atomic_write_bytes(path.parent / name, data)
        atomic_write_bytes(path, text.encode())
        return
    atomic_write_bytes(path, mesh.export(file_type=suffix[1:]))


def obj_with_sidecars(mesh, stem: str) -> tuple[str, dict]:
    """(OBJ text, {file name: bytes}) with the material library and texture named after
    `stem`. OBJ's mtllib and MTL's map_Kd split on whitespace, so spaces become '_'."""
    from trimesh.exchange.obj import export_obj

    base = "_".join(stem.split()) or "mesh"
    material = getattr(mesh.visual, "material", None)
    if material is not None:
        mesh = mesh.copy()  # the caller's mesh keeps its material name
        material = mesh.visual.material
        if hasattr(material, "to_simple"):
            material = mesh.visual.material = material.to_simple()
        material.name = f"{base}_albedo"  # trimesh names the texture image after the material
    return export_obj(mesh, return_texture=True, mtl_name=f"{base}.mtl")
