"""Measure photo fitting on held-out synthetic heads (issue 13's "Done when").

Heads come from the synthetic engine with `--seed 2` identities (training used seed 1):
HeadIdentity.sample(2 * 1_000_003 + i), a random near-frontal view, random lighting and
a random expression (training/synth/sampling.py). For each: the photo is the engine's
render over white; the fit is measured on the re-render of the input view, on views at
yaw +-30 deg against the engine's truth (same expression and lighting), and relit under
a preset the photo was not lit by, against the engine relit. Then the astronaut photo
(skimage.data.astronaut): dlib face-embedding distances of the fit rendered frontal and
at yaw +-20 deg, and the docs figure.

    .venv/bin/python -m training.fit_eval --heads 8 --json runs/fit_eval.json
    .venv/bin/python -m training.fit_eval --astronaut --figure docs/photo-fitting.png
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass

import numpy as np

from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.lighting import SphericalHarmonicsLighting
from core.state import OrbitPose

HELD_OUT_SEED = 2
RELIGHT_PRESET = ("key-left", "key-right")
NOVEL_YAWS = (-30.0, 30.0)


@dataclass
class SyntheticPhoto:
    image: np.ndarray           # (S, S, 3) over white
    camera: OrbitPose
    lighting: SphericalHarmonicsLighting
    expression: Expression
    render: object              # render(camera OrbitPose, expression, lighting) -> (S, S, 3) over white


class HeldOutHeads:
    """Engine heads never trained on, rendered at one resolution (one GL context)."""

    def __init__(self, resolution: int = 256, seed: int = HELD_OUT_SEED):
        from training.synth.renderer import HeadRenderer

        self.resolution = resolution
        self.seed = seed
        self.renderer = HeadRenderer(resolution)

    def head(self, index: int, max_yaw: float = 20.0, expressions: str = "random") -> SyntheticPhoto:
        from training.synth.head_mesh import HeadBuilder
        from training.synth.identity import HeadIdentity
        from training.synth.renderer import expression_transfer
        from training.synth.sampling import sample_expression, sample_lighting

        ident = HeadIdentity.sample(self.seed * 1_000_003 + index)
        builder = HeadBuilder(ident)
        transfer = self.renderer.visibility_transfer(builder.build())
        rng = np.random.default_rng([self.seed, index, 13])
        camera = OrbitPose(yaw=float(rng.uniform(-max_yaw, max_yaw)), pitch=float(np.clip(rng.normal(2, 5), -12, 15)))
        lighting = sample_lighting(rng, "random")
        expression = sample_expression(rng, DEFAULT_EXPRESSION_NAMES, expressions)
        white = np.ones((self.resolution, self.resolution, 3))

        def render(cam: OrbitPose, expr: Expression, light: SphericalHarmonicsLighting) -> np.ndarray:
            geo = builder.build(expr)
            return self.renderer.render(geo, cam.to_camera(), light, white,
                                        expression_transfer(transfer, geo)).rgb.astype(np.float32)

        return SyntheticPhoto(render(camera, expression, lighting), camera, lighting, expression, render)

    def release(self):
        self.renderer.release()


# -- measuring ------------------------------------------------------------------------------------
def _to_photo_frame(render: np.ndarray, transform: np.ndarray, size: int) -> np.ndarray:
    """A render in the crop's frame warped back into the photo's (white outside)."""
    import cv2

    m = np.vstack([transform, [0, 0, 1]])
    inv = np.linalg.inv(m)[:2]
    shift = inv[:, :2] @ np.array([0.5, 0.5]) - 0.5
    inv_c = inv.copy()
    inv_c[:, 2] = inv[:, 2] + shift
    return cv2.warpAffine(render.astype(np.float32), inv_c, (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(1.0, 1.0, 1.0))


def fitted_engine(model_path, result, device="cpu"):
    """An InferenceEngine whose model carries the fit's tuned weights (if any)."""
    import torch

    from core.engine import InferenceEngine

    engine = InferenceEngine.from_checkpoint(model_path, device)
    params = dict(engine.model.named_parameters())
    with torch.no_grad():
        for n, d in result.weight_delta.items():
            params[n].add_(d.to(params[n].device))
    engine.clear_caches()
    return engine


