"""`avatar-studio eval`: how well a model reproduces held-out labelled views.

For each sample of a dataset (held-out views of the training identities: the model's
provenance maps dataset identities to its codes): RGB PSNR and SSIM (over white),
albedo PSNR and normal angle error where the dataset has those passes, relighting PSNR
(the same view under other lighting, against the synthetic engine's render of that head
under that lighting, for synthetic datasets), a novel expression (a preset: PSNR against
the engine, and the correlation of the model's image change with the engine's), and the
mesh's Chamfer distance to the engine's ground-truth mesh in units of head height
(synthetic datasets). Identities the model has no code for can be fitted first
(`--fit-steps`), which measures the model on heads it never saw.
"""
from __future__ import annotations

import json
import math

import numpy as np

from core.engine import InferenceEngine
from core.expression import Expression, load_expression_presets
from core.identity import Identity
from core.metrics import psnr
from core.lighting import SphericalHarmonicsLighting
from core.state import AvatarState, OrbitPose, RenderSettings
from training.data import HeadDataset

RELIGHT = ("key-left", "key-right", "top")


def sample_state(engine, sample, identity: Identity, lighting, res, quality: str = "refined"):
    c2w = sample.camera.cam2world
    origin = c2w[:3, 3]
    r = float(np.linalg.norm(origin))
    yaw = math.degrees(math.atan2(origin[0], origin[2]))
    pitch = math.degrees(math.asin(origin[1] / r))
    return AvatarState(identity=identity,
                       expression=Expression(engine.cfg.expression_names, sample.expression),
                       lighting=lighting, camera=OrbitPose(yaw, pitch, 0.0, r),
                       render=RenderSettings(res, quality, "rgb", (1.0, 1.0, 1.0)))


def evaluate(model_path, data_dir, device="cpu", max_samples: int | None = None, geometry: bool = True,
             neural_resolution: int = 64, fit_steps: int = 0, progress: bool = False, quality: str = "refined",
             expression_samples: int = 12) -> dict:
    """Every figure for one dataset. Identities the model was trained on use their codes;
    others (`fit_steps` > 0) get a code fitted on the first half of their views and are
    measured on the other half."""
    from skimage.metrics import structural_similarity

    engine = InferenceEngine.from_checkpoint(model_path, device)
    prov = engine.provenance
    code_of = {k: np.asarray(c) for k, c in zip(prov.get("identity_ids") or [], prov.get("identity_codes") or [])}
    res = neural_resolution * engine.cfg.superres_factor
    data = HeadDataset(data_dir, res, engine.cfg.expression_names)
    meta = json.loads((data.folder / "dataset.json").read_text())
    raw_id = {s.name: str(meta.get("identity", {}).get(s.name, 0)) for s in data.samples}
    key_of = {s.name: data.identity_keys[s.identity] for s in data.samples}
    samples, fitted = _codes_for_unseen(data, key_of, code_of, engine.model, fit_steps, model_path, data_dir, progress)
    rows = []
    synthetic = "identity_parameters" in meta
    renderer = None
    if synthetic:
        from training.synth.renderer import HeadRenderer

        renderer = HeadRenderer(res)
    presets = [e for name, e in sorted(load_expression_presets(engine.cfg.expression_names).items()) if name != "neutral"]
    try:
        for k, sample in enumerate(samples[:max_samples]):
            state = sample_state(engine, sample, Identity(code_of[key_of[sample.name]]),
                               SphericalHarmonicsLighting(sample.sh), res, quality)
            f = engine.render(state, neural_resolution=neural_resolution).frame
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
            row.update(_region_psnr(rgb, sample, meta, res))
            if renderer is not None:
                parameters = meta["identity_parameters"][raw_id[sample.name]]
                row.update(_against_engine(engine, renderer, parameters, sample, state, neural_resolution,
                                           presets[k % len(presets)], geometry and k < 4))
                if k < expression_samples:
                    row["by_name"] = _expression_by_name(engine, renderer, parameters, sample, state,
                                                         neural_resolution)
            rows.append(row)
            if progress:
                print(f"  {k + 1}/{len(samples[:max_samples])} {sample.name}: {row['psnr']:.2f} dB", flush=True)
    finally:
        if renderer is not None:
            renderer.release()
    keys = sorted({k for r in rows for k in r if k not in ("name", "by_name")})
    summary = {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}
    result = {"samples": len(rows), "neural_resolution": neural_resolution, "quality": quality,
              "fitted_identities": fitted, "summary": summary, "per_sample": rows}
    by_name_rows = [r.pop("by_name") for r in rows if "by_name" in r]
    if by_name_rows:
        names = engine.cfg.expression_names
        corr = {n: float(np.mean([b[n]["corr"] for b in by_name_rows])) for n in names}
        ratio = {n: float(np.mean([b[n]["pixel_ratio"] for b in by_name_rows])) for n in names}
        summary["expression_change_corr_names_mean"] = float(np.mean(list(corr.values())))
        summary["expression_change_corr_names_min"] = float(min(corr.values()))
        result.update(expression_change_corr_by_name=corr, expression_pixel_ratio_by_name=ratio,
                      expression_samples=len(by_name_rows))
    return result


