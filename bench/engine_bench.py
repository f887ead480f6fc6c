"""Engine benchmark: preview / refined / naive frames per second at several neural
resolutions, lighting-only update rate, identity and expression change latency, and
image agreement with a dense reference render. Ratios come from one run on one machine.
"""
from __future__ import annotations

import platform
import time
from pathlib import Path

import numpy as np
import torch

from core.engine import QUALITY_LEVELS, InferenceEngine, QualityLevel
from core.lighting import SphericalHarmonicsLighting, rotation_matrix
from core.metrics import psnr
from core.model.head import SamplingPlan
from core.state import OrbitPose

REFERENCE_PLAN = SamplingPlan(naive=True, coarse=192, importance=192)
REFERENCE = QualityLevel("reference", 1.0, REFERENCE_PLAN)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} ({torch.get_num_threads()} threads)"


def _sync(engine):
    if engine.device.type == "cuda":
        torch.cuda.synchronize()


def time_path(engine, state, quality, res, repeats) -> float:
    """Seconds per frame while 'dragging' the camera (each frame a new yaw: no G-buffer hit)."""
    engine.render(state, quality, res)  # warm caches of planes and grid
    times = []
    for i in range(repeats):
        s = state.with_(camera=OrbitPose(yaw=state.camera.yaw + 0.7 * (i + 1), pitch=state.camera.pitch))
        _sync(engine)
        t = time.perf_counter()
        engine.render(s, quality, res)
        _sync(engine)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def ground_truth_render(truth_model, state, res) -> torch.Tensor:
    """Dense render of the model's own fitting target (where the checkpoint has one)."""
    from core.camera import generate_rays

    o, d = generate_rays(state.camera.to_camera(), res, res)
    with torch.no_grad():
        g = truth_model.render_gbuffer(torch.zeros(3, 1, 2, 2), o, d, res, res, REFERENCE_PLAN)
        return truth_model.shade(truth_model.surface(g), state.lighting.as_tensor(), state.render.background).rgb


def run_benchmark(engine: InferenceEngine, resolutions=(32, 64, 128), repeats: int = 5, seed: int = 0,
                  identity=None, truth_model=None, log=print) -> dict:
    """`identity`: whom to render (default: a prior sample); `truth_model`: what that
    identity should look like, to report PSNR against ground truth as well."""
    state = engine.default_state(seed).with_(camera=OrbitPose(yaw=20.0, pitch=5.0))
    if identity is not None:
        state = state.with_(identity=identity)
    rows = []
    for res in resolutions:
        row = {"neural_resolution": res, "output_resolution": res * engine.cfg.superres_factor}
        for quality in ("preview", "refined", "naive"):
            sec = time_path(engine, state, quality, res, repeats if quality != "naive" else max(2, repeats // 2))
            row[f"{quality}_fps"] = 1.0 / sec
            row[f"{quality}_ms"] = sec * 1e3
        # agreement with a dense reference (384 samples per ray) of the same state
        ref_g = engine._render_gbuffer(state, state.expression, res, REFERENCE, {})
        ref = engine.shade(engine.model.surface(ref_g), state).rgb
        truth = ground_truth_render(truth_model, state, res) if truth_model is not None else None
        images = {q: engine.render(state, q, res).frame.rgb for q in ("preview", "naive", "refined")}
        for quality, img in images.items():
            row[f"{quality}_psnr_vs_reference"] = psnr(img, ref)
            if truth is not None:
                row[f"{quality}_psnr_vs_truth"] = psnr(img, truth)
        row["preview_psnr_vs_naive"] = psnr(images["preview"], images["naive"])
        row["preview_speedup_vs_naive"] = row["naive_ms"] / row["preview_ms"]
        row["refined_speedup_vs_naive"] = row["naive_ms"] / row["refined_ms"]
        log(f"  neural {res}: preview {row['preview_fps']:.1f} fps, refined {row['refined_fps']:.1f} fps, "
            f"naive {row['naive_fps']:.2f} fps")
        rows.append(row)

    # lighting-only updates on a cached G-buffer at a 256x256 output
    light_res = 256 // engine.cfg.superres_factor
    engine.render(state, "refined", light_res)
    base = SphericalHarmonicsLighting.preset("studio")
    times = []
    for i in range(max(20, repeats * 4)):
        s = state.with_(lighting=base.rotated(rotation_matrix(yaw_deg=5.0 * (i + 1))))
        _sync(engine)
        t = time.perf_counter()
        r = engine.render(s, "refined", light_res)
        _sync(engine)
        times.append(time.perf_counter() - t)
        assert r.relit_only
    relight_sec = float(np.median(times))

    # identity and expression changes (planes + grid), the cost a slider pays once
    t = time.perf_counter()
    for i in range(3):
        engine.planes_for(engine.sample_identity(1000 + i), state.expression)
    identity_ms = (time.perf_counter() - t) / 3 * 1e3
    t = time.perf_counter()
    names = engine.cfg.expression_names
    for i in range(3):
        ex = state.expression.with_value(names[0], 0.1 * (i + 1))
        engine.planes_for(state.identity, ex)
        engine.density_grid_for(state.identity, ex)
    expression_ms = (time.perf_counter() - t) / 3 * 1e3

    return {
        "device": device_name(engine.device),
        "torch": torch.__version__,
        "model": getattr(engine, "checkpoint_path", "in-memory"),
        "quality_levels": {k: {"resolution_scale": v.resolution_scale, "band_samples": v.plan.band_samples,
                               "naive": v.plan.naive} for k, v in QUALITY_LEVELS.items()},
        "paths": rows,
        "relight_256_ms": relight_sec * 1e3,
        "relight_256_per_s": 1.0 / relight_sec,
        "identity_change_ms": identity_ms,
        "expression_change_ms": expression_ms,
    }


def format_table(result: dict) -> str:
    lines = [f"device: {result['device']}  torch {result['torch']}", f"model: {result['model']}", ""]
    lines.append("neural  out   preview fps  refined fps  naive fps  preview/naive  PSNR vs ref: preview  refined  naive")
    for r in result["paths"]:
        lines.append(
            f"{r['neural_resolution']:>6}  {r['output_resolution']:>4}  {r['preview_fps']:>11.1f}  {r['refined_fps']:>11.1f}"
            f"  {r['naive_fps']:>9.2f}  {r['preview_speedup_vs_naive']:>12.1f}x"
            f"  {r['preview_psnr_vs_reference']:>19.2f}  {r['refined_psnr_vs_reference']:>7.2f}  {r['naive_psnr_vs_reference']:>5.2f}"
        )
    if "preview_psnr_vs_truth" in result["paths"][0]:
        lines.append("")
        lines.append("neural  PSNR vs ground truth: preview  refined  naive   (preview - naive)   PSNR preview vs naive")
        for r in result["paths"]:
            lines.append(f"{r['neural_resolution']:>6}  {r['preview_psnr_vs_truth']:>27.2f}  {r['refined_psnr_vs_truth']:>7.2f}"
                         f"  {r['naive_psnr_vs_truth']:>5.2f}   {r['preview_psnr_vs_truth'] - r['naive_psnr_vs_truth']:>+17.2f}"
                         f"   {r['preview_psnr_vs_naive']:>21.2f}")
    lines.append("")
    lines.append(f"lighting-only update at 256x256: {result['relight_256_per_s']:.0f}/s ({result['relight_256_ms']:.1f} ms)")
    lines.append(f"identity change (planes): {result['identity_change_ms']:.0f} ms; "
                 f"expression change (planes + grid): {result['expression_change_ms']:.0f} ms")
    return "\n".join(lines)