def measure_head(engine, photo: SyntheticPhoto, face, result, size: int) -> dict:
    """PSNR of the input view (in the crop's frame, against the crop of the photo), of the
    views at yaw -30 and +30 and of the input view relit under two presets (both in the
    photo's frame, against the engine's truth)."""
    from core.metrics import psnr

    state = result.state(size)
    out = {}
    render = engine.render(state).frame.rgb.numpy()
    out["input_psnr"] = psnr(render, face.image)
    out["input_psnr_photo_frame"] = psnr(_to_photo_frame(render, face.transform, size), photo.image)
    scores = []
    for yaw in NOVEL_YAWS:
        turn = yaw - photo.camera.yaw
        cam = OrbitPose(yaw=state.camera.yaw + turn, pitch=state.camera.pitch, roll=state.camera.roll,
                        fov=state.camera.fov, look_at=state.camera.look_at)
        pred = _to_photo_frame(engine.render(state.with_(camera=cam)).frame.rgb.numpy(), face.transform, size)
        truth = photo.render(OrbitPose(yaw=yaw, pitch=photo.camera.pitch), photo.expression, photo.lighting)
        scores.append(psnr(pred, truth))
        out[f"yaw{yaw:+.0f}_psnr"] = scores[-1]
    out["novel_view_psnr"] = float(np.mean(scores))
    scores = []
    for name in RELIGHT_PRESET:
        light = SphericalHarmonicsLighting.preset(name)
        pred = _to_photo_frame(engine.render(state.with_(lighting=light)).frame.rgb.numpy(), face.transform, size)
        truth = photo.render(photo.camera, photo.expression, light)
        scores.append(psnr(pred, truth))
    out["relight_psnr"] = float(np.mean(scores))
    return out


def evaluate_heads(model_path, heads: int, settings, pti_steps: int, size: int = 256, progress: bool = True,
                   seed: int = HELD_OUT_SEED, first: int = 0, partial_json=None) -> dict:
    """Fit `heads` held-out engine heads without tuning, then tune each fit for
    `pti_steps`; measure both."""
    import torch

    from core.checkpoint import load_checkpoint
    from core.fitting.align import align_photo
    from core.fitting.fit import fit_photo, training_codes

    model, provenance = load_checkpoint(model_path)
    codes = training_codes(provenance)
    source = HeldOutHeads(size, seed)
    rows = []
    try:
        for i in range(first, first + heads):
            photo = source.head(i)
            t = time.perf_counter()
            face = align_photo(photo.image, size, model.cfg.expression_names)
            align_s = time.perf_counter() - t
            plain = fit_photo(model, face, settings, training_codes=codes)
            row = {"head": i, "yaw": photo.camera.yaw, "pitch": photo.camera.pitch,
                   "fitted_yaw": plain.camera.yaw, "align_s": align_s, "fit_s": plain.seconds,
                   "steps": plain.steps_done, "start": plain.start}
            row["no_pti"] = measure_head(fitted_engine(model_path, plain), photo, face, plain, size)
            if pti_steps:
                from dataclasses import replace

                tuned = fit_photo(model, face, replace(settings, steps=0, pti_steps=pti_steps), start_from=plain)
                row["pti_s"] = tuned.seconds
                row["pti"] = measure_head(fitted_engine(model_path, tuned), photo, face, tuned, size)
            rows.append(row)
            if progress:
                msg = " ".join(f"{k}={v:.2f}" for k, v in row["no_pti"].items())
                msg2 = " ".join(f"{k}={v:.2f}" for k, v in row.get("pti", {}).items())
                print(f"head {i}: fit {plain.seconds:.0f}s | no PTI {msg} | PTI {msg2}", flush=True)
            if partial_json:
                from core.fileio import atomic_write_text

                atomic_write_text(partial_json, json.dumps(_summarise(rows, model_path, settings, pti_steps),
                                                           indent=1, default=float))
    finally:
        source.release()
    return _summarise(rows, model_path, settings, pti_steps)