def _codes_for_unseen(data, key_of, code_of, model, fit_steps, model_path, data_dir, progress):
    """(samples to measure, number of fitted identities); fills code_of for unseen ones."""
    unseen = sorted({key_of[s.name] for s in data.samples} - set(code_of))
    if not unseen:
        return list(data.samples), 0
    if fit_steps <= 0:
        raise ValueError(f"{data_dir}: {len(unseen)} of its identities are not in {model_path}; "
                         f"pass --fit-steps N to fit codes for them")
    from training.identity_fit import IdentityFitConfig, fit_identity_code

    measured = []
    for key in unseen:
        views = [s for s in data.samples if key_of[s.name] == key]
        if len(views) < 2:
            raise ValueError(f"{data_dir}: identity {key} has {len(views)} view(s); fitting needs 2 or more")
        half = len(views) // 2
        code, _ = fit_identity_code(model, views[:half], data.targets, IdentityFitConfig(steps=fit_steps))
        code_of[key] = code
        measured += views[half:]
        if progress:
            print(f"fitted identity {key} on {half} views")
    measured += [s for s in data.samples if key_of[s.name] not in unseen]
    return measured, len(unseen)


def _against_engine(engine, renderer, identity_parameters, sample, state, neural_resolution, expression,
                    with_geometry: bool) -> dict:
    """Figures that need the synthetic engine to render the same head again: relighting
    (three presets), a novel expression (a preset, same view and lighting) and geometry."""
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity

    builder = HeadBuilder(HeadIdentity.from_json(identity_parameters))
    render_truth = engine_view(renderer, builder, sample.camera)
    expression_now = Expression(engine.cfg.expression_names, sample.expression)
    out = {}
    scores = []
    for name in RELIGHT:
        light = SphericalHarmonicsLighting.preset(name)
        truth = render_truth(expression_now, light)
        pred = engine.render(state.with_(lighting=light), neural_resolution=neural_resolution,
                             keep=False).frame.rgb.numpy()
        scores.append(psnr(pred, truth))
    out["relight_psnr"] = float(np.mean(scores))
    # novel expression: PSNR of the new render, and how well the model's change (new - old)
    # matches the engine's change, as a correlation over the pixels (1: the same change)
    lighting = SphericalHarmonicsLighting(sample.sh)
    before = render_truth(expression_now, lighting)
    truth = render_truth(expression, lighting)
    pred_before = engine.render(state, neural_resolution=neural_resolution, keep=False).frame.rgb.numpy()
    pred = engine.render(state.with_(expression=expression), neural_resolution=neural_resolution,
                         keep=False).frame.rgb.numpy()
    out["expression_psnr"] = psnr(pred, truth)
    out["expression_change_corr"] = change_correlation(truth - before, pred - pred_before)
    if with_geometry:
        from core.export.mesh import MeshExportConfig, extract_mesh

        try:
            pred = extract_mesh(engine, state, MeshExportConfig(resolution=128, colors="none", metres=False))
        except ValueError:  # no surface at the iso-level yet (an untrained model)
            out["geometry_missing"] = 1.0
            return out
        gt = builder.build(expression_now).mesh.to_trimesh()
        # compare only the head (the box cuts the model's neck; the engine's neck goes on)
        height = gt.vertices[:, 1].max() - NECK_CUT
        out["chamfer_head_height"] = chamfer(pred, gt, y_min=NECK_CUT) / height
    return out


