"""How well `prepare` and the personal avatar do, measured on the synthetic engine.

    python -m training.prepare_eval video --out runs/own_data          # render the test videos
    avatar-studio prepare --in runs/own_data/talking.mp4 --out runs/own_data/prepared
    python -m training.prepare_eval labels --dir runs/own_data         # camera / SH / expression errors
    python -m training.prepare_eval astronaut --out runs/own_data/astronaut
    avatar-studio train --config training/recipes/personal.json --data runs/own_data/prepared \
        --out runs/own_data/personal
    python -m training.prepare_eval avatar --dir runs/own_data --model runs/own_data/personal/model.safetensors

The test subject is a head the bundled model never saw (the engine's identity of seed
EVAL_SEED; the bundled model was trained on seed 1's heads): a talking head turning
+-35 deg under a key light that travels round it, over a plain wall, filmed with a wider
lens than the training framing (the head fills the middle of a larger frame, so prepare
has to find the crop). `talking.mp4` is what prepare gets; `held_out.mp4` is the same
motion at other moments (never trained on); truth.json holds the engine's per-frame pose,
expression and lighting; `unseen/` holds engine renders of the head with expressions and
lights the video never shows, at the training framing, with their true labels.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch

from core.camera import DEFAULT_FOCAL, Camera, orbit
from core.expression import DEFAULT_EXPRESSION_NAMES, Expression
from core.lighting import SphericalHarmonicsLighting

EVAL_SEED = 7          # the engine's identity seed of the test head (the bundled model used seed 1)
VIDEO_RES = 320        # frame side; the training framing is its middle CROP_RES pixels
CROP_RES = 256
FPS = 12.0
TRAIN_FRAMES = 144
HELD_OUT_FRAMES = 24
WALL = np.array([0.62, 0.66, 0.72])


def eval_identity(seed: int = EVAL_SEED):
    from training.synth.identity import HeadIdentity

    return HeadIdentity.sample(seed * 1_000_003)


def motion(t: float) -> dict:
    """Pose, expression and light of the talking head at time t (seconds): yaw sweeps
    +-35 deg twice a cycle of 12 s, the head nods and tilts a little, the mouth talks,
    brows and smile come and go, and the key light travels from the left to the right."""
    names = DEFAULT_EXPRESSION_NAMES
    w = 2 * math.pi
    yaw = 35.0 * math.sin(w * t / 6.0)
    pitch = 2.0 + 7.0 * math.sin(w * t / 4.3 + 0.5)
    roll = 4.0 * math.sin(w * t / 5.1 + 1.0)
    v = dict.fromkeys(names, 0.0)
    v["jawOpen"] = max(0.0, 0.55 * math.sin(w * t / 0.9)) + max(0.0, 0.25 * math.sin(w * t / 2.3))
    v["mouthFunnel"] = max(0.0, 0.6 * math.sin(w * t / 3.1 + 1.0)) ** 2
    v["mouthPucker"] = max(0.0, 0.7 * math.sin(w * t / 4.7 + 2.0)) ** 2
    smile = max(0.0, 0.8 * math.sin(w * t / 7.0 + 0.3))
    v["mouthSmileLeft"], v["mouthSmileRight"] = smile, smile * 0.9
    v["browInnerUp"] = max(0.0, 0.7 * math.sin(w * t / 5.3 + 2.5))
    down = max(0.0, 0.6 * math.sin(w * t / 6.1 + 4.0))
    v["browDownLeft"], v["browDownRight"] = down, down
    v = {k: float(np.clip(x, 0.0, 1.0)) for k, x in v.items()}
    az = math.radians(-70.0 + 140.0 * (0.5 + 0.5 * math.sin(w * t / 12.0 - math.pi / 2)))
    el = math.radians(25.0 + 15.0 * math.sin(w * t / 8.0))
    key = np.array([math.sin(az) * math.cos(el), math.sin(el), math.cos(az) * math.cos(el)])
    light = SphericalHarmonicsLighting.from_directional(key, (1.0, 0.97, 0.92), intensity=0.8,
                                                        ambient=0.38 + 0.1 * math.sin(w * t / 9.0))
    return {"yaw": yaw, "pitch": pitch, "roll": roll, "expression": v, "sh": light.coeffs.reshape(-1).tolist()}


def video_camera(yaw: float, pitch: float, roll: float) -> Camera:
    """The wider camera of the video: the orbit camera's view, its framing the middle
    CROP_RES / VIDEO_RES of the frame."""
    cam = orbit(yaw, pitch, roll=roll)
    k = cam.intrinsics.copy()
    k[0, 0] = k[1, 1] = DEFAULT_FOCAL * CROP_RES / VIDEO_RES
    return Camera(cam.cam2world, k)


def wall(res: int) -> np.ndarray:
    y = np.linspace(0.0, 1.0, res)[:, None, None]
    return np.broadcast_to(WALL * (1.08 - 0.16 * y), (res, res, 3)).copy()


def render_video(out: Path, frames: int, offset: float, name: str, renderer, builder, transfer) -> list:
    import imageio.v2 as imageio
    from training.synth.renderer import expression_transfer

    from core.fileio import to_uint8

    names = DEFAULT_EXPRESSION_NAMES
    truth = []
    writer = imageio.get_writer(str(out / name), fps=FPS, codec="libx264", quality=9, macro_block_size=16,
                                ffmpeg_log_level="error", pixelformat="yuv420p")
    try:
        bg = wall(VIDEO_RES)
        for i in range(frames):
            t = (i + offset) / FPS
            m = motion(t)
            expr = Expression.from_dict(m["expression"], names)
            geo = builder.build(expr)
            f = renderer.render(geo, video_camera(m["yaw"], m["pitch"], m["roll"]),
                                SphericalHarmonicsLighting(np.asarray(m["sh"])), bg, expression_transfer(transfer, geo))
            writer.append_data(to_uint8(f.rgb))
            truth.append({"frame": i, "time": t, **m})
    finally:
        writer.close()
    return truth


UNSEEN_EXPRESSIONS = ({"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}, {"mouthFrownLeft": 0.9, "mouthFrownRight": 0.9},
                      {"eyeWideLeft": 1.0, "eyeWideRight": 1.0, "browOuterUpLeft": 0.8, "browOuterUpRight": 0.8},
                      {"cheekPuff": 1.0}, {"jawOpen": 0.9, "browInnerUp": 0.9}, {"mouthSmileLeft": 1.0})
UNSEEN_LIGHTS = ("key-left", "key-right", "top", "rim")
UNSEEN_POSES = ((0.0, 0.0), (20.0, 5.0), (-25.0, -3.0))


def cmd_video(args) -> int:
    from training.synth.head_mesh import HeadBuilder
    from training.synth.renderer import HeadRenderer, expression_transfer

    from core.fileio import atomic_write_text, save_png, to_uint8

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    ident = eval_identity(args.seed)
    builder = HeadBuilder(ident)
    t0 = time.time()
    renderer = HeadRenderer(VIDEO_RES)
    try:
        transfer = renderer.visibility_transfer(builder.build())
        train = render_video(out, args.frames, 0.0, "talking.mp4", renderer, builder, transfer)
        held = render_video(out, args.held_out, 0.5, "held_out.mp4", renderer, builder, transfer)
    finally:
        renderer.release()
    # unseen expressions and lights at the training framing, over white (the model's background)
    renderer = HeadRenderer(CROP_RES)
    unseen = {"labels": [], "sh": {}, "expression": {}, "identity": {}}
    try:
        transfer = renderer.visibility_transfer(builder.build())
        k = 0
        for expr_dict in UNSEEN_EXPRESSIONS:
            for j, light_name in enumerate(UNSEEN_LIGHTS[:2]):
                yaw, pitch = UNSEEN_POSES[(k + j) % len(UNSEEN_POSES)]
                light = SphericalHarmonicsLighting.preset(UNSEEN_LIGHTS[(k + j) % len(UNSEEN_LIGHTS)])
                expr = Expression.from_dict(expr_dict, DEFAULT_EXPRESSION_NAMES)
                geo = builder.build(expr)
                cam = orbit(yaw, pitch)
                f = renderer.render(geo, cam, light, None, expression_transfer(transfer, geo))
                rel = f"images/unseen_{k:02d}_{j}.png"
                save_png(out / "unseen" / rel, to_uint8(f.rgb))
                unseen["labels"].append([rel, cam.to_label()])
                unseen["sh"][rel] = light.coeffs.reshape(-1).tolist()
                unseen["expression"][rel] = expr.to_dict()
                unseen["identity"][rel] = 0
            k += 1
    finally:
        renderer.release()
    atomic_write_text(out / "unseen" / "dataset.json", json.dumps(unseen))
    atomic_write_text(out / "truth.json", json.dumps({"identity_seed": args.seed, "identity": ident.to_json(),
                                                      "fps": FPS, "video_res": VIDEO_RES, "crop_res": CROP_RES,
                                                      "talking": train, "held_out": held}, indent=1))
    print(f"rendered {len(train)} + {len(held)} video frames and {len(unseen['labels'])} unseen views "
          f"to {out} in {time.time() - t0:.0f} s")
    return 0


def _angle_between_views(yaw_a, pitch_a, yaw_b, pitch_b) -> float:
    """Degrees between two orbit cameras' viewing directions (the look-at point's rays)."""
    def d(y, p):
        y, p = math.radians(y), math.radians(p)
        return np.array([math.cos(p) * math.sin(y), math.sin(p), math.cos(p) * math.cos(y)])
    return math.degrees(math.acos(float(np.clip(d(yaw_a, pitch_a) @ d(yaw_b, pitch_b), -1.0, 1.0))))


def label_errors(prepared: Path, truth_frames: list) -> dict:
    """prepare's labels against the engine's truth, over the kept (unmirrored) frames:
    camera (viewing direction, yaw, pitch; the head's roll goes into the crop's rotation,
    so the camera itself has none), SH irradiance on the template's normals, expression."""
    from core.fitting.align import _tools
    from core.fitting.sh_estimate import skin_mask, template_normals
    from core.lighting import sh_irradiance
    from core.tracking.pose import orbit_angles_from_rotation

    meta = json.loads((prepared / "dataset.json").read_text())
    template = _tools()[1].template
    names = DEFAULT_EXPRESSION_NAMES
    rows, irr_est, irr_true = [], [], []
    for rel, label in meta["labels"]:
        if rel in meta["mirror_of"]:
            continue
        frame = int(meta["source"][rel][1])
        t = truth_frames[frame]
        cam = Camera.from_label(label)
        est = orbit_angles_from_rotation(cam.cam2world[:3, :3])
        truth_cam = orbit(t["yaw"], t["pitch"])
        # the template's normals that the face shows in this view: the ellipsoid over the skin
        size = CROP_RES
        normals, hit = template_normals(truth_cam, size, template)
        use = hit & skin_mask(np.asarray(meta["landmarks"][rel]), size)
        n = normals[use]
        e_est = sh_irradiance(n, np.asarray(meta["sh"][rel]).reshape(9, 3))
        e_true = sh_irradiance(n, np.asarray(t["sh"]).reshape(9, 3))
        irr_est.append(e_est)
        irr_true.append(e_true)
        ex = np.array([meta["expression"][rel].get(k, 0.0) for k in names])
        ex_true = np.array([t["expression"][k] for k in names])
        rows.append({"frame": frame, "view_deg": _angle_between_views(est.yaw, est.pitch, t["yaw"], t["pitch"]),
                     "yaw_err": est.yaw - t["yaw"], "pitch_err": est.pitch - t["pitch"], "true_yaw": t["yaw"],
                     "sh_rel": float(np.abs(e_est - e_true).mean() / np.abs(e_true).mean()),
                     "expr_abs": np.abs(ex - ex_true).tolist()})
    # the SH estimate assumes a typical skin albedo; the person's own albedo is one unknown
    # colour for the whole video, so the error is also given after one per-channel scale
    est_all, true_all = np.concatenate(irr_est), np.concatenate(irr_true)
    scale = (est_all * true_all).sum(0) / (est_all * est_all).sum(0)
    sh_scaled = [float(np.abs(e * scale - t).mean() / np.abs(t).mean()) for e, t in zip(irr_est, irr_true)]
    expr = np.array([r["expr_abs"] for r in rows])
    moving = [i for i, k in enumerate(names) if max(f["expression"][k] for f in truth_frames) > 0]
    return {
        "frames": len(rows),
        "true_yaw_range": [float(min(r["true_yaw"] for r in rows)), float(max(r["true_yaw"] for r in rows))],
        "camera_view_deg_median": float(np.median([r["view_deg"] for r in rows])),
        "camera_view_deg_p90": float(np.percentile([r["view_deg"] for r in rows], 90)),
        "yaw_abs_err_median": float(np.median([abs(r["yaw_err"]) for r in rows])),
        "pitch_abs_err_median": float(np.median([abs(r["pitch_err"]) for r in rows])),
        "sh_irradiance_rel_err_median": float(np.median([r["sh_rel"] for r in rows])),
        "sh_irradiance_rel_err_mean": float(np.mean([r["sh_rel"] for r in rows])),
        "sh_irradiance_rel_err_after_albedo_scale_median": float(np.median(sh_scaled)),
        "sh_albedo_scale": scale.tolist(),
        "expression_mae": float(expr.mean()),
        "expression_mae_moving_names": float(expr[:, moving].mean()),
        "expression_mae_by_name": {k: float(expr[:, i].mean()) for i, k in enumerate(names)},
    }


