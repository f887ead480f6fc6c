"""`avatar-studio eval`: how well a model reproduces held-out labelled views.

For each sample of a dataset (held-out views of the training identities: the model's
provenance maps dataset identities to its codes): RGB PSNR and SSIM (over white),
albedo PSNR and normal angle error where the dataset has those passes, relighting PSNR
(the same view under other lighting, against the synthetic engine's render of that head
under that lighting, for synthetic datasets), and the mesh's Chamfer distance to the
engine's ground-truth mesh in units of head height (synthetic datasets).
"""
from __future__ import annotations

import json
import math

import numpy as np

from core.engine import InferenceEngine
from core.expression import Expression
from core.identity import Identity
from core.lighting import SphericalHarmonicsLighting
from core.state import AvatarState, OrbitPose, RenderSettings
from training.data import HeadDataset

RELIGHT = ("key-left", "key-right", "top")


def psnr(a, b) -> float:
    mse = float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(1.0 / mse)


def _state_for(engine, sample, identity: Identity, lighting, res):
    c2w = sample.camera.cam2world
    origin = c2w[:3, 3]
    r = float(np.linalg.norm(origin))
    yaw = math.degrees(math.atan2(origin[0], origin[2]))
    pitch = math.degrees(math.asin(origin[1] / r))
    return AvatarState(identity=identity,
                       expression=Expression(engine.cfg.expression_names, sample.expression),
                       lighting=lighting, camera=OrbitPose(yaw, pitch, 0.0, r),
                       render=RenderSettings(res, "refined", "rgb", (1.0, 1.0, 1.0)))


def evaluate(model_path, data_dir, device="cpu", max_samples: int | None = None, geometry: bool = True) -> dict:
    from skimage.metrics import structural_similarity

    engine = InferenceEngine.from_checkpoint(model_path, device)
    prov = engine.provenance
    ids = prov.get("identity_ids")
    codes = prov.get("identity_codes")
    if not ids or not codes:
        raise ValueError(f"{model_path}: no identity codes in its provenance (not a reconstruction model)")
    code_of = {k: np.asarray(c) for k, c in zip(ids, codes)}
    res = 64
    data = HeadDataset(data_dir, res, engine.cfg.expression_names)
    meta = json.loads((data.folder / "dataset.json").read_text())
    raw_id = {s.name: str(meta.get("identity", {}).get(s.name, 0)) for s in data.samples}
    rows = []
    synthetic = "identity_parameters" in meta
    renderer = None
    if synthetic:
        from training.synth.renderer import HeadRenderer

        renderer = HeadRenderer(res)
    try:
        for k, sample in enumerate(data.samples[:max_samples]):
            key = raw_id[sample.name]
            if key not in code_of:
                raise ValueError(f"{data_dir}: identity {key} of {sample.name} is not in the model")
            state = _state_for(engine, sample, Identity(code_of[key]), SphericalHarmonicsLighting(sample.sh), res)
            f = engine.render(state, "refined", neural_resolution=res // engine.cfg.superres_factor).frame
            rgb = f.rgb.numpy()
            row = {"name": sample.name, "psnr": psnr(rgb, sample.image),
                   "ssim": float(structural_similarity(rgb, sample.image, channel_axis=2, data_range=1.0))}
            if sample.albedo is not None:
                row["albedo_psnr"] = psnr(f.albedo.numpy() * f.alpha.numpy()[..., None], sample.albedo)
            if sample.normal is not None and sample.alpha is not None:
                mask = sample.alpha > 0.5
                n_gt = sample.normal[mask] / np.maximum(sample.alpha[mask][:, None], 1e-3)
                n_gt /= np.maximum(np.linalg.norm(n_gt, axis=1, keepdims=True), 1e-6)
                cos = np.clip((f.normal.numpy()[mask] * n_gt).sum(1), -1, 1)
                row["normal_deg"] = float(np.degrees(np.arccos(cos)).mean())
            if renderer is not None:
                row.update(_relight_and_geometry(engine, renderer, meta["identity_parameters"][key], sample, state,
                                                 res, geometry and k < 4))
            rows.append(row)
    finally:
        if renderer is not None:
            renderer.release()
    keys = sorted({k for r in rows for k in r if k != "name"})
    summary = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
    return {"samples": len(rows), "summary": summary, "per_sample": rows}


def _relight_and_geometry(engine, renderer, identity_parameters, sample, state, res, with_geometry: bool) -> dict:
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity

    ident = HeadIdentity.from_json(identity_parameters)
    geo = HeadBuilder(ident).build(Expression(engine.cfg.expression_names, sample.expression))
    out = {}
    scores = []
    transfer = renderer.visibility_transfer(geo)
    for name in RELIGHT:
        light = SphericalHarmonicsLighting.preset(name)
        truth = renderer.render(geo, sample.camera, light, transfer=transfer).rgb
        pred = engine.render(state.with_(lighting=light), "refined",
                             neural_resolution=res // engine.cfg.superres_factor).frame.rgb.numpy()
        scores.append(psnr(pred, truth))
    out["relight_psnr"] = float(np.mean(scores))
    if with_geometry:
        from core.export.mesh import MeshExportConfig, extract_mesh

        try:
            pred = extract_mesh(engine, state, MeshExportConfig(resolution=128, colors="none", metres=False))
        except ValueError:  # no surface at the iso-level yet (an untrained model)
            out["geometry_missing"] = 1.0
            return out
        gt = geo.mesh.to_trimesh()
        # compare only the head (the box cuts the model's neck; the engine's neck goes on)
        height = gt.vertices[:, 1].max() - NECK_CUT
        out["chamfer_head_height"] = chamfer(pred, gt, y_min=NECK_CUT) / height
    return out


NECK_CUT = -0.3


def chamfer(a_mesh, b_mesh, samples: int = 20000, y_min: float = -np.inf) -> float:
    """Symmetric mean nearest-neighbour distance between surface samples of two meshes."""
    from scipy.spatial import cKDTree

    a = np.asarray(a_mesh.sample(samples, seed=0))
    b = np.asarray(b_mesh.sample(samples, seed=1))
    a, b = a[a[:, 1] > y_min], b[b[:, 1] > y_min]
    return float((cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()) / 2)


def run_eval(args) -> int:
    result = evaluate(args.model, args.data, args.device, args.max_samples)
    print(f"{result['samples']} samples")
    for k, v in result["summary"].items():
        print(f"  {k:<22} {v:8.3f}")
    if args.json:
        from core.fileio import atomic_write_text

        atomic_write_text(args.json, json.dumps(result, indent=1))
    return 0