NECK_CUT = -0.3
MOVED = 10.0 / 255.0  # a pixel "moves" when some channel changes by more than this


def change_correlation(d_true, d_pred) -> float:
    """Cosine of two image changes (1: the same change, 0: unrelated or no change)."""
    d_true, d_pred = np.asarray(d_true).reshape(-1), np.asarray(d_pred).reshape(-1)
    denom = np.linalg.norm(d_true) * np.linalg.norm(d_pred)
    return float(d_true @ d_pred / denom) if denom > 1e-9 else 0.0


def _expression_by_name(engine, renderer, identity_parameters, sample, state, neural_resolution) -> dict:
    """For every name the model knows: that name alone at full strength against the
    neutral face, same view and light, model vs engine: the correlation of the two image
    changes, and the model's moved pixels as a share of the engine's."""
    from training.synth.head_mesh import HeadBuilder
    from training.synth.identity import HeadIdentity

    names = engine.cfg.expression_names
    render_truth = engine_view(renderer, HeadBuilder(HeadIdentity.from_json(identity_parameters)), sample.camera)
    lighting = SphericalHarmonicsLighting(sample.sh)
    neutral = Expression.neutral(names)
    truth0 = render_truth(neutral, lighting)
    pred0 = engine.render(state.with_(expression=neutral), neural_resolution=neural_resolution,
                          keep=False).frame.rgb.numpy()
    out = {}
    for i, name in enumerate(names):
        values = np.zeros(len(names))
        values[i] = 1.0
        ex = Expression(names, values)
        d_true = render_truth(ex, lighting) - truth0
        d_pred = engine.render(state.with_(expression=ex), neural_resolution=neural_resolution,
                               keep=False).frame.rgb.numpy() - pred0
        moved_true = int((np.abs(d_true).max(-1) > MOVED).sum())
        moved_pred = int((np.abs(d_pred).max(-1) > MOVED).sum())
        out[name] = {"corr": change_correlation(d_true, d_pred),
                     "pixel_ratio": moved_pred / max(moved_true, 1)}
    return out


def _region_psnr(rgb, sample, meta, res) -> dict:
    """PSNR over the eyes and brows, and over the mouth (boxes around their landmarks)."""
    from training.data import EYE_REGIONS, MOUTH_REGIONS, face_region_mask

    landmarks = meta.get("landmarks", {}).get(sample.name)
    size = (meta.get("generator") or {}).get("resolution")
    if landmarks is None or not size:
        return {}
    out = {}
    for key, parts in (("eye_psnr", EYE_REGIONS), ("mouth_psnr", MOUTH_REGIONS)):
        mask = face_region_mask(landmarks, size, res, parts)
        if mask is not None and mask.sum() > 0:
            m = mask > 0.5
            out[key] = psnr(rgb[m], sample.image[m])
    return out


def engine_view(renderer, builder, camera):
    """render(expression, lighting) -> RGB over white of one head from one camera, made
    exactly as the dataset writer makes its images (shadowing from the neutral head, the
    mouth cavity shadowed when open)."""
    from training.synth.renderer import expression_transfer

    transfer = renderer.visibility_transfer(builder.build())

    def render(expression, lighting):
        geo = builder.build(expression)
        return renderer.render(geo, camera, lighting, transfer=expression_transfer(transfer, geo)).rgb

    return render


def chamfer(a_mesh, b_mesh, samples: int = 20000, y_min: float = -np.inf) -> float:
    """Symmetric mean nearest-neighbour distance between surface samples of two meshes."""
    from scipy.spatial import cKDTree

    a = np.asarray(a_mesh.sample(samples, seed=0))
    b = np.asarray(b_mesh.sample(samples, seed=1))
    a, b = a[a[:, 1] > y_min], b[b[:, 1] > y_min]
    return float((cKDTree(b).query(a)[0].mean() + cKDTree(a).query(b)[0].mean()) / 2)