def cmd_labels(args) -> int:
    root = Path(args.dir)
    truth = json.loads((root / "truth.json").read_text())
    result = label_errors(root / "prepared", truth["talking"])
    result["prepare_report"] = json.loads((root / "prepared" / "report.json").read_text())
    _save(root / "labels_eval.json", result)
    print(json.dumps({k: v for k, v in result.items() if k not in ("expression_mae_by_name", "prepare_report")},
                     indent=1))
    return 0


def cmd_astronaut(args) -> int:
    """skimage's astronaut photo: one sample, near frontal, default radius, an SH label,
    and the mirrored copy with the mirrored yaw."""
    import imageio.v2 as imageio
    from skimage.data import astronaut

    from core.dataprep.prepare import prepare
    from core.tracking.pose import orbit_angles_from_rotation

    out = Path(args.out)
    (out / "in").mkdir(parents=True, exist_ok=True)
    imageio.imwrite(out / "in" / "astronaut.png", astronaut())
    report = prepare([out / "in" / "astronaut.png"], out / "prepared")
    meta = json.loads((out / "prepared" / "dataset.json").read_text())
    rows = {}
    for rel, label in meta["labels"]:
        cam = Camera.from_label(label)
        pose = orbit_angles_from_rotation(cam.cam2world[:3, :3])
        rows[rel] = {"yaw": pose.yaw, "pitch": pose.pitch, "radius": float(np.linalg.norm(cam.origin)),
                     "sh_L00_rgb": meta["sh"][rel][:3], "mirror_of": meta["mirror_of"].get(rel)}
    result = {"kept_frames": report["kept_frames"], "samples": report["samples"], "per_sample": rows}
    _save(out / "astronaut_eval.json", result)
    print(json.dumps(result, indent=1))
    return 0


