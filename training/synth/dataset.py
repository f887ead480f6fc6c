"""`avatar-studio synth`: write an EG3D-format dataset of synthetic heads.

Layout of DIR:
    images/IIIII_KK.png        RGB over the sample's background (IIIII_KK_V.png with
                               --expression-variants: V = 0 is the neutral face, the
                               others strong expressions, same head, view, light, background)
    passes/IIIII_KK_<pass>.png albedo, shading, normal, depth (16-bit, ray distance x 10000), alpha
    meshes/IIIII_KK.ply        ground-truth mesh of a sample (with --meshes)
    parts/IIIII.json           labels of one identity, written when it is complete
    parts/generator.json       the generator settings, written when a run starts
    dataset.json               EG3D's {"labels": [[file, 25 floats]]} plus our keys, keyed by file:
                               "sh" (27), "expression" ({name: value}), "landmarks" (68 x [x, y]),
                               "identity" (identity index), "identity_parameters" (per index),
                               "view_group" (IIIII_KK: samples that differ only in expression)
Every sample's randomness comes from (seed, identity, view), so any part can be rewritten
alone and the set is the same whatever the sharding; a killed run resumes by skipping the
identities whose part file exists. A folder whose dataset.json this program did not write,
or whose dataset or interrupted run has other settings, is refused (never overwritten or
mixed).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.fileio import atomic_write_text, read_json, save_png, to_uint8
from core.passes import DEPTH_PNG_SCALE
from training.synth.identity import APPEARANCE_PARAMETERS, SHAPE_PARAMETERS, HeadIdentity

DATASET_FORMAT = "avatar-studio/synthetic-heads"
GENERATOR_FILE = "generator.json"  # in parts/: the settings of the run writing the parts


@dataclass(frozen=True)
class SynthConfig:
    identities: int = 10
    views_per_identity: int = 8
    resolution: int = 128
    seed: int = 0
    expressions: str = "random"     # random | mild | neutral
    lighting: str = "random"        # random | presets
    background: str = "random"      # random | plain | colour | texture
    passes: bool = False
    meshes: bool = False
    yaw_std: float = 25.0
    view_seed: int | None = None    # None: the seed; another value: same identities, new views
    expression_variants: int = 1    # >1: each view rendered neutral + (variants - 1) strong expressions


def generator_settings(cfg: SynthConfig) -> dict:
    return {f.name: getattr(cfg, f.name) for f in fields(cfg)}


def check_output_folder(cfg: SynthConfig, out: Path) -> None:
    """Refuse `out` when writing there would overwrite a dataset.json this program did not
    write, or mix these settings into a dataset or an interrupted run made with others."""
    recorded = []  # (what, settings) of everything already in the folder
    meta_path = out / "dataset.json"
    if meta_path.exists():
        try:
            meta = read_json(meta_path)
        except ValueError as e:
            raise ValueError(f"{e}; use another --out") from None
        if not isinstance(meta, dict) or meta.get("format") != DATASET_FORMAT \
                or not isinstance(meta.get("generator"), dict):
            raise ValueError(f"{meta_path}: not a synthetic dataset written by avatar-studio synth; use another --out")
        recorded.append(("a dataset", meta["generator"]))
    settings_path = out / "parts" / GENERATOR_FILE
    if settings_path.exists():
        try:
            settings = read_json(settings_path)
        except ValueError as e:
            raise ValueError(f"{e}; use another --out") from None
        if not isinstance(settings, dict):
            raise ValueError(f"{settings_path}: not a settings object; use another --out")
        recorded.append(("an interrupted run", settings))
    # parts without a settings file come from a run before the file existed: nothing to compare
    mine = generator_settings(cfg)
    defaults = {f.name: f.default for f in fields(SynthConfig)}
    for what, settings in recorded:
        settings = {**defaults, **settings}  # a setting added since the folder was written has its default
        differing = sorted(k for k in settings.keys() | mine.keys() if settings.get(k) != mine.get(k))
        if differing:
            raise ValueError(f"{out}: holds {what} made with other settings ({', '.join(differing)}); "
                             "use another --out")


def identity_for(cfg: SynthConfig, index: int) -> HeadIdentity:
    return HeadIdentity.sample(cfg.seed * 1_000_003 + index)


def sample_name(index: int, view: int, variant: int | None = None) -> str:
    return f"{index:05d}_{view:02d}" if variant is None else f"{index:05d}_{view:02d}_{variant}"


def render_identity(cfg: SynthConfig, index: int, out: Path, renderer) -> dict:
    """Render every view of one identity; returns its labels (written by the caller)."""
    from training.synth.head_mesh import HeadBuilder
    from training.synth.renderer import expression_transfer
    from training.synth.sampling import (
        sample_background, sample_expression, sample_lighting, sample_pose, sample_strong_expression,
    )

    ident = identity_for(cfg, index)
    builder = HeadBuilder(ident)
    neutral = builder.build()
    transfer = renderer.visibility_transfer(neutral)
    labels = {"labels": [], "sh": {}, "expression": {}, "landmarks": {}, "identity": {}, "view_group": {}}
    for view in range(cfg.views_per_identity):
        view_seed = cfg.seed if cfg.view_seed is None else cfg.view_seed
        rng = np.random.default_rng([view_seed, index, view] if cfg.view_seed is None else [view_seed, index, view, 1])
        pose = sample_pose(rng, yaw_std=cfg.yaw_std)
        light = sample_lighting(rng, cfg.lighting)
        expr = sample_expression(rng, DEFAULT_EXPRESSION_NAMES, cfg.expressions)
        background = sample_background(rng, cfg.resolution, cfg.background)
        camera = pose.to_camera()
        if cfg.expression_variants > 1:
            variants = [(0, Expression.neutral(DEFAULT_EXPRESSION_NAMES))] + [
                (v, sample_strong_expression(rng, DEFAULT_EXPRESSION_NAMES,
                                             (index * cfg.views_per_identity + view) * (cfg.expression_variants - 1) + v - 1))
                for v in range(1, cfg.expression_variants)]
        else:
            variants = [(None, expr)]
        for variant, expr in variants:
            geo = builder.build(expr) if np.any(expr.values) else neutral
            frame = renderer.render(geo, camera, light, background, expression_transfer(transfer, geo))
            name = sample_name(index, view, variant)
            rel = f"images/{name}.png"
            _write_sample(cfg, out, name, frame, geo)
            labels["labels"].append([rel, camera.to_label()])
            labels["sh"][rel] = [float(v) for v in light.coeffs.reshape(-1)]
            labels["expression"][rel] = expr.to_dict()
            labels["landmarks"][rel] = [[float(x), float(y)] for x, y in frame.landmarks]
            labels["identity"][rel] = index
            if variant is not None:
                labels["view_group"][rel] = sample_name(index, view)
    labels["identity_parameters"] = {str(index): ident.to_json()}
    return labels


def _write_sample(cfg: SynthConfig, out: Path, name: str, frame, geo) -> None:
    save_png(out / "images" / f"{name}.png", to_uint8(frame.rgb))
    if cfg.passes:
        a = frame.alpha[..., None]
        save_png(out / "passes" / f"{name}_albedo.png", to_uint8(frame.albedo * a))
        save_png(out / "passes" / f"{name}_shading.png", to_uint8(frame.shading * a))
        save_png(out / "passes" / f"{name}_normal.png", to_uint8((frame.normal * 0.5 + 0.5) * a))
        save_png(out / "passes" / f"{name}_alpha.png", to_uint8(frame.alpha))
        save_png(out / "passes" / f"{name}_depth.png",
                 np.clip(np.round(frame.depth * DEPTH_PNG_SCALE), 0, 65535).astype(np.uint16))
    if cfg.meshes:
        from core.fileio import atomic_write_bytes

        atomic_write_bytes(out / "meshes" / f"{name}.ply", geo.mesh.to_trimesh().export(file_type="ply"))


def write_dataset(cfg: SynthConfig, out, shard: tuple[int, int] = (0, 1), progress: bool = True) -> dict:
    """Write (or resume) the dataset; returns {"written": n, "skipped": n, "seconds": s}."""
    from tqdm import tqdm

    from training.synth.renderer import HeadRenderer

    out = Path(out)
    check_output_folder(cfg, out)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    # recorded before any part, so an interrupted run's settings are known when it resumes
    atomic_write_text(out / "parts" / GENERATOR_FILE, json.dumps(generator_settings(cfg), indent=1))
    mine = [i for i in range(cfg.identities) if i % shard[1] == shard[0]]
    todo = [i for i in mine if not (out / "parts" / f"{i:05d}.json").exists()]
    start = time.time()
    renderer = HeadRenderer(cfg.resolution)
    try:
        per_identity = cfg.views_per_identity * cfg.expression_variants
        bar = tqdm(total=len(todo) * per_identity, unit="img", desc="synth", disable=not progress)
        for i in todo:
            labels = render_identity(cfg, i, out, renderer)
            atomic_write_text(out / "parts" / f"{i:05d}.json", json.dumps(labels))
            bar.update(per_identity)
        bar.close()
    finally:
        renderer.release()
    if all((out / "parts" / f"{i:05d}.json").exists() for i in range(cfg.identities)):
        merge_parts(cfg, out)
    per_identity = cfg.views_per_identity * cfg.expression_variants
    return {"written": len(todo) * per_identity, "skipped": (len(mine) - len(todo)) * per_identity,
            "seconds": time.time() - start}


def merge_parts(cfg: SynthConfig, out: Path) -> None:
    merged = {"labels": [], "sh": {}, "expression": {}, "landmarks": {}, "identity": {}, "identity_parameters": {},
              "view_group": {}}
    for i in range(cfg.identities):
        part = json.loads((out / "parts" / f"{i:05d}.json").read_text())
        merged["labels"] += part["labels"]
        for key in ("sh", "expression", "landmarks", "identity", "identity_parameters", "view_group"):
            merged[key].update(part.get(key, {}))
    if not merged["view_group"]:
        del merged["view_group"]
    merged["format"] = DATASET_FORMAT
    merged["expression_names"] = list(DEFAULT_EXPRESSION_NAMES)
    merged["identity_parameter_names"] = {"shape": list(SHAPE_PARAMETERS), "appearance": list(APPEARANCE_PARAMETERS)}
    merged["generator"] = generator_settings(cfg)
    atomic_write_text(out / "dataset.json", json.dumps(merged))