def _summarise(rows, model_path, settings, pti_steps) -> dict:
    summary = {}
    for kind in ("no_pti", "pti"):
        keys = sorted({k for r in rows if kind in r for k in r[kind]})
        summary[kind] = {k: float(np.mean([r[kind][k] for r in rows if kind in r])) for k in keys}
    summary["fit_s"] = float(np.mean([r["fit_s"] for r in rows]))
    summary["steps_per_s"] = float(np.mean([r["steps"] / r["fit_s"] for r in rows]))
    if pti_steps:
        summary["pti_s"] = float(np.mean([r["pti_s"] for r in rows]))
    return {"heads": len(rows), "model": str(model_path), "settings": settings.__dict__, "pti_steps": pti_steps,
            "summary": summary, "per_head": rows}


# -- the astronaut -----------------------------------------------------------------------------------
class FaceEmbedder:
    """dlib's face-recognition embedding (128-d; same person below 0.6), from the models
    in face-recognition-models (no download)."""

    def __init__(self):
        import dlib

        from core.tracking.landmarks import DlibFaceLandmarks, dlib_model_path

        self.dlib = dlib
        self.faces = DlibFaceLandmarks()
        self.net = dlib.face_recognition_model_v1(str(dlib_model_path("dlib_face_recognition_resnet_model_v1.dat")))

    def __call__(self, image: np.ndarray):
        from core.tracking.landmarks import to_gray

        img8 = (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8) if image.dtype != np.uint8 else image
        gray = to_gray(img8)
        boxes = self.faces.detect(gray)
        if not boxes:
            return None
        box = max(boxes, key=lambda b: b.area())
        rect = self.dlib.rectangle(int(round(box.left)), int(round(box.top)), int(round(box.right)) - 1,
                                   int(round(box.bottom)) - 1)
        shape = self.faces.predictor(np.ascontiguousarray(img8), rect)
        return np.asarray(self.net.compute_face_descriptor(np.ascontiguousarray(img8), shape, 1))