def _save(path: Path, data) -> None:
    from core.fileio import atomic_write_text

    atomic_write_text(path, json.dumps(data, indent=1))


def _model_images(engine, identity, samples, res, light_scale=(1.0, 1.0, 1.0)):
    from training.evaluate import sample_state

    out = []
    for s in samples:
        sh = np.asarray(s.sh) * np.asarray(light_scale)[None, :]
        state = sample_state(engine, s, identity, SphericalHarmonicsLighting(sh), res)
        out.append(engine.render(state, neural_resolution=res // engine.cfg.superres_factor, keep=False).frame)
    return out


def _corrected_render(model, code, sample, nr, correction, expression, light_scale=None, gain=None,
                      sh=None) -> np.ndarray:
    """The model's refined-quality render of a sample with a camera correction, an
    expression, (optionally) another SH and a brightness gain, over white: (S, S, 3)."""
    from core.model.head import SamplingPlan
    from training.losses import render_sample
    from training.view_refine import LabelledView

    with torch.no_grad():
        s = LabelledView(sample, torch.as_tensor(expression, dtype=torch.float32),
                         torch.as_tensor(sample.sh if sh is None else sh, dtype=torch.float32))
        scale = torch.as_tensor(light_scale, dtype=torch.float32) if light_scale is not None else None
        g, _, frame = render_sample(model, code, s, nr, SamplingPlan(band_samples=32, grid_lookups=64), None, None,
                                    sh_scale=scale, camera_correction=torch.as_tensor(correction))
        rgb = frame.rgb if gain is None else frame.rgb * torch.as_tensor(gain)
        return (rgb + (1 - g.alpha[..., None])).clamp(0, 1).numpy()


def _load_avatar(model_path, root: Path):
    """The personal avatar and the held-out frames it is judged on: (engine, identity,
    neural resolution, unmirrored held-out samples, the learnt light scale)."""
    from core.engine import InferenceEngine
    from core.identity import Identity
    from training.data import HeadDataset

    engine = InferenceEngine.from_checkpoint(model_path, "cpu")
    identity = Identity(np.asarray(engine.provenance["identity_codes"][0]))
    held = HeadDataset(root / "held_out_prepared", CROP_RES, engine.cfg.expression_names)
    originals = [s for s in held.samples if not s.name.endswith("_mirror.png")]
    # prepare's SH labels carry the brightness prepare assumed; the fine-tune learnt the scale
    # that makes them this person's light (1 where it was not learnt)
    light_scale = engine.provenance.get("light_scale") or [1.0, 1.0, 1.0]
    return engine, identity, CROP_RES // engine.cfg.superres_factor, originals, light_scale


def _refined_held_out(model, code, sample, nr, steps, light_scale):
    """One held-out frame's camera, expression and light refined against it with the avatar
    frozen (test-time refinement, as NeRF evaluations on estimated poses do): (the render
    over white, the frame over white inside prepare's mask, the camera correction)."""
    from training.view_refine import refine_view

    corr, ex, sh, _, _ = refine_view(model, code, sample, nr, steps=steps, light_scale=light_scale)
    rgb = _corrected_render(model, code, sample, nr, corr, ex, light_scale, sh=sh)
    a = sample.alpha[..., None]
    return rgb, sample.image * a + (1 - a), corr


def cmd_avatar(args) -> int:
    """The personal avatar: held-out frames of the video (prepared like the training
    frames, compared over white inside prepare's mask), unseen expressions and lights of
    the same head (the engine's renders with their true labels), and the change each
    expression name makes against the engine's (training/evaluate.py)."""
    from core.metrics import psnr
    from training.data import HeadDataset
    from training.evaluate import _expression_by_name, sample_state
    from training.synth.renderer import HeadRenderer
    from training.view_refine import align_frame

    root = Path(args.dir)
    truth = json.loads((root / "truth.json").read_text())
    engine, identity, nr, originals, light_scale = _load_avatar(args.model, root)
    res = CROP_RES
    result = {"model": str(args.model), "train_config": engine.provenance.get("train_config")}
    # the unseen views below use the engine's true light, unscaled
    result["light_scale"] = light_scale
    values = []
    for s, f in zip(originals, _model_images(engine, identity, originals, res, light_scale)):
        a = s.alpha[..., None]
        values.append(psnr(f.rgb.numpy(), s.image * a + (1 - a)))
    result["held_out_frames"] = len(values)
    result["held_out_psnr"] = float(np.mean(values))
    result["held_out_psnr_each"] = [float(v) for v in values]
    model, code = engine.model, torch.as_tensor(identity.latent, dtype=torch.float32)
    if args.refine_steps:
        # test-time refinement: prepare's camera (2-3 deg off) and expression of each held-out
        # frame fitted to it with the avatar frozen
        values, corrections = [], []
        for s in originals:
            rgb, target, corr = _refined_held_out(model, code, s, nr, args.refine_steps, light_scale)
            values.append(psnr(rgb, target))
            corrections.append([float(np.degrees(np.linalg.norm(corr[:3].numpy()))), float(corr[3])])
        result["held_out_refine_steps"] = args.refine_steps
        result["held_out_psnr_refined"] = float(np.mean(values))
        result["held_out_psnr_refined_each"] = [float(v) for v in values]
        result["held_out_refined_camera_deg_median"] = float(np.median([c[0] for c in corrections]))
    unseen = HeadDataset(root / "unseen", res, engine.cfg.expression_names)
    values = [psnr(f.rgb.numpy(), s.image) for s, f in zip(unseen.samples, _model_images(engine, identity,
                                                                                          unseen.samples, res))]
    result["unseen_views"] = len(values)
    result["unseen_psnr"] = float(np.mean(values))
    result["unseen_psnr_each"] = [float(v) for v in values]
    if args.refine_steps:
        # the avatar's frame and brightness against the engine's: one camera correction and one
        # per-channel gain for all the unseen views (the video cannot tell albedo from light)
        corr, gain = align_frame(model, code, unseen.samples, nr, steps=5 * args.refine_steps)
        values = []
        for s in unseen.samples:
            rgb = _corrected_render(model, code, s, nr, corr, s.expression, None, gain)
            values.append(psnr(rgb, s.image))
        result["unseen_alignment"] = {"rotation_deg": float(np.degrees(np.linalg.norm(corr[:3].numpy()))),
                                      "log_focal_scale": float(corr[3]), "gain": gain.tolist()}
        result["unseen_psnr_aligned"] = float(np.mean(values))
        result["unseen_psnr_aligned_each"] = [float(v) for v in values]
    renderer = HeadRenderer(res)
    try:
        rows = []
        for s in unseen.samples[: args.expression_samples]:
            state = sample_state(engine, s, identity, SphericalHarmonicsLighting(s.sh), res)
            rows.append(_expression_by_name(engine, renderer, truth["identity"], s, state, nr))
    finally:
        renderer.release()
    names = engine.cfg.expression_names
    corr = {n: float(np.mean([r[n]["corr"] for r in rows])) for n in names}
    result["expression_change_corr_by_name"] = corr
    result["expression_change_corr_mean"] = float(np.mean(list(corr.values())))
    if args.baseline:
        result["baseline"] = args.baseline
    _save(Path(args.json), result)
    print(json.dumps({k: v for k, v in result.items() if k != "train_config"}, indent=1))
    return 0


def cmd_figure(args) -> int:
    """Held-out frames beside the personal avatar's render of them (refined as in
    `avatar`) and the error x4, one row per frame; the last column is prepare's mask."""
    from core.fileio import save_png, to_uint8
    from core.metrics import psnr

    engine, identity, nr, originals, light_scale = _load_avatar(args.model, Path(args.dir))
    model, code = engine.model, torch.as_tensor(identity.latent, dtype=torch.float32)
    rows = []
    for i in args.frames:
        s = originals[i]
        rgb, target, _ = _refined_held_out(model, code, s, nr, args.refine_steps, light_scale)
        err = np.clip(np.abs(rgb - target).mean(-1, keepdims=True) * 4, 0, 1).repeat(3, -1)
        rows.append(np.concatenate([target, rgb, err, np.repeat(s.alpha[..., None], 3, -1)], 1))
        print(f"held-out frame {i} ({s.name}): {psnr(rgb, target):.2f} dB")
    save_png(Path(args.out), to_uint8(np.concatenate(rows, 0)))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("video", help="render the synthetic test videos and their truth")
    v.add_argument("--out", required=True)
    v.add_argument("--frames", type=int, default=TRAIN_FRAMES)
    v.add_argument("--held-out", type=int, default=HELD_OUT_FRAMES)
    v.add_argument("--seed", type=int, default=EVAL_SEED,
                   help=f"the engine's identity seed of the head (default {EVAL_SEED}; another one validates)")
    lb = sub.add_parser("labels", help="prepare's labels against the truth (DIR/prepared from talking.mp4)")
    lb.add_argument("--dir", required=True)
    a = sub.add_parser("astronaut", help="prepare on skimage's astronaut photo")
    a.add_argument("--out", required=True)
    m = sub.add_parser("avatar", help="the personal avatar on held-out frames, unseen expressions and lights")
    m.add_argument("--dir", required=True)
    m.add_argument("--model", required=True)
    m.add_argument("--json", required=True)
    m.add_argument("--expression-samples", type=int, default=3)
    m.add_argument("--baseline", help="a note stored with the result")
    m.add_argument("--refine-steps", type=int, default=40,
                   help="test-time refinement steps per held-out frame (0: labels as prepared only)")
    f = sub.add_parser("figure", help="held-out frames beside the personal avatar's renders")
    f.add_argument("--dir", required=True)
    f.add_argument("--model", required=True)
    f.add_argument("--out", required=True)
    f.add_argument("--frames", type=lambda t: [int(v) for v in t.split(",")], default=[16, 4, 10])
    f.add_argument("--refine-steps", type=int, default=40)
    args = ap.parse_args(argv)
    return {"video": cmd_video, "labels": cmd_labels, "astronaut": cmd_astronaut, "avatar": cmd_avatar,
            "figure": cmd_figure}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