def astronaut(model_path, settings, pti_steps: int, figure=None, size: int = 256, progress: bool = True) -> dict:
    import skimage.data

    from core.checkpoint import load_checkpoint
    from core.expression import load_expression_presets
    from core.fitting.align import align_photo
    from core.fitting.fit import fit_photo, training_codes

    photo = skimage.data.astronaut()
    model, provenance = load_checkpoint(model_path)
    t = time.perf_counter()
    face = align_photo(photo, size, model.cfg.expression_names)
    align_s = time.perf_counter() - t
    embed = FaceEmbedder()
    ref = embed(photo)
    out = {"align_s": align_s, "photo_camera": face.camera.to_json()}
    fits = {"no_pti": fit_photo(model, face, settings, training_codes=training_codes(provenance))}
    if pti_steps:
        from dataclasses import replace

        fits["pti"] = fit_photo(model, face, replace(settings, steps=0, pti_steps=pti_steps), start_from=fits["no_pti"])
    engines = {}
    for kind, result in fits.items():
        engine = fitted_engine(model_path, result)
        engines[kind] = engine
        state = result.state(size)
        row = {"fit_s": result.seconds, "steps": result.steps_done + result.pti_steps_done}
        for yaw in (0.0, -20.0, 20.0):
            cam = OrbitPose(yaw=yaw, pitch=state.camera.pitch, fov=state.camera.fov, look_at=state.camera.look_at)
            img = engine.render(state.with_(camera=cam)).frame.rgb.numpy()
            e = embed(img)
            row[f"distance_yaw{yaw:+.0f}"] = None if e is None or ref is None else float(np.linalg.norm(e - ref))
        row["distance_input_view"] = None
        e = embed(engine.render(state).frame.rgb.numpy())
        if e is not None and ref is not None:
            row["distance_input_view"] = float(np.linalg.norm(e - ref))
        out[kind] = row
        if progress:
            print(kind, {k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    if figure:
        kind = "pti" if "pti" in fits else "no_pti"
        presets = load_expression_presets(model.cfg.expression_names)
        write_figure(figure, face, fits[kind], engines[kind], presets, size)
    return out


def write_figure(path, face, result, engine, presets: dict, size: int):
    """photo | fit | two novel views | two relit | two expressions, labelled."""
    import cv2

    from core.fileio import save_png, to_uint8

    state = result.state(size)
    neutral = Expression.neutral(state.expression.names)
    cam = state.camera
    tiles = [("photo (aligned)", face.image), ("fit", engine.render(state).frame.rgb.numpy())]
    for turn in (-25.0, 25.0):
        c = OrbitPose(yaw=cam.yaw + turn, pitch=cam.pitch, fov=cam.fov, look_at=cam.look_at)
        tiles.append((f"yaw {turn:+.0f}", engine.render(state.with_(camera=c)).frame.rgb.numpy()))
    for name in ("key-left", "top"):
        tiles.append((f"relit: {name}", engine.render(state.with_(lighting=SphericalHarmonicsLighting.preset(name)))
                      .frame.rgb.numpy()))
    for name in ("smile", "surprise"):
        ex = presets.get(name)
        if ex is None:
            ex = neutral.with_value(neutral.names[0], 0.7)
        tiles.append((name, engine.render(state.with_(expression=ex)).frame.rgb.numpy()))
    row = []
    for label, img in tiles:
        t = to_uint8(img).copy()
        cv2.putText(t, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 2, cv2.LINE_AA)
        cv2.putText(t, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        row.append(t)
    save_png(path, np.concatenate(row, 1))


def main(argv=None) -> int:
    from core.checkpoint import DEFAULT_MODEL
    from core.fileio import atomic_write_text
    from core.fitting.fit import PRESETS

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--heads", type=int, default=8)
    ap.add_argument("--first", type=int, default=0, help="index of the first held-out head")
    ap.add_argument("--preset", default="default", choices=sorted(PRESETS))
    ap.add_argument("--steps", type=int, help="override the preset's fit steps")
    ap.add_argument("--pti-steps", type=int, help="override the preset's tuning steps")
    ap.add_argument("--astronaut", action="store_true", help="the astronaut photo instead of the engine heads")
    ap.add_argument("--sr-lr-factor", type=float, help="the super-resolution's tuning rate x lr_pti")
    ap.add_argument("--pti-superres", action=argparse.BooleanOptionalAction, default=None,
                    help="tuning also moves the super-resolution (default: the preset's, on)")
    ap.add_argument("--figure", help="PNG of the astronaut's fit (with --astronaut)")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)
    settings = PRESETS[args.preset]
    from dataclasses import replace

    pti = settings.pti_steps if args.pti_steps is None else args.pti_steps
    settings = replace(settings, steps=settings.steps if args.steps is None else args.steps, pti_steps=0,
                       pti_superres=settings.pti_superres if args.pti_superres is None else args.pti_superres)
    if args.sr_lr_factor is not None:
        settings = replace(settings, pti_superres_lr_factor=args.sr_lr_factor)
    if args.astronaut:
        result = astronaut(args.model, settings, pti, args.figure)
    else:
        result = evaluate_heads(args.model, args.heads, settings, pti, first=args.first, partial_json=args.json)
        for kind, values in result["summary"].items():
            print(kind, values if not isinstance(values, dict) else {k: round(v, 2) for k, v in values.items()})
    if args.json:
        atomic_write_text(args.json, json.dumps(result, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
